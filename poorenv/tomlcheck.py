"""Type checks of a parsed TOML mapping whose errors name the file, table and key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from poorenv.errors import ConfigError

_CONTROL = re.compile("[\x00-\x1f\x7f]")


class Where:
    """Type checks that name the file, table and key of what is wrong."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def error(self, table: str, key: str, message: str, hint: str | None = None) -> ConfigError:
        name = f"[{table}] {key}" if table and key else (f"[{table}]" if table else key)
        return ConfigError(f"{self.file}: {name}: {message}", hint=hint)

    def keys(self, mapping: Mapping[str, Any], allowed: tuple[str, ...], table: str) -> None:
        for key in mapping:
            if key not in allowed:
                import difflib

                close = difflib.get_close_matches(key, allowed, n=1)
                hint = (
                    f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(allowed)}"
                )
                what = "table" if not table else "key"
                raise self.error(table, key, f"unknown {what}", hint=hint)

    def table(self, data: Mapping[str, Any], key: str, required: bool = False) -> Mapping[str, Any]:
        value = data.get(key)
        if value is None:
            if required:
                raise self.error(key, "", "missing table", hint='add [env] with python = "3.12"')
            return {}
        if not isinstance(value, Mapping):
            raise self.error("", key, f"expected a table, got {type_name(value)}")
        return value

    def string(
        self,
        mapping: Mapping[str, Any],
        key: str,
        table: str,
        required: bool = False,
        text: bool = False,
    ) -> str | None:
        """The string at `key`; `text`: a path, URL or version, so no control characters."""
        value = mapping.get(key)
        if value is None:
            if required:
                raise self.error(table, key, "missing", hint='for example python = "3.12"')
            return None
        if not isinstance(value, str):
            hint = None
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                hint = f'quote it: {key} = "{value}"; unquoted, TOML reads a number'
                hint += " (and 3.10 as 3.1)" if isinstance(value, float) else ""
            raise self.error(table, key, f"expected a string, got {type_name(value)}", hint=hint)
        if text:
            self.printable(value, table, key)
        return value

    def printable(self, value: str, table: str, key: str) -> None:
        """Refuse control characters (a NUL, a newline): no path, URL or requirement has one.
        Every array of strings is such; single strings ask for it (`text`)."""
        bad = _CONTROL.search(value)
        if bad:
            code = f"U+{ord(bad.group()):04X}"
            raise self.error(table, key, f"{value!r} contains the control character {code}")

    def strings(
        self,
        mapping: Mapping[str, Any],
        key: str,
        table: str,
        default: tuple[str, ...] = (),
    ) -> tuple[str, ...]:
        value = mapping.get(key)
        if value is None:
            return default
        if not isinstance(value, list):
            raise self.error(table, key, f"expected an array of strings, got {type_name(value)}")
        for item in value:
            if not isinstance(item, str):
                raise self.error(table, key, f"expected strings, found {type_name(item)}")
            if not item.strip():
                raise self.error(table, key, "an empty string is not allowed")
            self.printable(item, table, key)
        return tuple(value)

    def boolean(self, mapping: Mapping[str, Any], key: str, table: str) -> bool:
        value = mapping.get(key, False)
        if not isinstance(value, bool):
            raise self.error(table, key, f"expected true or false, got {type_name(value)}")
        return value


def type_name(value: object) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
    }
    for kind, name in names.items():
        if type(value) is kind:
            return name
    if isinstance(value, Mapping):
        return "a table"
    return type(value).__name__
