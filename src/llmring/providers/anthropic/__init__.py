"""The ``anthropic`` adapter: Anthropic's Messages API through the official ``anthropic`` SDK.

The SDK builds the request, authenticates, retries (``max_retries``) and turns HTTP errors into
exceptions; the body of the streaming response is read raw and decoded here (SSE →
``json.loads`` → events) instead of through the SDK's typed event objects, as the ``openai``
adapter does: the end marker ``message_stop`` must be seen (a cut stream is an interruption),
an in-band ``event: error`` is raised, and no per-event pydantic object is built.

What the translation decides (details in ``_events`` and ``_payload``):

* ``usage.prompt_tokens`` counts *all* input: Anthropic's ``input_tokens`` excludes cache reads
  and cache writes, so ``prompt_tokens = input_tokens + cache_read_input_tokens +
  cache_creation_input_tokens``; ``cached_tokens`` and ``cache_creation_tokens`` give the two
  parts, ``reasoning_tokens`` comes from ``output_tokens_details.thinking_tokens``.
* ``stop_reason: pause_turn`` (a long server-tool turn was paused) finishes with ``pause``.
* Server-side tool blocks (``server_tool_use``, ``web_search_tool_result`` ...) are run by
  Anthropic, not by the caller: they are never reported as tool calls. ``citations_delta``
  events are not carried (the cited text itself arrives as ordinary ``text_delta``).
* Thinking blocks (with their signatures) and redacted thinking travel with the next client
  tool call as ``provider_data["anthropic_thinking"]`` and are sent back before that call's
  ``tool_use`` block, which extended thinking requires on a tool turn.
* ``max_tokens`` is required by the API; llmring sends 4096 when the request sets none.
* ``response_format`` of type ``json_schema`` becomes ``output_config.format``; other JSON
  modes cannot be represented and raise ``ConfigurationError`` before any request.
* ``temperature`` is not sent. anthropic 2.x dropped the argument, and the API version that
  SDK sends, ``2026-10-21``, rejects sampling parameters with a 400; sending it would make
  every request with a temperature fail (bots default to 0.0). A debug log line says so.
  ``extra_params={"temperature": ...}`` still sends it, for endpoints that take it.
* An in-band ``event: error`` names its ``error.type`` but no status; the type's status is
  used (``overloaded_error`` → 529, retryable; ``invalid_request_error`` → 400, not).
"""

from llmring.providers._spec import ProviderSpec

__all__ = ["SPEC"]

SPEC = ProviderSpec(
    "anthropic",
    "llmring.providers.anthropic._adapter:AnthropicAdapter",
    key_envs=("ANTHROPIC_API_KEY",),
    sdk_module="anthropic",
    default_base_url="https://api.anthropic.com",
    suggested_models={
        "chatbot": "claude-haiku-4-5",
        "fast": "claude-haiku-4-5",
        "deep": "claude-sonnet-4-5",
    },
)
