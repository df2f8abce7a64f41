"""``llmring chat`` and ``llmring providers``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmring.cli._common import FileOption, JsonOption, ProfileOption, cli_command, err, out

if TYPE_CHECKING:
    from llmring.schemas import LLMRequest, StreamChunk
    from llmring.service import LLMRing

# pydantic, the schemas and the facade are imported inside the commands, so that
# ``llmring --help`` starts fast.


@cli_command
def chat(
    target: Annotated[str, typer.Argument(metavar="ALIAS_OR_MODEL",
                                          help="An alias (chatbot) or provider:model.")],
    prompt: Annotated[str, typer.Argument(help="What to ask.")],
    system: Annotated[str | None, typer.Option("--system", "-s", help="A system prompt.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object per stream chunk instead of the text.")] = False,
    profile: ProfileOption = None,
    file: FileOption = None,
) -> None:
    """Stream a reply to stdout as it arrives; usage and timing go to stderr."""
    import asyncio

    from llmring.schemas import LLMRequest, Message
    from llmring.service import LLMRing

    messages = [Message(role="system", content=system)] if system else []
    messages.append(Message(role="user", content=prompt))
    request = LLMRequest(model=target, messages=messages)
    asyncio.run(_stream_reply(LLMRing(file, profile), request, as_json))


async def _stream_reply(ring: LLMRing, request: LLMRequest, as_json: bool) -> None:
    async with ring, ring.chat_stream(request) as stream:
        wrote_text = False
        try:
            async for chunk in stream:
                if as_json:
                    out(json.dumps(chunk.model_dump(mode="json", exclude_none=True)))
                elif chunk.delta:
                    out(chunk.delta, end="")
                    wrote_text = True
                elif chunk.is_terminal:
                    _finish(chunk, wrote_text)
        except BaseException:
            if wrote_text:
                out()  # end the partial line so the error starts on its own line
            raise


def _finish(terminal: StreamChunk, wrote_text: bool) -> None:
    if wrote_text:
        out()
    for call in terminal.tool_calls or []:
        function = call["function"]
        out(f"tool call {call['id']}: {function['name']}({function['arguments']})")
    err(_summary(terminal))


def _summary(chunk: StreamChunk) -> str:
    usage = chunk.usage or {}
    metadata: dict[str, Any] = dict(chunk.metadata)
    parts = [f"[{chunk.provider}:{chunk.model}] finish={chunk.finish_reason}"]
    if usage:
        parts.append(f"tokens in={usage.get('prompt_tokens')} out={usage.get('completion_tokens')} "
                     f"total={usage.get('total_tokens')}")
    else:
        parts.append("no usage reported")
    first = metadata.get("first_chunk_latency")
    if first is not None:
        parts.append(f"first chunk {first * 1000:.0f} ms")
    if metadata.get("duration") is not None:
        parts.append(f"total {metadata['duration'] * 1000:.0f} ms")
    for attempt in metadata.get("failed_attempts", []):
        parts.append(f"fell back from {attempt['model']} ({attempt['error']})")
    return " | ".join(parts)


@cli_command
def providers(file: FileOption = None, as_json: JsonOption = False) -> None:
    """Show every provider (built in and from the lockfile) and whether it is usable now."""
    from llmring.service import LLMRing

    statuses = LLMRing(file).providers()
    if as_json:
        out(json.dumps([
            {"name": s.name, "type": s.type, "usable": s.usable, "reason": s.reason,
             "base_url": s.base_url, "key_envs": list(s.key_envs)}
            for s in statuses
        ], indent=2))
        return
    width = max(len(s.name) for s in statuses)
    for s in statuses:
        state = "usable" if s.usable else f"unavailable: {s.reason}"
        where = f"  ({s.type} at {s.base_url})" if s.base_url else ""
        out(f"{s.name.ljust(width)}  {state}{where}")
