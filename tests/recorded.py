"""Real interpreters, as recorded on the development machine (tests/data/interpreters, made by
its record.py): each probe's answer and the files discovery sees of it. Tests build
`Interpreter` objects from them the way the real probe does, and start no interpreter."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poorenv.discover import interpreter
from poorenv.discover.interpreter import Interpreter

DATA = Path(__file__).parent / "data" / "interpreters"


@dataclass(frozen=True)
class Recorded:
    """One recorded interpreter."""

    name: str  # "pyenv-3.11.7", "debian-3.11", "venv-3.12.1"
    files: tuple[str, ...]  # `python3` and `python3.N` in its bin dir, where it was recorded
    answer: dict[str, Any]  # what the probe printed, as is
    pyenv_root: str | None = None  # for pyenv's versions: the root they were found under

    @property
    def version(self) -> str:
        return str(self.answer["version"])

    def facts(self, executable: Path | None = None) -> Interpreter:
        """What the probe's answer makes of it: its facts, or the refusal (InterpreterError).
        `executable` is the path the probe was asked about (only error messages show it)."""
        return interpreter.from_answer(executable or Path(self.files[-1]), self.answer)


def load(name: str) -> Recorded:
    data = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    return Recorded(
        name=data["name"],
        files=tuple(data["files"]),
        answer=data["probe"],
        pyenv_root=data.get("pyenv_root"),
    )


def names() -> list[str]:
    return sorted(path.stem for path in DATA.glob("*.json"))
