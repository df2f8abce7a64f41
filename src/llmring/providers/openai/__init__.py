"""The ``openai`` adapter: OpenAI Chat Completions and every OpenAI-compatible server.

The SDK builds the request, authenticates, retries (``max_retries``) and turns HTTP errors
into exceptions; the body of the streaming response is read raw and decoded here (SSE →
``json.loads`` → events) instead of through the SDK's typed chunk objects: the end marker
``data: [DONE]`` must be seen (the SDK's iterator hides whether it was), in-band
``event: error`` frames and ``: comment`` keep-alives of compatible servers are handled, and
no per-chunk pydantic object is built.
"""

from llmring.providers._spec import ProviderSpec

__all__ = ["SPEC"]

SPEC = ProviderSpec(
    "openai",
    "llmring.providers.openai._adapter:OpenAIAdapter",
    key_envs=("OPENAI_API_KEY",),  # a compatible server: its table's api_key_env
    sdk_module="openai",
    default_base_url="https://api.openai.com/v1",
    suggested_models={"chatbot": "gpt-5-mini", "fast": "gpt-5-mini", "deep": "gpt-5"},
)
