"""The streamed reply's bytes: OpenAI ``chat.completion.chunk`` frames, built for speed.

Every frame of one completion shares its ``id``, ``created`` and ``model``, so the bytes around
the delta are encoded once per stream (:class:`ChunkFrames`) and a content chunk costs one
``json.dumps`` of its text and one concatenation. The frames are the same JSON
``llmring.sse.openai_frames`` yields (its delta rules are reused for reasoning and tool calls),
byte for byte apart from key order inside the delta.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from llmring.sse import _delta, openai_finish_reason, openai_usage

if TYPE_CHECKING:
    from llmring.schemas import StreamChunk, Usage

__all__ = ["DONE", "ChunkFrames", "error_frame", "json_bytes"]

DONE = b"data: [DONE]\n\n"


# ensure_ascii=False: raw UTF-8 as OpenAI sends it; JSON escapes CR and LF, the only
# characters that could end an SSE line. One encoder for every frame: json.dumps with
# arguments builds a new one per call.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
#: a string alone, as the encoder above writes it, without its type dispatch (the hot path)
_encode_text = encode_basestring


def json_bytes(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON: every body and frame the gateway writes."""
    return _encode(value).encode()


class ChunkFrames:
    """The frames of one streamed completion (``completion_id``, ``created``, ``model``)."""

    __slots__ = ("_head", "_prefix", "_suffix", "_text_prefix", "_text_suffix")

    def __init__(self, completion_id: str, created: int, model: str) -> None:
        head = json_bytes(
            {"id": completion_id, "object": "chat.completion.chunk", "created": created}
        )
        self._head = b"data: " + head[:-1] + b',"model":' + json_bytes(model)
        self._prefix = self._head + b',"choices":[{"index":0,"delta":'
        self._suffix = b',"logprobs":null,"finish_reason":null}]}\n\n'
        self._text_prefix = self._prefix + b'{"content":'
        self._text_suffix = b"}" + self._suffix

    def role(self) -> bytes:
        """The first frame: the assistant's role (sent once the first chunk is in)."""
        return self._prefix + b'{"role":"assistant","content":""}' + self._suffix

    def chunk(self, chunk: StreamChunk) -> bytes:
        """A content chunk's frame: text, reasoning or a tool-call fragment."""
        text = chunk.delta
        if text and not chunk.reasoning and chunk.tool_call_delta is None:
            return self._text_prefix + _encode_text(text).encode() + self._text_suffix
        return self._prefix + json_bytes(_delta(chunk)) + self._suffix

    def finish(self, chunk: StreamChunk) -> bytes:
        """The terminal chunk's frame: an empty delta and the finish reason in OpenAI's words."""
        reason = json_bytes(openai_finish_reason(chunk.finish_reason))
        return self._prefix + b'{},"logprobs":null,"finish_reason":' + reason + b"}]}\n\n"

    def usage(self, usage: Usage) -> bytes:
        """The usage frame (``choices: []``), sent when the client asked for it."""
        return self._head + b',"choices":[],"usage":' + json_bytes(openai_usage(usage)) + b"}\n\n"


def error_frame(body: dict[str, Any]) -> bytes:
    """A failure after content: one ``data: {"error": {...}}`` frame, and no ``[DONE]`` after."""
    return b"data: " + json_bytes(body) + b"\n\n"
