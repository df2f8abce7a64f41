"""The ``openai-responses`` adapter: OpenAI's Responses API (``POST /v1/responses``).

The API OpenAI's reasoning models and hosted tools are built on, reached through the same
``openai`` SDK, key (``OPENAI_API_KEY``) and error mapping as the ``openai`` adapter; only the
request body and the stream's events differ. The body is read raw and decoded here, as for
Chat Completions. The package's name is its type with ``_`` for ``-``.

What the translation decides (details in ``_events`` and ``_payload``):

* Messages become ``input`` items in order. System and developer messages stay messages of
  their role (the API takes both in ``input``), rather than being joined into
  ``instructions``; an assistant's tool calls become ``function_call`` items and tool results
  ``function_call_output`` items, both tied by ``call_id``, which is llmring's tool-call id.
* A tool without ``strict`` is sent with ``strict: false``: that is Chat Completions' default,
  while the Responses API's own default is strict, so one tool list means the same to both.
* Reasoning summaries are sent only when asked for: ``extra_params={"reasoning": {"summary":
  "auto"}}``. Asking by default would fail every request to a model without reasoning, and
  every request of an organisation not verified for summaries.
* ``response.completed`` finishes with ``stop``, ``tool_calls`` when the reply has function
  calls, ``content_filter`` after a refusal (streamed as text); ``response.incomplete`` with
  the reason it gives (``max_output_tokens`` → ``length``). An ``error`` event or
  ``response.failed`` raises: a rate limit as ``ProviderRateLimitError``, a request the
  service refused (``invalid_prompt``, an unreadable image...) as a 400, never retried.
* ``lock init`` suggests no models for it: a key for OpenAI binds the ``openai`` provider;
  bind ``openai-responses:<model>`` yourself.
"""

from dataclasses import replace

from llmring.providers import openai

__all__ = ["SPEC"]

#: OpenAI's key variable, SDK and endpoint, with another adapter
SPEC = replace(
    openai.SPEC,
    type="openai-responses",
    adapter="llmring.providers.openai_responses._adapter:OpenAIResponsesAdapter",
    suggested_models={},  # ``lock init`` binds OpenAI through ``openai``
    pip_extra="openai",
)
