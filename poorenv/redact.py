"""Credentials: the one place that removes them from text, URLs and command lines.

Index URLs may carry `user:password@`. Nothing poorenv prints, logs, records or hands to
another tool in its argv may show them.

Imported on the no-op fast path (the stamp keeps poorenv.toml's text redacted): it imports
nothing at the top, and `redact` is plain string work, no regular expression.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

MASK = "***"
# Where a URL's authority (`user:password@host:port`) ends: its path, query or fragment, or
# what cannot be part of a URL at all (the end of a word, a quote around it).
_AUTHORITY_ENDS = frozenset('/?#"<>\\`') | frozenset(" \t\r\n\f\v")


def redact(text: str) -> str:
    """Text with the credentials of every URL in it masked (`https://***@host/...`).

    Everything between `://` and the last `@` of the authority is masked, so that a password
    holding an unencoded `@` does not leave its tail behind.
    """
    if "@" not in text or "://" not in text:
        return text
    out: list[str] = []
    done = 0
    start = text.find("://")
    while start != -1:
        begin = start + 3
        end = begin
        while end < len(text) and text[end] not in _AUTHORITY_ENDS:
            end += 1
        at = text.rfind("@", begin, end)
        if at > begin:
            out.append(text[done:begin])
            out.append(MASK)
            done = at
        start = text.find("://", end)
    out.append(text[done:])
    return "".join(out)


def redact_argv(argv: Iterable[object]) -> list[str]:
    """A command line, each word redacted, for logs and error messages."""
    return [redact(str(word)) for word in argv]


def strip_credentials(url: str) -> str:
    """`url` without its `user:password@` (for files that are shared, such as a lock)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
