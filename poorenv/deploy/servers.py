"""Serving an env from a server that embeds Python: mod_wsgi's python-home, uWSGI's home.

The server's Python is the libpython its module (mod_wsgi.so, uWSGI's python plugin) is linked
with; the env's stdlib mirror and compiled packages are the base's. Both must be one Python:
the same X.Y always, and the same libpython file wherever the module's can be found.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from poorenv.deploy.elf import NotELF, find_library, read_dynamic
from poorenv.discover.interpreter import Interpreter
from poorenv.errors import PoorenvError

MOD_WSGI_PLACES = (
    "/usr/lib/apache2/modules/mod_wsgi.so",  # Debian, Ubuntu
    "/usr/lib64/httpd/modules/mod_wsgi_python3.so",  # Fedora, RHEL
    "/usr/lib64/httpd/modules/mod_wsgi.so",
    "/usr/lib/httpd/modules/mod_wsgi.so",
    "/usr/libexec/apache2/mod_wsgi.so",
)
UWSGI_PLUGIN_DIRS = ("/usr/lib/uwsgi/plugins", "/usr/lib64/uwsgi", "/usr/lib/uwsgi")
LIBPYTHON = re.compile(r"^libpython(\d+)\.(\d+)(t?)")


class DeployError(PoorenvError):
    """The server's Python does not match the env, or cannot be found."""


@dataclass(frozen=True)
class EmbeddedPython:
    """What a server module embeds: found from the libpython it is linked with."""

    module: Path
    soname: str  # "libpython3.11.so.1.0"
    xy: str  # "3.11", "3.13t" for a free-threaded build
    library: Path | None  # where the loader finds it; None when it cannot be found

    def describe(self) -> str:
        where = f" ({self.library})" if self.library else " (not found on this machine)"
        return f"{self.module}: Python {self.xy}, {self.soname}{where}"


def find_mod_wsgi(given: Path | None = None) -> Path:
    return _first(given, MOD_WSGI_PLACES, "mod_wsgi", "the mod_wsgi module (mod_wsgi.so)")


def find_uwsgi_plugin(given: Path | None = None) -> Path:
    places: list[str] = []
    for directory in UWSGI_PLUGIN_DIRS:
        places.append(os.path.join(directory, "python3_plugin.so"))
        places += sorted(glob.glob(os.path.join(directory, "python3*_plugin.so")))
    uwsgi = shutil.which("uwsgi")
    if uwsgi:
        places.append(uwsgi)  # a build with Python linked in (pip install uwsgi)
    return _first(given, places, "uwsgi", "uWSGI's python plugin or a uwsgi binary")


def _first(given: Path | None, places: list[str] | tuple[str, ...], kind: str, what: str) -> Path:
    if given is not None:
        if not given.is_file():
            raise DeployError(f"--module {given}: no such file")
        return given
    for place in places:
        if os.path.isfile(place):
            return Path(place)
    raise DeployError(
        f"cannot find {what} on this machine",
        hint=f"install the server's Python module, or name it with --module (--format {kind})",
    )


def inspect(module: Path) -> EmbeddedPython:
    """The Python a server module is linked with."""
    try:
        dynamic = read_dynamic(module)
    except NotELF as exc:
        raise DeployError(f"cannot tell which Python {exc}") from None
    for name in dynamic.needed:
        match = LIBPYTHON.match(name)
        if match:
            xy = f"{match[1]}.{match[2]}{match[3]}"
            return EmbeddedPython(module, name, xy, find_library(name, dynamic))
    raise DeployError(
        f"cannot tell which Python {module} embeds: it is not linked with a libpython",
        hint="name the module that embeds Python with --module",
    )


def check(server: EmbeddedPython, base: Interpreter) -> None:
    """Refuse an env whose base is not the Python the server embeds."""
    env_xy = f"{base.xy}{'t' if base.free_threaded else ''}"
    if server.xy != env_xy:
        raise DeployError(
            f"{server.module} embeds Python {server.xy}, but the env's base is Python "
            f"{env_xy} ({base.executable})",
            hint=f'set [env] python = "{server.xy.rstrip("t")}" (the Python the server was built'
            " for) in poorenv.toml and run `poorenv sync`",
        )
    if server.library is None:
        return  # X.Y is all that can be told
    own = Path(base.libdir, server.soname)
    if not own.exists() or own.resolve() != server.library.resolve():
        found = own if own.exists() else f"no {server.soname} in {base.libdir}"
        raise DeployError(
            f"{server.module} embeds {server.library.resolve()}, not the env's base "
            f"{base.executable} ({found})",
            hint="build the env on the Python the server was linked with, e.g. "
            f'[env] python = "{_python_of(server.library)}"',
        )


def _python_of(library: Path) -> str:
    """A guess at the interpreter that goes with a system libpython, for a hint."""
    match = LIBPYTHON.match(library.name)
    xy = f"{match[1]}.{match[2]}" if match else "3"
    for candidate in (f"/usr/bin/python{xy}", f"/usr/local/bin/python{xy}"):
        if os.path.exists(candidate):
            return candidate
    return xy


def unreadable(env: Path) -> Path | None:
    """The first directory on the way to `env` that other users cannot enter, if any.

    Apache's workers and most uWSGI deployments run as another user than the one who synced.
    """
    for path in (*reversed(env.resolve().parents), env.resolve()):
        try:
            mode = path.stat().st_mode
        except OSError:
            return path
        if not mode & stat.S_IXOTH:
            return path
    return None


def _quote(text: str) -> str:
    return f'"{text}"' if any(c.isspace() or c == '"' for c in text) else text


def mod_wsgi_config(env: Path, base: Interpreter, server: EmbeddedPython, group: str) -> str:
    home = _quote(str(env))
    option = _quote(f"python-home={env}")
    return "\n".join(
        [
            f"# Apache + mod_wsgi for the poorenv env {env}",
            f"# base: {base.implementation} {base.version} {base.executable}",
            f"# checked against {server.describe()}",
            "# The app runs in the daemon process group below: python-home applies only to a",
            "# daemon process group, and WSGIRestrictEmbedded keeps Python out of Apache's own",
            "# workers. After `poorenv deploy` (or sync), touch the WSGI script file: the daemon",
            f"# processes of {group} restart at the next request, from the env path's new target",
            "# (`apachectl graceful` does too, but restarting Apache may cut a request).",
            f"WSGIPythonHome {home}",
            "WSGIRestrictEmbedded On",
            f"WSGIDaemonProcess {group} {option}",
            f"WSGIProcessGroup {group}",
            "WSGIApplicationGroup %{GLOBAL}",
            "",
        ]
    )


def uwsgi_config(env: Path, base: Interpreter, server: EmbeddedPython) -> str:
    lines = [
        f"# uWSGI for the poorenv env {env}",
        f"# base: {base.implementation} {base.version} {base.executable}",
        f"# checked against {server.describe()}",
        "# The master starts Python from home once. After `poorenv deploy` (or sync), reload"
        " the whole",
        "# instance (touch-reload, or SIGHUP to the master): the master re-executes itself and"
        " starts",
        "# from the env path's new target. A chain reload (touch-chain-reload) only forks new"
        " workers",
        "# from the old master: its Python and what it imported stay the old generation's.",
        "[uwsgi]",
        "master = true",
    ]
    name = server.module.name
    if name.endswith("_plugin.so"):
        in_dir = str(server.module.parent) in UWSGI_PLUGIN_DIRS
        lines.append(f"plugins = {name[: -len('_plugin.so')] if in_dir else server.module}")
    lines += [f"home = {env}", ""]
    return "\n".join(lines)


def process_group_name(project_dir: Path) -> str:
    """A WSGIDaemonProcess name from the project directory's name."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", project_dir.name).strip("-.")
    return name or "poorenv"


def server_config(
    fmt: str,
    env: Path,
    base: Interpreter,
    project_dir: Path,
    module: Path | None,
    group: str | None,
    user: str | None = None,
    app: Path | None = None,
) -> tuple[str, list[str]]:
    """`export --format mod_wsgi|uwsgi`: the checked configuration text, and warnings. With
    `user`, refuses (deploy.readable.Unreadable) unless that user can read the env, `app` and
    the base files the env and the server load."""
    find = find_mod_wsgi if fmt == "mod_wsgi" else find_uwsgi_plugin
    server = inspect(find(module))
    check(server, base)
    if user is not None:
        from poorenv.deploy.readable import check_server_user

        extra = [server.library] if server.library is not None else []
        check_server_user(user, env, base.executable, app, extra)
    if fmt == "mod_wsgi":
        text = mod_wsgi_config(env, base, server, group or process_group_name(project_dir))
    else:
        text = uwsgi_config(env, base, server)
    warnings = []
    if not env.is_dir():
        warnings.append(f"{env} does not exist yet; run `poorenv sync`")
    else:
        closed = unreadable(env)
        if closed is not None:
            warnings.append(
                f"other users cannot enter {closed}: a server running as another"
                " user (Apache's www-data) cannot load the env"
            )
    return text, warnings
