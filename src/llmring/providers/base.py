"""The adapter seam: what a provider adapter receives, the events it yields, and the stream
loop every adapter shares.

An adapter turns one provider's native stream into a handful of normalised events. It only
translates: accumulation (text, tool-call fragments by index, usage), the terminal chunk,
timeouts, fallback and cleanup happen once, in the shared assembler and the facade's stream
wrapper. The stream loop itself is written once too, here, in :meth:`ProviderAdapter.stream`:
client lifetime, error mapping, framing (SSE or NDJSON), the end marker, reading the body to
its end for connection reuse, in-band errors and closing the response. A vendor package
supplies only what differs (see docs/providers.md, "The adapter seam"):

* ``_open(payload, model)``: an async context manager that sends the request with the SDK
  and yields the response body's bytes (every SDK quirk lives there), and ``_connect()``/
  ``_disconnect(client)`` for its SDK client;
* a :class:`Translator` class (frames → events, the end marker, in-band errors);
* ``_payload(request, model)``: the request body;
* ``map_error``: its SDK's exceptions → llmring's error tree;
* a ``ProviderSpec`` in its package ``__init__`` (``llmring.providers._spec``).

The event vocabulary and ``ProviderConfig`` live in ``_seam`` (re-exported here); see its
docstring for the events. ``StreamEnd`` is yielded by this base only.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from typing_extensions import TypeVar as DefaultTypeVar

from llmring.exceptions import LLMRingError, ProviderError
from llmring.providers import _seam
from llmring.providers._drain import drain
from llmring.providers._errors import mapped_errors
from llmring.providers._framing import FrameError, Framer, SSEDecoder

# The vocabulary and ProviderConfig are defined in _seam, which the facade loads without this
# module's stream machinery, and re-exported here, where adapters take them from.
from llmring.providers._seam import *
from llmring.providers._seam import ProviderConfig, StreamEnd, StreamEvent
from llmring.schemas import LLMRequest

__all__ = ["KEYLESS", "FrameError", "ProviderAdapter", "Translator", "TranslatorBase"]
__all__ += _seam.__all__


#: the key sent to a keyless endpoint (a local server, a proxy: a lockfile ``[providers.x]``
#: with no ``api_key_env``). Each SDK insists on one, and without an explicit key some go
#: looking for credentials of their own (profiles on disk, workload identity); llmring's keys
#: come from the environment variables the registry or the lockfile names, and nowhere else.
KEYLESS = "no-key"

FrameT_contra = TypeVar("FrameT_contra", contravariant=True)
#: the adapter's SDK client (``Any`` for an adapter without one, such as the mock)
ClientT = DefaultTypeVar("ClientT", default=Any)

ErrorMapper = Callable[..., "ProviderError | None"]


class Translator(Protocol[FrameT_contra]):
    """Turns the frames of one stream into events; one instance per stream, so it may keep
    state (tool-call indexes, the model reported once...).

    ``ended`` is set by the frame that closes the stream: the provider's end marker (the base
    then reads the rest of the body, for connection reuse, and yields ``StreamEnd``), or an
    in-band error. For an in-band error the translator also sets ``error``; the base yields
    the frame's events first (an error chunk may carry usage), then raises it.

    A frame that is not what the provider's API documents raises ``FrameError`` (a message
    naming the field, never its value); the base turns any other exception raised while
    translating into one, and reports it as a ``ProviderResponseError``.
    """

    ended: bool
    error: ProviderError | None

    def __init__(self, provider: str, model: str) -> None: ...

    def translate(self, frame: FrameT_contra) -> list[StreamEvent]:
        """The events of one frame (an SSE event, or one NDJSON line)."""
        ...

    def finish(self) -> list[StreamEvent]:
        """The body ended before ``ended`` was set: the events that completes, if any.

        A provider without an end marker (Gemini: the body ends after the chunk carrying
        ``finishReason``) sets ``ended`` here; otherwise the stream was cut.
        """
        ...


class TranslatorBase:
    """What every translator starts with: whom it translates for (``provider``, ``model``, for
    its errors) and the two flags the base reads. Subclasses add their own state; one whose
    provider has an end marker needs no :meth:`finish` of its own."""

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self.ended = False
        self.error: ProviderError | None = None

    @property
    def where(self) -> dict[str, Any]:
        """``provider`` and ``model``, as error constructors take them."""
        return {"provider": self.provider, "model": self.model}

    def finish(self) -> list[StreamEvent]:
        return []  # the body ended before the end marker: the stream was cut


_END = StreamEnd()


def _closing(translator: Translator[Any]) -> list[StreamEvent]:
    """After the last frame: what the body's end completes (``finish()``, when no frame ended
    the stream), then ``StreamEnd`` once the stream has ended; an in-band error raises."""
    events = [] if translator.ended else translator.finish()
    if translator.error is not None:
        raise translator.error
    if translator.ended:
        events.append(_END)
    return events


def unreadable(exc: Exception) -> FrameError:
    """What a translator's unexpected failure says about the frame, without its values.

    Only messages that name positions or types are kept: JSON syntax errors, the decoder's
    other ``ValueError``s (invalid UTF-8, a number of more than 4,300 digits), and
    ``AttributeError``/``TypeError`` (``'NoneType' object has no attribute 'get'``). Others
    (a ``KeyError`` holds the key it missed) are told by their type alone.
    """
    import json  # on the error path only: the facade loads this module before any stream

    name = type(exc).__name__
    if isinstance(exc, json.JSONDecodeError):
        return FrameError(f"malformed JSON in the stream: {exc}")
    if isinstance(exc, ValueError):
        return FrameError(f"undecodable data in the stream ({name}: {str(exc)[:200]})")
    if isinstance(exc, (AttributeError, TypeError)):
        return FrameError(f"a stream frame of an unexpected shape ({name}: {str(exc)[:200]})")
    return FrameError(f"a stream frame of an unexpected shape ({name})")


class ProviderAdapter(Generic[ClientT]):
    """Translate one provider's stream into :data:`StreamEvent` items.

    One adapter instance serves every request to its provider for the life of an ``LLMRing``:
    it owns the SDK client (made on first use, closed by :meth:`aclose`) and so its connection
    pool. Subclasses set the capability flags and supply the vendor's parts (see the module
    docstring); :meth:`stream` is the same for all. An adapter that is not an HTTP stream (the
    in-process ``mock``) overrides :meth:`stream` instead.
    """

    supports_streaming: ClassVar[bool] = True
    supports_tools: ClassVar[bool] = True
    supports_reasoning: ClassVar[bool] = False

    #: how the body's bytes become frames: ``SSEDecoder`` (events) or ``NDJSONLines`` (lines)
    framer: ClassVar[type[Framer[Any]]] = SSEDecoder
    #: the frames' translator, made per stream as ``translator(provider, model)``
    translator: ClassVar[type[Translator[Any]]]
    #: ``map_error(exc, provider=, model=)``: the llmring error for an SDK exception, or
    #: ``None`` for one that is not the provider's doing (it is then raised as it is)
    map_error: ClassVar[ErrorMapper]

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self._client: ClientT | None = None

    # -- what a vendor supplies ---------------------------------------------------------------

    def _connect(self) -> ClientT:
        """A new SDK client for :attr:`config` (keys: :attr:`api_key`)."""
        raise NotImplementedError

    async def _disconnect(self, client: ClientT) -> None:
        """Close ``client`` and its connection pool."""
        raise NotImplementedError

    def _payload(self, request: LLMRequest, model: str) -> dict[str, Any]:
        """The request body. Raises ``ConfigurationError`` for what the provider cannot take;
        it is called before any I/O."""
        raise NotImplementedError

    def _open(
        self, payload: dict[str, Any], model: str
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Send the streamed request and yield the response body's bytes; exiting closes the
        response (at once, so the server sees the disconnect when the consumer stops).

        Raises the SDK's exceptions for an HTTP error status (``map_error`` maps them).
        """
        raise NotImplementedError

    # -- the shared part ----------------------------------------------------------------------

    @property
    def api_key(self) -> str:
        """The key to give the SDK: the configured one, or :data:`KEYLESS`."""
        return self.config.api_key() or KEYLESS

    @property
    def client(self) -> ClientT:
        """The SDK client, made on first use (an unused provider costs nothing)."""
        if self._client is None:
            self._client = self._connect()
        return self._client

    async def stream(self, request: LLMRequest, model: str) -> AsyncGenerator[StreamEvent, None]:
        """Yield the normalised events of one streamed reply of ``model`` to ``request``.

        The stream wrapper closes this generator (``aclose``) on completion, break,
        cancellation and timeout; the response is then closed. ``StreamEnd`` is yielded only
        once the provider's own end marker has been seen; what is left of the body after it
        is read when the generator is closed (:func:`~llmring.providers._drain.drain`).

        Raises (mapped from the SDK's errors in one place, most specific first):
            ConfigurationError: the request cannot be sent to this provider (before any I/O).
            ProviderAuthenticationError: missing or rejected credentials.
            ModelNotFoundError: the provider does not know ``model``.
            ProviderRateLimitError: HTTP 429 (``retry_after`` from the headers).
            ProviderTimeoutError / ProviderConnectionError: no answer, or unreachable.
            ProviderResponseError: 5xx, overloaded, malformed data or an in-band error event.
        """
        payload = self._payload(request, model)
        translator = self.translator(self.config.name, model)
        framer = self.framer()
        with mapped_errors(self.map_error, provider=self.config.name, model=model):
            async with self._open(payload, model) as body:
                chunks = aiter(body)
                read, feed, translate = chunks.__anext__, framer.feed, translator.translate
                eof = False
                while not (eof or translator.ended):
                    try:
                        chunk = await read()
                    except StopAsyncIteration:
                        eof = True
                    frames = framer.finish() if eof else feed(chunk)
                    for frame in frames:
                        try:
                            events = translate(frame)
                        except (LLMRingError, FrameError):
                            raise
                        except Exception as exc:  # noqa: BLE001 - any other failure is the frame's
                            raise unreadable(exc) from None
                        for event in events:
                            yield event
                        if translator.ended:
                            break
                complete = translator.ended and translator.error is None and not eof
                try:
                    for event in _closing(translator):
                        yield event
                finally:
                    # the body's end (its chunked terminator) is read only now, once the
                    # consumer has the end and closes this generator: off the reply's path,
                    # and the connection goes back to the pool instead of being closed
                    if complete:
                        await drain(chunks)

    async def aclose(self) -> None:
        """Release the SDK client. Idempotent."""
        client, self._client = self._client, None
        if client is not None:
            await self._disconnect(client)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} provider={self.config.name!r}>"
