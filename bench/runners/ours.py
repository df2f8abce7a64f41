"""Runner for the contenders that live in the project's own venv.

* ``raw``: the official SDK loop a user would write by hand (the baseline): the SDK's typed
  stream iterator, taking each chunk's text.
* ``llmring``: ``LLMRing.chat_stream`` through a lockfile that points the provider at the server.
* ``floor``: a bare ``httpx`` loop that splits the body into events and ``json.loads`` each,
  doing nothing else: what any Python client must at least spend.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import run, sdk_base_url

KEYS = {
    "openai": "OPENAI_API_KEY",
    "openai-responses": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "google": "GEMINI_API_KEY",
}
MESSAGES = [{"role": "user", "content": "Count, please."}]
clients: dict[str, Any] = {}


def client(name: str, make: Any) -> Any:
    """One client per process, made on first use (as an application would keep it)."""
    if name not in clients:
        clients[name] = make()
    return clients[name]


# -- raw SDK loops ------------------------------------------------------------------------------


async def raw(provider: str, root: str, model: str) -> AsyncIterator[str]:
    base = sdk_base_url(provider, root)
    if provider == "openai":
        import openai

        sdk = client(
            provider, lambda: openai.AsyncOpenAI(api_key="sk-bench", base_url=base, max_retries=0)
        )
        stream = await sdk.chat.completions.create(
            model=model, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content
    elif provider == "openai-responses":
        import openai

        sdk = client(
            provider, lambda: openai.AsyncOpenAI(api_key="sk-bench", base_url=base, max_retries=0)
        )
        stream = await sdk.responses.create(model=model, input=MESSAGES, stream=True)
        async for event in stream:
            if event.type == "response.output_text.delta":
                yield event.delta
    elif provider == "anthropic":
        import anthropic

        sdk = client(
            provider,
            lambda: anthropic.AsyncAnthropic(api_key="sk-ant-bench", base_url=base, max_retries=0),
        )
        stream = await sdk.messages.create(
            model=model, max_tokens=4096, messages=MESSAGES, stream=True
        )
        async for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                yield event.delta.text
    elif provider == "google":
        from google import genai
        from google.genai import types

        sdk = client(
            provider,
            lambda: genai.Client(
                api_key="AIza-bench", http_options=types.HttpOptions(base_url=base)
            ),
        )
        stream = await sdk.aio.models.generate_content_stream(
            model=model, contents="Count, please."
        )
        async for chunk in stream:
            for part in chunk.candidates[0].content.parts or ():
                if part.text:
                    yield part.text
    elif provider == "ollama":
        import ollama

        sdk = client(provider, lambda: ollama.AsyncClient(host=base))
        async for part in await sdk.chat(model=model, messages=MESSAGES, stream=True):
            if part.message.content:
                yield part.message.content


# -- llmring ------------------------------------------------------------------------------------


def _lockfile(provider: str, root: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="llmring-bench-"))
    path = folder / "llmring.lock"
    path.write_text(
        f'version = "1.0"\n[profiles.default]\nname = "default"\n\n'
        f'[providers.{provider}]\nbase_url = "{sdk_base_url(provider, root)}"\n'
    )
    return path


async def with_llmring(provider: str, root: str, model: str) -> AsyncIterator[str]:
    from llmring import LLMRequest, LLMRing, Message

    ring = clients.get("llmring")
    if ring is None:
        if provider in KEYS:
            os.environ[KEYS[provider]] = "bench-key-0123456789"
        ring = clients["llmring"] = LLMRing(_lockfile(provider, root))
    request = LLMRequest(
        model=f"{provider}:{model}", messages=[Message.model_validate(m) for m in MESSAGES]
    )
    async with ring.chat_stream(request) as stream:
        async for chunk in stream:
            if chunk.delta:
                yield chunk.delta


# -- the floor ----------------------------------------------------------------------------------

PATHS = {
    "openai": "/v1/chat/completions",
    "openai-responses": "/v1/responses",
    "anthropic": "/v1/messages",
    "google": "/v1beta/models/{model}:streamGenerateContent?alt=sse",
    "ollama": "/api/chat",
}
SEPARATORS = {
    "openai": b"\n\n",
    "openai-responses": b"\n\n",
    "anthropic": b"\n\n",
    "google": b"\r\n\r\n",
    "ollama": b"\n",
}


def _text(provider: str, data: Any) -> str:
    if provider == "openai":
        choices = data.get("choices")
        return (choices[0]["delta"].get("content") or "") if choices else ""
    if provider == "openai-responses":
        return data["delta"] if data.get("type") == "response.output_text.delta" else ""
    if provider == "anthropic":
        delta = data.get("delta")
        return delta.get("text", "") if data.get("type") == "content_block_delta" else ""
    if provider == "google":
        return "".join(p.get("text", "") for p in data["candidates"][0]["content"]["parts"])
    return str(data["message"]["content"])


async def floor(provider: str, root: str, model: str) -> AsyncIterator[str]:
    import httpx

    http = client("httpx", lambda: httpx.AsyncClient(timeout=None))
    separator = SEPARATORS[provider]
    url = root + PATHS[provider].format(model=model)
    body = {"model": model, "messages": MESSAGES, "stream": True}
    async with http.stream("POST", url, json=body) as response:
        pending = b""
        async for raw in response.aiter_bytes():
            pending += raw
            *events, pending = pending.split(separator)
            for event in events:
                if not event:
                    continue
                line = event if provider == "ollama" else event[event.index(b"data: ") + 6 :]
                if line == b"[DONE]":
                    continue
                text = _text(provider, json.loads(line))
                if text:
                    yield text


async def teardown() -> None:
    for made in list(clients.values()):
        close = getattr(made, "aclose", None) or getattr(made, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result


if __name__ == "__main__":
    asyncio.run(run({"raw": raw, "llmring": with_llmring, "floor": floor}, teardown=teardown))
