"""How the pipeline tells its caller what is happening, without printing itself.

`Project.sync` and the `Applier` speak to a `Reporter`; the CLI implements one that prints
(and draws the status line), tests use `Reporter` itself, which stays silent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from poorenv.lock.lockfile import Lock
    from poorenv.plan.actions import Action


class Reporter:
    """The silent reporter; subclasses override what they want to show."""

    def action(self, action: Action) -> None:
        """`action` is about to be carried out."""

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        """Wraps a long step (resolving, installing): a status line on a terminal."""
        yield

    def waiting(self, env: Path) -> None:
        """Another poorenv holds the env's lock; this one waits."""

    def relocked(self, old: Lock | None, new: Lock) -> None:
        """poorenv.lock was resolved anew during a sync."""
