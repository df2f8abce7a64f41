"""The ``google`` adapter: the Gemini API through ``google-genai``.

How it streams: the SDK builds and sends ``models/<model>:streamGenerateContent?alt=sse``
(URL, API version, key header, retry options, HTTP errors) on an ``httpx2`` client the adapter
owns; the body is read raw and decoded here (our SSE decoder → ``json.loads`` → events), so
the response is closed the moment the consumer stops, and no pydantic object is built per
chunk (see ``_adapter.open_stream`` for why not ``generate_content_stream``).

Decisions (the stream contract leaves them to the adapter):

* **End of stream.** Gemini's SSE has no end marker. The chunk with ``finishReason`` (or a
  ``promptFeedback.blockReason`` without candidates) marks a complete reply; the translator's
  ``finish()`` yields ``Finish`` (and the base ``StreamEnd``) when the body then ends
  cleanly, so usage after it is kept, and a body cut before it is an interruption.
* **finish_reason.** STOP → ``stop``, or ``tool_calls`` when the reply has function calls
  (Gemini never says so itself); MAX_TOKENS → ``length``; SAFETY, RECITATION, BLOCKLIST,
  PROHIBITED_CONTENT, SPII and the IMAGE_* filters → ``content_filter``; CONTINUATION →
  ``pause``; anything else (MALFORMED_FUNCTION_CALL, OTHER...) → ``other``. The raw name is in
  ``finish_reason_raw``.
* **usage** is cumulative per chunk (last value wins): ``prompt_tokens`` = prompt +
  tool-use prompt tokens, ``completion_tokens`` = candidates + thoughts tokens (so prompt +
  completion = ``total_tokens``, Gemini's ``totalTokenCount``), ``reasoning_tokens`` =
  thoughts, ``cached_tokens`` = cached content tokens.
* **Parts.** ``thought: true`` text → reasoning; ``functionCall`` → one whole tool-call
  fragment per call, indexed 0, 1, ... over the stream, with ``provider_data``
  ``thought_signature`` (and ``call_id`` when Gemini gives an id), both sent back on the next
  turn; ``executableCode``/``codeExecutionResult`` (built-in code execution) → Markdown code
  blocks in the answer text (```` ```python ```` and ```` ```output ````), as Gemini's own
  apps show them; ``inlineData``/``fileData`` → ``ProviderResponseError`` (llmring streams
  text); other parts carry no text and are skipped with a log warning.
* **Requests**: see ``_payload.build_body`` (``extra_params``) and ``_messages``.
"""

from llmring.providers._spec import ProviderSpec

__all__ = ["SPEC"]

SPEC = ProviderSpec(
    "google",
    "llmring.providers.google._adapter:GoogleAdapter",
    key_envs=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    sdk_module="google.genai",
    default_base_url="https://generativelanguage.googleapis.com",
    suggested_models={
        "chatbot": "gemini-2.5-flash",
        "fast": "gemini-2.5-flash",
        "deep": "gemini-2.5-pro",
    },
)
