"""A status line for long steps (resolving, installing) on a terminal; silent anywhere else.

Shown only when stderr is a terminal, not under CI (`CI` set), not with -q or --json, and not
when TERM is "dumb". It is one line, rewritten in place with the elapsed time, and erased when
the step ends, so logs and pipes never see it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TextIO


def wanted(
    quiet: bool, stream: TextIO = sys.stderr, environ: Mapping[str, str] = os.environ
) -> bool:
    if quiet or environ.get("CI") or environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


def color(stream: TextIO | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org). `stream`:
    the one to print on, sys.stderr as it is now (not as it was at import)."""
    stream = stream or sys.stderr
    return not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb" and stream.isatty()


class Progress:
    def __init__(self, enabled: bool, stream: TextIO = sys.stderr) -> None:
        self.enabled = enabled
        self.stream = stream

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        stop = threading.Event()
        start = time.monotonic()

        def tick() -> None:
            while not stop.wait(0.2):
                self._write(f"{text} ({time.monotonic() - start:.0f} s)")

        self._write(f"{text} ...")
        thread = threading.Thread(target=tick, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self._write("")

    def _write(self, text: str) -> None:
        self.stream.write(f"\r\033[K{text}")
        self.stream.flush()
