"""Credentials: the one place that removes them from text, URLs and command lines.

Index URLs may carry `user:password@`. Nothing poorenv prints, logs, records or hands to
another tool in its argv may show them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def redact(text: str) -> str:
    """Text with the credentials of every URL in it masked (`https://***@host/...`)."""
    return _CREDENTIALS.sub("***@", text)


def redact_argv(argv: Iterable[object]) -> list[str]:
    """A command line, each word redacted, for logs and error messages."""
    return [redact(str(word)) for word in argv]


def strip_credentials(url: str) -> str:
    """`url` without its `user:password@` (for files that are shared, such as a lock)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
