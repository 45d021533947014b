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
    nbytes: int = 0  # memory held only for undoing it (the states of a structural edit)


class History:
    """A bounded undo/redo stack.

    Parameters
    ----------
    limit : int
        Oldest actions are dropped beyond this many.
    max_bytes : int
        Oldest actions are dropped while those kept hold more memory than this
        (their :attr:`Action.nbytes`; splits, merges and re-cuts hold copies of
        the features). The last action is always kept.
    """

    def __init__(self, limit: int = 200, max_bytes: int = 2 * 2**30) -> None:
        self.limit = int(limit)
        self.max_bytes = int(max_bytes)
        self._done: list[Action] = []
        self._undone: list[Action] = []

    def push(self, action: Action) -> None:
        """Record an action that was just performed (clears the redo stack)."""
        self._done.append(action)
        self._undone.clear()
        while len(self._done) > self.limit:
            del self._done[0]
        held = self.nbytes
        while len(self._done) > 1 and held > self.max_bytes:
            held -= self._done.pop(0).nbytes

    @property
    def nbytes(self) -> int:
        """Memory the undoable actions hold (the sum of their :attr:`Action.nbytes`)."""
        return sum(a.nbytes for a in self._done)

    @property
    def can_undo(self) -> bool:
        """Whether there is an action to undo."""
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        """Whether there is an action to redo."""
        return bool(self._undone)

    @property
    def last_done(self) -> Action | None:
        """The action the next undo would undo (None when there is none)."""
        return self._done[-1] if self._done else None

    @property
    def last_undone(self) -> Action | None:
        """The action the next redo would redo (None when there is none)."""
        return self._undone[-1] if self._undone else None

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

        self._done.append(Action(description, undo, redo, sum(a.nbytes for a in parts)))

    def clear(self) -> None:
        """Forget everything."""
        self._done.clear()
        self._undone.clear()

    def __len__(self) -> int:
        return len(self._done)
