"""Whether the server's user can read the env: told by permission bits, without becoming that user.

Apache's and uWSGI's workers run as another user (www-data) than the one who synced. To serve
the env that user must enter every directory on the way to it and read every file in it, the
app file, and every base file the env leads to: the stdlib its mirror links to, the interpreter,
and the libpython the interpreter (or the server's module) loads. `check_readable` walks each
path as the kernel would (component by component, following links, each directory needing
search permission), then every file and directory inside, and raises `Unreadable` naming the
first path the user cannot reach or read: an env under a directory of mode 0700, a base
installed under root's home.

The test is the kernel's for the mode bits: the owner's bits when the user owns the file, else
the group's when the file's group is the user's primary or a supplementary group (pwd, grp),
else the others'. root reads everything. ACLs and security modules are not looked at.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from poorenv.errors import PoorenvError

_LIBPYTHON = re.compile(r"^libpython\d")
_MAX_LINKS = 40  # as the kernel's ELOOP limit
_READ, _ENTER = 4, 1  # the r and x bits, in each of the owner/group/other triples


class Unreadable(PoorenvError):
    """The server's user cannot reach or read a path the server needs (or is no user)."""


@dataclass(frozen=True)
class Account:
    """A user as the kernel sees it for file access: uid and every group."""

    name: str
    uid: int
    gids: frozenset[int]

    @classmethod
    def lookup(cls, name: str) -> Account:
        """The account called `name` from the user and group databases (a number is a uid)."""
        import grp
        import pwd

        try:
            entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
        except KeyError:
            raise Unreadable(
                f"--user {name}: no such user on this machine",
                hint="name the user the server's workers run as (Apache's www-data)",
            ) from None
        gids = {entry.pw_gid}
        gids.update(g.gr_gid for g in grp.getgrall() if entry.pw_name in g.gr_mem)
        return cls(entry.pw_name, entry.pw_uid, frozenset(gids))

    def allows(self, info: os.stat_result, bit: int) -> bool:
        """Whether the mode bits of `info` grant this user `bit` (_READ or _ENTER)."""
        if self.uid == 0:
            return True  # reads and searches whatever the bits say
        mode = info.st_mode
        if info.st_uid == self.uid:
            return bool(mode >> 6 & bit)
        if info.st_gid in self.gids:
            return bool(mode >> 3 & bit)
        return bool(mode & bit)


def check_readable(user: str | Account, paths: Iterable[Path | str], what: str = "") -> None:
    """Raise Unreadable naming the first of `paths` (or the first directory on the way, or the
    first file inside a directory, or a link's target) that `user` cannot reach or read.
    `what` says what the paths are for the message ("the env", "the app file")."""
    account = user if isinstance(user, Account) else Account.lookup(user)
    walker = _Walker(account, what)
    for path in paths:
        walker.tree(os.path.abspath(path))


class _Walker:
    def __init__(self, account: Account, what: str) -> None:
        self.account = account
        self.what = what
        self.entered: set[str] = set()  # real directories known enterable
        self.done: set[str] = set()  # real paths known readable (trees walked)

    def tree(self, path: str) -> None:
        """`path` readable, and when it is a directory everything in it (links followed)."""
        real = self.reach(path, path)
        if real in self.done:
            return
        self.done.add(real)
        info = self._stat(real, path)
        if not stat.S_ISDIR(info.st_mode):
            return
        self._need(real, info, _ENTER, path)
        for directory, dirs, files in os.walk(real):
            for name in sorted(dirs + files):
                inner = os.path.join(directory, name)
                if os.path.islink(inner):
                    self.tree(inner)  # its target, wherever it leads (the base)
                    continue
                info = self._stat(inner, inner)
                self._need(inner, info, _READ, inner)
                if stat.S_ISDIR(info.st_mode):
                    self._need(inner, info, _ENTER, inner)
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(directory, d))]

    def reach(self, path: str, asked: str, depth: int = 0) -> str:
        """Follow `path` component by component as the kernel does, each directory on the way
        needing search permission; the real path it leads to, checked readable."""
        if depth > _MAX_LINKS:
            raise Unreadable(f"{asked}: too many levels of symbolic links")
        current = "/"
        self._enter(current, asked)
        parts = [p for p in path.split(os.sep) if p]
        for index, part in enumerate(parts):
            following = os.path.join(current, part)
            info = self._lstat(following, asked)
            if stat.S_ISLNK(info.st_mode):
                target = os.path.join(current, os.readlink(following))
                following = self.reach(os.path.normpath(target), asked, depth + 1)
            elif part == "..":
                following = os.path.dirname(current)
            if index < len(parts) - 1:
                self._enter(following, asked)
            current = following
        info = self._stat(current, asked)
        self._need(current, info, _READ, asked)
        return current

    def _enter(self, directory: str, asked: str) -> None:
        if directory in self.entered:
            return
        info = self._stat(directory, asked)
        if not stat.S_ISDIR(info.st_mode):
            raise Unreadable(f"{asked}: {directory} is not a directory")
        self._need(directory, info, _ENTER, asked)
        self.entered.add(directory)

    def _need(self, path: str, info: os.stat_result, bit: int, asked: str) -> None:
        if self.account.allows(info, bit):
            return
        verb = "enter" if bit == _ENTER else "read"
        owner = _name_of_uid(info.st_uid)
        mode = stat.S_IMODE(info.st_mode)
        whose = f"{self.what} " if self.what else ""
        if path == asked:
            shown = f" ({self.what})" if self.what else ""
        else:
            shown = f" (on the way to {whose}{asked})"
        fix = "o+x" if bit == _ENTER else ("o+rX" if stat.S_ISDIR(info.st_mode) else "o+r")
        raise Unreadable(
            f"user {self.account.name} cannot {verb} {path}{shown}: mode {mode:04o}, owner {owner}",
            hint=f"chmod {fix} {path}, or put it where {self.account.name} can read it",
        )

    def _stat(self, path: str, asked: str) -> os.stat_result:
        try:
            return os.stat(path)
        except OSError as exc:
            raise Unreadable(f"{asked}: {path}: {exc.strerror}") from None

    def _lstat(self, path: str, asked: str) -> os.stat_result:
        try:
            return os.lstat(path)
        except OSError as exc:
            raise Unreadable(f"{asked}: {path}: {exc.strerror}") from None


def libpythons(executable: Path | str) -> list[Path]:
    """The libpython files an interpreter (or a server module) loads, found as the loader would
    (none for a statically linked interpreter)."""
    from poorenv.deploy.elf import NotELF, find_library, read_dynamic

    try:
        dynamic = read_dynamic(Path(executable))
    except (NotELF, OSError):
        return []
    found = [find_library(name, dynamic) for name in dynamic.needed if _LIBPYTHON.match(name)]
    return [library for library in found if library is not None]


def check_server_user(
    user: str, env: Path, base_executable: str, app: Path | None = None, extra: Iterable[Path] = ()
) -> None:
    """What a server running as `user` reads: the env (and every base file it links to), the
    app file, the libpython of the env's interpreter, and `extra` (the server module's)."""
    account = Account.lookup(user)
    check_readable(account, [env], "the env")
    if app is not None:
        check_readable(account, [app], "the app file")
    check_readable(account, [*libpythons(base_executable), *extra], "the base's libpython")


def _name_of_uid(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
