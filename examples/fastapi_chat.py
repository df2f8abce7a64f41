"""A streaming chat endpoint in a dozen lines: ``POST /chat`` answers with Server-Sent Events.

Run it from the repository root (``pip install 'llmring[sse]'`` first)::

    uvicorn examples.fastapi_chat:app

The model is ``$LLMRING_BOT_MODEL`` (a lockfile alias or ``provider:model``), else the
lockfile's ``chatbot`` alias, which answers with the offline mock when no API key is set.
``LLMRING_BOT_MODEL='mock:echo?delay=0.05'`` streams your own words back slowly. Try it::

    curl -N localhost:8000/chat -H 'content-type: application/json' \\
         -d '{"messages": [{"role": "user", "content": "Hello"}]}'

Each text delta is a ``message`` event, the end is a ``done`` event (empty data), and a failure
is one ``error`` event carrying its message. The client sends the whole conversation each time,
so the server keeps no state; it owns the system prompt (clients send only user and assistant
turns). Closing the connection stops the model.
"""

from __future__ import annotations

from typing import Literal

from fastapi import FastAPI
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse

from llmring.bots import AIMessage, AsyncSimpleBot, BaseMessage, HumanMessage
from llmring.sse import sse_stream

SYSTEM_PROMPT = "You are a helpful, concise assistant."


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)

    def to_message(self) -> BaseMessage:
        return (
            HumanMessage(content=self.content)
            if self.role == "user"
            else AIMessage(content=self.content)
        )


class ChatRequest(BaseModel):
    messages: list[Turn] = Field(min_length=1, max_length=200)


def create_app(bot: AsyncSimpleBot | None = None) -> FastAPI:
    """The app, answering with ``bot`` (by default one built from the environment)."""
    chat_bot = bot or AsyncSimpleBot(SYSTEM_PROMPT)
    app = FastAPI(title="llmring chat")
    app.state.bot = chat_bot

    @app.post("/chat")
    async def chat(request: ChatRequest) -> EventSourceResponse:
        messages = [turn.to_message() for turn in request.messages]
        return EventSourceResponse(sse_stream(chat_bot, messages))

    @app.get("/model")
    async def model() -> dict[str, str]:
        """The alias or model answering (the part before any ``?options``)."""
        return {"model": chat_bot.model_name.partition("?")[0]}

    return app


app = create_app()
