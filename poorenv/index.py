"""`[index]` as the tools read it: environment variables, never command-line words.

Index URLs may carry credentials (`https://user:password@host/simple`), and a child's argv is
public (`ps`, /proc/PID/cmdline, strace logs, poorenv's own --debug lines). So pip, pip-compile
and uv get the index settings through their environment, built here and nowhere else, and
every command line poorenv starts holds no URL of `[index]`.

pip and pip-compile (which parses its options with pip's own parser) read PIP_INDEX_URL,
PIP_EXTRA_INDEX_URL and PIP_FIND_LINKS (whitespace-separated lists) and PIP_NO_INDEX; uv reads
UV_DEFAULT_INDEX, UV_INDEX (whitespace-separated) and UV_FIND_LINKS (comma-separated). uv 0.13
reads no variable for `--no-index`: `uv_flags` gives uv that one switch, which holds no URL.
A key that `[index]` sets replaces the tool's own setting of it (pip.conf, uv.toml, a PIP_* or
UV_* variable of the caller); a key it leaves out leaves the tool's own configuration be.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from poorenv.config import IndexConfig

UV_NO_INDEX = "UV_NO_INDEX"  # set for uv's sake; uv 0.13 ignores it, so `uv_flags` reads it
VARIABLES = (  # every variable index_environ may set; `_run` shows them, redacted, with -v
    "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX",
    "UV_DEFAULT_INDEX", "UV_INDEX", "UV_FIND_LINKS", UV_NO_INDEX,
)  # fmt: skip


def index_environ(index: IndexConfig, project_dir: Path) -> dict[str, str]:
    """The variables that give pip, pip-compile and uv the settings of `[index]`.

    The values may hold credentials: pass them as `env=` to `_run.run`, never log them.
    Local find-links directories (relative to `project_dir`) become `file:` URLs, so that a
    path with a space or a comma survives the lists' separators.
    """
    env: dict[str, str] = {}
    if index.url:
        env["PIP_INDEX_URL"] = env["UV_DEFAULT_INDEX"] = _word(index.url)
    if index.extra_urls:
        env["PIP_EXTRA_INDEX_URL"] = env["UV_INDEX"] = " ".join(map(_word, index.extra_urls))
    if index.find_links:
        links = [_link(link, project_dir) for link in index.find_links]
        env["PIP_FIND_LINKS"] = " ".join(links)
        env["UV_FIND_LINKS"] = ",".join(link.replace(",", "%2C") for link in links)
    if index.no_index:
        env["PIP_NO_INDEX"] = env[UV_NO_INDEX] = "1"
    return env


def uv_flags(environ: Mapping[str, str]) -> list[str]:
    """uv's options for what it reads from no variable: `--no-index` (never a URL)."""
    return ["--no-index"] if environ.get(UV_NO_INDEX) == "1" else []


def _link(link: str, project_dir: Path) -> str:
    from poorenv.errors import ConfigError
    from poorenv.paths import CONFIG_NAME, resolve

    if "://" in link:
        return _word(link)
    try:
        local = resolve(project_dir / link)
    except OSError as exc:  # a symlink loop
        raise ConfigError(
            f"{project_dir / CONFIG_NAME}: [index] find-links: {link}: {exc.strerror}"
        ) from None
    return local.as_uri()  # percent-encodes spaces and commas


def _word(url: str) -> str:
    """`url` as one item of a whitespace-separated list: a space cannot be in a URL as such."""
    return url.strip().replace(" ", "%20")
