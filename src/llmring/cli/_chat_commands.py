"""``llmring chat`` and ``llmring providers``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from llmring.cli._chat_output import JsonView, TextView, View
from llmring.cli._common import FileOption, JsonOption, ProfileOption, cli_command, out

if TYPE_CHECKING:
    from llmring.schemas import LLMRequest
    from llmring.service import LLMRing

# pydantic, the schemas and the facade are imported inside the commands, so that
# ``llmring --help`` starts fast.


class ChatCommand(TyperCommand):
    """``chat`` with ``-o KEY VALUE`` taking two values, repeatable: typer cannot declare a
    repeated pair (``list[tuple[str, str]]``), so the option's arity is set here. The parameter
    is declared ``list[Any]`` because typer would turn each pair into its ``str`` otherwise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if "--option" in param.opts:
                param.nargs = 2


@cli_command
def chat(
    first: Annotated[
        str | None,
        typer.Argument(
            metavar="ALIAS_OR_MODEL",
            show_default=False,
            help="An alias (chatbot) or provider:model; alone, it is the prompt unless it names "
            "one. Default: $LLMRING_DEFAULT_ALIAS, else chatbot.",
        ),
    ] = None,
    second: Annotated[
        str | None,
        typer.Argument(
            metavar="PROMPT",
            show_default=False,
            help="What to ask; '-' reads stdin. Piped stdin comes first, then the prompt.",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="The alias or provider:model; the argument is then the prompt.",
            show_default=False,
        ),
    ] = None,
    system: Annotated[str | None, typer.Option("--system", "-s", help="A system prompt.")] = None,
    temperature: Annotated[
        float | None,
        typer.Option("--temperature", help="Sampling temperature (0 to 2).", show_default=False),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option("--max-tokens", help="The most tokens to generate.", show_default=False),
    ] = None,
    options: Annotated[
        list[Any] | None,
        typer.Option(
            "--option",
            "-o",
            metavar="KEY VALUE",
            show_default=False,
            help="An extra request parameter (repeatable), e.g. -o top_p 0.9; VALUE is JSON when "
            "it parses, else text.",
        ),
    ] = None,
    no_reasoning: Annotated[
        bool, typer.Option("--no-reasoning", help="Do not show the model's reasoning on stderr.")
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print one JSON object per stream chunk instead of the text."),
    ] = False,
    interactive: Annotated[
        bool,
        typer.Option(
            "--interactive",
            "-i",
            help="Chat: type messages at a prompt; the conversation is kept. Ctrl-C cancels "
            "a reply, Ctrl-C at the prompt, Ctrl-D or 'exit' ends the chat. Piped stdin: one "
            "message per line.",
        ),
    ] = False,
    profile: ProfileOption = None,
    file: FileOption = None,
    # conversations and logging (docs/receipts.md): cli/_conversation.py
    last: Annotated[
        bool, typer.Option("--continue", "-c", help="Continue the last logged conversation.")
    ] = False,
    cid: Annotated[
        str | None,
        typer.Option(
            "--cid", help="Continue the logged conversation with this id.", show_default=False
        ),
    ] = None,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Do not log this call (also: LLMRING_LOG=off).")
    ] = False,
) -> None:
    """Stream a reply to stdout as it arrives; reasoning, usage and timing go to stderr.
    Each call is logged with its content (llmring logs); -c continues the last conversation.

    \b
      llmring chat "What is 2+2?"
      llmring chat fast "Name three primes" -o top_p 0.9
      cat notes.txt | llmring chat chatbot "Summarise this"
      llmring chat -i fast
      llmring chat -c "And the next three?"
    """
    import asyncio

    from llmring._receipts._receipt import uuid7
    from llmring.cli._chat_input import extra_params, model_and_prompt, read_prompt
    from llmring.cli._conversation import chat_receipts, continued, unstored_receipts_reported
    from llmring.schemas import LLMRequest, Message
    from llmring.service import LLMRing

    params = extra_params(options or [])
    history = continued(file, last, cid)
    ring = LLMRing(file, profile, receipts=chat_receipts(file, no_log), log_content=True)

    def new_view() -> View:
        return JsonView() if as_json else TextView(reasoning=not no_reasoning)

    if interactive:
        from llmring.cli._chat_repl import chat_session, session_model

        settings = {"temperature": temperature, "max_tokens": max_tokens, "extra_params": params}
        target = session_model(first, second, model)
        if history is not None and first is None and model is None:
            target = history.alias  # no model named: the conversation's own
        with unstored_receipts_reported(ring):
            chat_session(ring, target, system, settings, new_view, history)
        return
    target, argument = model_and_prompt(ring.resolver, first, second, model)
    if history is not None and model is None and second is None and argument == first:
        target = history.alias  # no model named: the conversation's own
    messages = [Message(role="system", content=system)] if system else []
    if history is not None:
        messages = messages + [m for m in history.messages if not (system and m.role == "system")]
    messages.append(Message(role="user", content=read_prompt(argument)))
    request = LLMRequest(
        model=target,
        messages=messages,
        temperature=temperature,
        max_tokens=max_tokens,
        extra_params=params,
    )
    conversation = history.id if history is not None else uuid7()
    with unstored_receipts_reported(ring):
        asyncio.run(_stream_reply(ring, request, new_view(), conversation))


async def _stream_reply(
    ring: LLMRing, request: LLMRequest, view: View, conversation: str | None = None
) -> None:
    async with ring:
        await show_reply(ring, request, view, conversation)


async def show_reply(
    ring: LLMRing, request: LLMRequest, view: View, conversation: str | None = None
) -> None:
    """Stream one reply into ``view``: one-shot ``chat`` and each reply of ``chat -i``;
    ``conversation`` is the id its receipt is logged under (docs/receipts.md)."""
    async with ring.chat_stream(request, conversation_id=conversation) as stream:
        try:
            async for chunk in stream:
                view.show(chunk)
        except BrokenPipeError:
            raise  # the reader is gone: nothing more to write (see cli_command)
        except BaseException:
            view.end_lines()
            raise


@cli_command
def providers(file: FileOption = None, as_json: JsonOption = False) -> None:
    """Show every provider (built in and from the lockfile) and whether it is usable now."""
    from llmring.service import LLMRing

    statuses = LLMRing(file).providers()
    if as_json:
        out(
            json.dumps(
                [
                    {
                        "name": s.name,
                        "type": s.type,
                        "usable": s.usable,
                        "reason": s.reason,
                        "base_url": s.base_url,
                        "key_envs": list(s.key_envs),
                    }
                    for s in statuses
                ],
                indent=2,
            )
        )
        return
    width = max(len(s.name) for s in statuses)
    for s in statuses:
        state = "usable" if s.usable else f"unavailable: {s.reason}"
        where = f"  ({s.type} at {s.base_url})" if s.base_url else ""
        out(f"{s.name.ljust(width)}  {state}{where}")
