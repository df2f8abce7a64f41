"""``TextPieces``: text built from many small deltas, shared by the assembler and the toolkit."""

from __future__ import annotations

__all__ = ["TextPieces"]

_BLOCK = 512  # pieces joined into one block: memory stays near the text's own size


class TextPieces:
    """Append in O(1); every ``_BLOCK`` pieces become one block, so a long stream costs about
    its text's size (not an object per delta) and joining stays linear; ``text()`` joins once
    and keeps the result."""

    __slots__ = ("_blocks", "_joined", "_pending")

    def __init__(self) -> None:
        self._blocks: list[str] = []
        self._pending: list[str] = []
        self._joined = 0  # pieces already joined into blocks

    def __len__(self) -> int:
        """How many pieces were added: counted when pieces are joined, never per piece."""
        return self._joined + len(self._pending)

    def add(self, text: str) -> None:
        pending = self._pending
        pending.append(text)
        if len(pending) >= _BLOCK:
            self._blocks.append("".join(pending))
            self._joined += len(pending)
            pending.clear()

    def __bool__(self) -> bool:
        return bool(self._pending or self._blocks)

    def chars(self) -> int:
        """The text's length, without joining it (safe to call from another thread)."""
        return sum(map(len, self._blocks)) + sum(map(len, self._pending))

    def text(self) -> str:
        if self._pending or len(self._blocks) > 1:
            self._blocks = ["".join(self._blocks) + "".join(self._pending)]
            self._joined += len(self._pending)
            self._pending = []
        return self._blocks[0] if self._blocks else ""
