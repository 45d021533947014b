"""Undo/redo history of labelling and editing actions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Action", "History"]


@dataclass
class Action:
    """One undoable action: two closures and a description shown to the user."""

    description: str
    undo: Callable[[], None]
    redo: Callable[[], None]


class History:
    """A bounded undo/redo stack.

    Parameters
    ----------
    limit : int
        Oldest actions are dropped beyond this many.
    """

    def __init__(self, limit: int = 200) -> None:
        self.limit = int(limit)
        self._done: list[Action] = []
        self._undone: list[Action] = []

    def push(self, action: Action) -> None:
        """Record an action that was just performed (clears the redo stack)."""
        self._done.append(action)
        self._undone.clear()
        if len(self._done) > self.limit:
            del self._done[0]

    @property
    def can_undo(self) -> bool:
        """Whether there is an action to undo."""
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        """Whether there is an action to redo."""
        return bool(self._undone)

    def undo(self) -> Action | None:
        """Undo the last action; returns it, or None when there is none."""
        if not self._done:
            return None
        action = self._done.pop()
        action.undo()
        self._undone.append(action)
        return action

    def redo(self) -> Action | None:
        """Redo the last undone action; returns it, or None when there is none."""
        if not self._undone:
            return None
        action = self._undone.pop()
        action.redo()
        self._done.append(action)
        return action

    def merge_last(self, n: int, description: str) -> None:
        """Make the last ``n`` actions one: undone and redone together, in order."""
        if n < 1 or n > len(self._done):
            raise ValueError(f"cannot merge the last {n} of {len(self._done)} actions")
        parts = self._done[-n:]
        del self._done[-n:]

        def undo() -> None:
            for a in reversed(parts):
                a.undo()

        def redo() -> None:
            for a in parts:
                a.redo()

        self._done.append(Action(description, undo, redo))

    def clear(self) -> None:
        """Forget everything."""
        self._done.clear()
        self._undone.clear()

    def __len__(self) -> int:
        return len(self._done)
