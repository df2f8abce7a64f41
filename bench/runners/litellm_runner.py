"""Runner for LiteLLM, run by its peer venv's python (``bench/.envs/litellm``).

Contender ``litellm``: ``litellm.acompletion(model=..., messages=..., stream=True,
api_base=..., api_key=...)``, taking ``chunk.choices[0].delta.content`` when present, as a
LiteLLM user writes it. Models: ``openai/``, ``anthropic/``, ``gemini/`` (Google AI Studio) and
``ollama_chat/`` (``/api/chat``), each with ``api_base`` pointing at the loopback server:

* openai: ``root + "/v1"`` (LiteLLM's OpenAI client posts to ``{api_base}/chat/completions``);
* anthropic: ``root`` (it posts to ``{api_base}/v1/messages``);
* google: ``root + "/v1beta"`` (it posts to ``{api_base}/models/{model}:streamGenerateContent``,
  the shape of the real ``https://generativelanguage.googleapis.com/v1beta``);
* ollama: ``root`` (it posts to ``{api_base}/api/chat``).

Kept off the network, set before ``litellm`` is imported: its model cost map, Anthropic beta
header table, blog posts, policy templates and auto-router presets come from the copies in the
package (``LITELLM_LOCAL_*``); ``LITELLM_MODE=PRODUCTION`` keeps it from loading a ``.env``; no
callbacks are registered; retries are off (``num_retries=0``, ``max_retries=0``).

The bench model is entered in LiteLLM's cost map (``litellm.register_model``), as a real model
is. Without that, LiteLLM's Ollama path looks an unknown model up with blocking ``POST
/api/show`` calls, a few per stream, at ``OLLAMA_API_BASE`` or ``http://localhost:11434``
whatever ``api_base`` says (and the bench server answers ``/api/show`` with a whole stream).
``OLLAMA_API_BASE`` is set to the server too, so the one lookup left (at registration, before
any timing) goes there and nowhere else.

LiteLLM still does its own bookkeeping during and after each stream (its logging object, cost
calculation from the cost map, a background logging worker task): that is part of what a
LiteLLM user pays, so it stays in. Anything a library prints goes to stderr: stdout carries only
the result's JSON line.

No hang: a stream that yields nothing for ``BENCH_STALL_TIMEOUT_S`` (default 30 s, also given to
LiteLLM as its ``timeout``) ends with ``TimeoutError``, reported in ``errors``; a watchdog thread
prints the JSON with an error and exits if the whole run takes longer than
``BENCH_RUNNER_TIMEOUT_S`` (default 1800 s).
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import MODELS, Stall, parse_args, run, sdk_base_url, start_watchdog

OFFLINE = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_MODE": "PRODUCTION",
}
PREFIXES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "gemini",
    "ollama": "ollama_chat",
}
KEYS = {"openai": "sk-bench", "anthropic": "sk-ant-bench", "google": "AIza-bench", "ollama": None}
MESSAGES = [{"role": "user", "content": "Count, please."}]
STDOUT = sys.stdout  # the orchestrator reads this; libraries print to a stand-in
STALL_TIMEOUT = float(os.environ.get("BENCH_STALL_TIMEOUT_S", "30"))


def api_base(provider: str, root: str) -> str:
    return root + "/v1beta" if provider == "google" else sdk_base_url(provider, root)


async def with_litellm(provider: str, root: str, model: str) -> AsyncIterator[str]:
    import litellm

    async with Stall(STALL_TIMEOUT, stall_note) as watch:
        response = await litellm.acompletion(
            model=f"{PREFIXES[provider]}/{model}",
            messages=MESSAGES,
            stream=True,
            api_base=api_base(provider, root),
            api_key=KEYS[provider],
            num_retries=0,
            max_retries=0,
            timeout=STALL_TIMEOUT,
        )
        async for chunk in response:
            watch.chunks += 1
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content


def stall_note() -> str:
    return ""


async def setup() -> None:
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    litellm.success_callback = []
    litellm.failure_callback = []
    litellm.callbacks = []
    # The bench model, entered in LiteLLM's cost map as a real model is (see the docstring).
    provider = parse_args().provider
    litellm.register_model(
        {
            f"{PREFIXES[provider]}/{MODELS[provider]}": {
                "litellm_provider": PREFIXES[provider],
                "mode": "chat",
                "max_tokens": 8192,
                "max_input_tokens": 128000,
                "max_output_tokens": 8192,
                "input_cost_per_token": 1e-06,
                "output_cost_per_token": 2e-06,
                "cache_creation_input_token_cost": 0.0,
                "cache_read_input_token_cost": 0.0,
            }
        }
    )


def json_only_on_stdout(main: Any) -> None:
    """Run ``main()`` with stdout caught; pass on only the result's JSON line, the rest to stderr.

    Libraries print (LiteLLM's debug banners, for one): the orchestrator reads one JSON object.
    """
    caught = io.StringIO()
    sys.stdout = caught
    try:
        main()
    finally:
        sys.stdout = STDOUT
        text = caught.getvalue()
        start = text.rfind('{"contender"')
        noise, result = (text[:start], text[start:]) if start >= 0 else (text, "")
        if noise.strip():
            sys.stderr.write(noise if noise.endswith("\n") else noise + "\n")
        STDOUT.write(result)
        STDOUT.flush()


if __name__ == "__main__":
    args = parse_args()
    os.environ.update(OFFLINE)
    if args.provider == "ollama":  # where LiteLLM looks Ollama models up, whatever api_base says
        os.environ["OLLAMA_API_BASE"] = api_base(args.provider, args.root)
    start_watchdog(float(os.environ.get("BENCH_RUNNER_TIMEOUT_S", "1800")), "litellm", STDOUT)
    json_only_on_stdout(lambda: asyncio.run(run({"litellm": with_litellm}, setup=setup)))
