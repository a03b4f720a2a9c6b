"""Hostile poorenv.lock files, built locally as a pull request could: a field edited, and the
content-hash computed again so that only the lock's grammar stands in the way."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from poorenv.config import loads_toml

Edit = Callable[[dict[str, Any]], None]
OTHER_FILE = "other-file.txt"  # a file of the project that a hostile lock names
OTHER_LINE = "poorenv-test-line-of-another-file"  # its line, which no output may show


def content_hash(data: Mapping[str, Any]) -> str:
    """The content-hash of `data`'s raw values, computed as poorenv computes it."""
    interp = data["interpreter"]
    fields = ("implementation", "python", "version", "abi", "platform")
    body = {
        "input-hash": data["input-hash"],
        "interpreter": [interp.get(key) for key in fields],
        "packages": [
            [p.get("name"), p.get("version"), list(p.get("hashes", [])), p.get("markers")]
            for p in data["package"]
        ],
    }
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def make_hostile(path: Path, edit: Edit) -> None:
    """Apply `edit` to the lock at `path` and seal it again with a right content-hash."""
    import tomli_w

    data = loads_toml(path.read_text(encoding="utf-8"))
    edit(data)
    data["content-hash"] = content_hash(data)
    path.write_text(tomli_w.dumps(data), encoding="utf-8")


def _package(index: int, key: str, value: object) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data["package"][index][key] = value

    return edit


def _interpreter(key: str, value: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data["interpreter"][key] = value

    return edit


def _top(key: str, value: object) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data[key] = value

    return edit


def _twice(data: dict[str, Any]) -> None:
    data["package"].append(dict(data["package"][0]))


def _hash(index: int, value: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data["package"][index]["hashes"] = [value]

    return edit


# (id, edit of package[0]/the lock, what the error line must name)
HOSTILE: list[tuple[str, Edit, str]] = [
    ("name-newline-find-links", _package(0, "name", "alpha\n--find-links /tmp/x"),
     "package[0] name: not a package name: 'alpha\\n--find-links /tmp/x'"),
    ("name-spaces", _package(0, "name", "al pha"), "package[0] name: not a package name"),
    ("name-requirement-file", _package(0, "name", "-r /etc/passwd"), "package[0] name:"),
    ("version-index-url", _package(0, "version", "1.0 --index-url x"),
     "package[0] (alpha) version: not a PEP 440 version"),
    ("version-newline-no-index", _package(0, "version", "1.0\n--no-index"),
     "package[0] (alpha) version:"),
    ("version-newline-requirement-file", _package(0, "version", f"1.0\n-r {OTHER_FILE}"),
     "package[0] (alpha) version:"),
    ("version-false-marker", _package(0, "version", '1.0 ; python_version < "1"'),
     "package[0] (alpha) version:"),
    ("markers-newline-find-links", _package(0, "markers", 'python_version >= "3"\n-f /tmp/x'),
     "package[0] (alpha) markers:"),
    ("markers-second-marker", _package(0, "markers", 'python_version >= "3" ; os_name == "x"'),
     "package[0] (alpha) markers: not PEP 508 markers"),
    ("markers-comment", _package(0, "markers", 'os_name == "x #" \\'),
     "package[0] (alpha) markers:"),
    ("hash-short", _hash(0, "sha256:" + "a" * 63),
     "package[0] (alpha) hashes: not a sha256 hash (64 lowercase hex digits)"),
    ("hash-newline-requirement-file", _hash(0, "sha256:" + "a" * 64 + f"\n-r {OTHER_FILE}"),
     "package[0] (alpha) hashes:"),
    ("name-twice", _twice, "(alpha) name: listed twice (package[0])"),
    ("package-unknown-key", _package(0, "url", "file:///tmp/x.whl"),
     "package[0] (alpha) 'url': unknown key"),
    ("lock-unknown-key", _top("index-url", "https://example.invalid/simple"),
     "'index-url': unknown key"),
    ("platform-newline", _interpreter("platform", "linux-x86_64\n--index-url http://x.invalid"),
     "[interpreter] platform: does not look like an interpreter's platform"),
    ("created-by-newline", _top("created-by", "poorenv\n--no-index"),
     "created-by: holds a control character"),
    ("input-hash-short", _top("input-hash", "sha256:abc"), "input-hash: not sha256"),
]  # fmt: skip
