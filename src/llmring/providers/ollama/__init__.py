"""The ``ollama`` adapter: a local Ollama server (or ollama.com) over ``POST /api/chat``.

The SDK's ``AsyncClient`` supplies what it is good at: the host (lockfile ``base_url``,
else ``OLLAMA_HOST``, else ``127.0.0.1:11434``), its headers, ``OLLAMA_API_KEY`` bearer
auth for ollama.com, and the pooled ``httpx.AsyncClient``, which the adapter owns and
closes in ``aclose()``. The call itself is made on that httpx client, not through
``AsyncClient.chat()``, because ``chat()`` in ollama 0.6:

* validates the request through pydantic models that drop what they do not model: nested
  ``properties``/``minimum``/``additionalProperties`` inside a tool's parameter schema,
  a tool call's ``id``, a tool result's ``tool_call_id``;
* raises ``ResponseError(error, status_code)`` without the response headers, so a 429's
  ``retry-after`` would be lost;
* splits the body with httpx's ``aiter_lines`` (``str.splitlines``), which also breaks
  lines at U+0085/U+2028 that can sit raw inside a JSON string, and reports an in-band
  ``{"error": ...}`` line the same way as an HTTP error.

So the body is built here as plain JSON (``_payload``), streamed with
``httpx.AsyncClient.stream`` (``_adapter._open``; the base closes it when the consumer stops,
so the server sees the disconnect at once), framed as NDJSON (split at ``\\n`` only), and each
line is translated (``_events``). Errors are mapped in ``_errors``.
"""

from llmring.providers._spec import ProviderSpec

__all__ = ["SPEC"]

SPEC = ProviderSpec(
    "ollama",
    "llmring.providers.ollama._adapter:OllamaAdapter",
    sdk_module="ollama",
    default_base_url="http://127.0.0.1:11434",  # unless OLLAMA_HOST is set
    signal_envs=("OLLAMA_HOST",),
    suggested_models={"chatbot": "llama3.2", "fast": "llama3.2", "deep": "qwen3"},
)
