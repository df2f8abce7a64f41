"""The ``mock`` provider: deterministic and offline, through the same seam as the real ones.

Model names choose the reply:

* ``mock:echo`` streams back the last user message;
* any other ``mock:<name>`` streams a fixed multi-sentence text;
* ``extra_params={"mock_response": "..."}`` streams exactly that text;
* when the request has ``tools`` (and ``tool_choice`` is not ``"none"``) and the last message
  is not a tool result, the model calls a tool instead, with arguments built from its schema;
* otherwise a ``response_format`` of type ``json_schema`` is answered with JSON that validates
  against its schema (``llmring.providers._schema_instance``), and ``json_object`` with ``{}``.

Options go after a ``?`` in the model name, or in ``extra_params`` with a ``mock_`` prefix
(``mock:echo?delay=0.05&chunk_size=4`` or ``extra_params={"mock_delay": 0.05}``):

================ ==============================================================================
``chunk_size``    characters per chunk (default: one word per chunk)
``delay``         seconds to wait before each chunk (default 0)
``response``      the reply text (same as ``mock_response``)
``reasoning``     reasoning text to stream before the answer
``fail``          raise instead of answering: ``rate_limit``, ``auth``, ``not_found``,
                  ``server``, ``overloaded``, ``timeout``, ``connection``, ``bad_request``
``fail_after``    with ``fail``: raise after this many content chunks (default: before any)
``cut_after``     end the stream after this many chunks without the end marker
``stall_after``   stop sending (but keep the stream open) after this many chunks
``retry_after``   seconds reported by ``fail=rate_limit`` (default 1)
================ ==============================================================================

Usage is counted with a simple deterministic tokenizer (words and punctuation marks), and
``max_tokens`` truncates the reply with ``finish_reason="length"``. ``stop`` ends the reply
(not the reasoning, nor a tool call) just before the earliest place one of its sequences
occurs, with ``finish_reason="stop"``, as a real model does. Every stream is recorded in
:data:`ledger`, so tests can see whether a stream was closed, completed or cancelled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmring import _lazy
from llmring.providers._spec import ProviderSpec

# the mock's code is imported on first use (llmring/_lazy.py reads this block), so declaring
# the provider costs nothing when a lockfile is read
if TYPE_CHECKING:
    from llmring.providers.mock._adapter import MockAdapter as MockAdapter
    from llmring.providers.mock._adapter import MockLedger as MockLedger
    from llmring.providers.mock._adapter import MockOptions as MockOptions
    from llmring.providers.mock._adapter import MockStreamRecord as MockStreamRecord
    from llmring.providers.mock._adapter import count_tokens as count_tokens
    from llmring.providers.mock._adapter import ledger as ledger

SPEC = ProviderSpec(
    "mock",
    "llmring.providers.mock._adapter:MockAdapter",
    suggested_models={"chatbot": "chatbot", "fast": "fast", "deep": "deep"},
)

_lazy.install(__name__, eager=("SPEC",))
