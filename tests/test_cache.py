"""poorenv.cache: the cache is made private, and an entry that is not the user's own, or that
others can write, is ignored with one warning while a temporary cache serves the run.

Entries of another user are made with os.chown, which needs root (those tests skip without it);
entries writable by others need nothing special.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from poorenv import cache
from poorenv.errors import EnvError

NOBODY = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[Path]:
    """A cache of the test's own, not made yet (undone before the autouse environment guard)."""
    path = tmp_path / "mine" / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POORENV_CACHE_DIR", str(path))
        yield path


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_cache_is_made_private(configured: Path) -> None:
    old = os.umask(0o002)  # a umask that would make everything group-writable
    try:
        assert cache.root() == configured
        entry = cache.directory("interpreters", "deep")
        with cache.private():
            (entry / "answer.json").write_text("{}")
    finally:
        os.umask(old)
    assert mode(configured) == 0o700
    assert mode(configured / "interpreters") == mode(entry) == 0o700
    assert mode(entry / "answer.json") == 0o600
    assert os.umask(old) == old  # private() gave the umask back


def test_a_missing_parent_is_made_but_never_a_missing_home(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("POORENV_CACHE_DIR")
        mp.delenv("XDG_CACHE_HOME", raising=False)
        mp.setenv("HOME", str(tmp_path / "user"))
        (tmp_path / "user").mkdir()
        assert cache.root() == tmp_path / "user" / ".cache" / "poorenv"  # ~/.cache made
        assert mode(tmp_path / "user" / ".cache") == 0o700
        mp.setenv("HOME", str(tmp_path / "nonexistent"))
        used = cache.root()
    assert not (tmp_path / "nonexistent").exists()
    assert used.is_dir() and not used.is_relative_to(tmp_path)
    assert warnings(caplog) == [
        f"poorenv's cache {tmp_path}/nonexistent/.cache/poorenv: {tmp_path}/nonexistent does"
        " not exist; not used: this run uses a temporary cache"
    ]


def test_xdg_cache_home_naming_a_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("POORENV_CACHE_DIR")
        mp.setenv("XDG_CACHE_HOME", str(afile))
        used = cache.directory("seed")
        assert cache.directory("locks").parent == used.parent  # the same temporary cache
    assert used.is_dir() and afile.read_text() == "x"
    assert warnings(caplog) == [
        f"poorenv's cache {afile}/poorenv: cannot create it: Not a directory; not used:"
        " this run uses a temporary cache"
    ]


@pytest.mark.parametrize("bits", [0o020, 0o002], ids=["group", "others"])
def test_a_cache_others_can_write_is_not_used(
    configured: Path, caplog: pytest.LogCaptureFixture, bits: int
) -> None:
    configured.mkdir(parents=True)
    configured.chmod(0o700 | bits)
    assert cache.root() != configured
    assert list(configured.iterdir()) == []
    (line,) = warnings(caplog)
    assert line.startswith(f"poorenv's cache {configured}: writable by others than you")


def test_a_cache_that_cannot_be_written_is_not_used(
    configured: Path, caplog: pytest.LogCaptureFixture
) -> None:
    configured.mkdir(parents=True, mode=0o700)
    real_access = os.access

    def access(path: object, how: int, **kwargs: object) -> bool:
        return False if str(path) == str(configured) else real_access(path, how)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "access", access)  # as a read-only mount would answer (root can write)
        assert cache.root() != configured
    assert warnings(caplog) == [
        f"poorenv's cache {configured}: not writable by you; not used:"
        " this run uses a temporary cache"
    ]


@needs_root
def test_a_cache_of_another_user_is_not_used(
    configured: Path, caplog: pytest.LogCaptureFixture
) -> None:
    configured.mkdir(parents=True, mode=0o700)
    os.chown(configured, NOBODY, NOBODY)
    used = cache.directory("interpreters")
    assert not used.is_relative_to(configured)
    assert list(configured.iterdir()) == []  # nothing written into it
    (line,) = warnings(caplog)
    assert line.startswith(f"poorenv's cache {configured}: owned by ")
    assert "(uid 65534), not by you" in line


@needs_root
def test_a_parent_another_user_could_swap_is_not_trusted(
    configured: Path, caplog: pytest.LogCaptureFixture
) -> None:
    configured.parent.mkdir()
    os.chown(configured.parent, NOBODY, NOBODY)
    assert cache.root() != configured
    assert f"{configured.parent} belongs to " in warnings(caplog)[0]


def test_a_world_writable_parent_without_sticky_bit_is_not_trusted(
    configured: Path, caplog: pytest.LogCaptureFixture
) -> None:
    configured.parent.mkdir()
    configured.parent.chmod(0o777)
    assert cache.root() != configured
    assert f"{configured.parent} is writable by everyone" in warnings(caplog)[0]
    configured.parent.chmod(0o1777)  # sticky, as /tmp: nobody can rename another's entry
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POORENV_CACHE_DIR", f"{configured.parent}/../mine/cache")  # looked at anew
        assert cache.root() == configured


# --- entries -------------------------------------------------------------------------------


def test_entries_of_the_user_are_trusted(configured: Path) -> None:
    entry = cache.directory("seed", "cpython-3.12") / "pip-24.0-py3-none-any.whl"
    entry.write_bytes(b"")
    assert cache.untrusted(entry) is None
    assert cache.untrusted(entry.with_name("missing")) is None  # nothing there to distrust
    assert cache.trusted(entry)


@pytest.mark.parametrize("where", ["entry", "directory on the way"])
def test_an_entry_others_can_write_is_not_trusted(configured: Path, where: str) -> None:
    entry = cache.directory("seed", "cpython-3.12") / "pip.whl"
    entry.write_bytes(b"")
    culprit = entry if where == "entry" else entry.parent
    culprit.chmod(mode(culprit) | 0o002)
    assert cache.untrusted(entry) == f"{culprit} is writable by others than you"


def test_a_symlink_on_the_way_is_not_trusted(configured: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (cache.root() / "seed").symlink_to(elsewhere)
    assert cache.untrusted(cache.root() / "seed" / "x.whl") == (
        f"{cache.root() / 'seed'} is a symbolic link"
    )


def test_a_tree_is_checked_to_its_last_file(configured: Path) -> None:
    tree = cache.directory("seed", "pip.run")
    deep = tree / "pip" / "_internal" / "cli"
    deep.mkdir(parents=True)
    (deep / "main.py").write_text("")
    (tree / "link").symlink_to("pip")  # the user's own link inside a tree may stay
    assert cache.untrusted(tree, tree=True) is None
    (deep / "main.py").chmod(0o646)
    assert cache.untrusted(tree) is None  # only the way down to it
    assert cache.untrusted(tree, tree=True) == f"{deep / 'main.py'} is writable by others than you"


@needs_root
def test_an_entry_of_another_user_is_not_trusted(configured: Path) -> None:
    entry = cache.directory("interpreters") / "a.json"
    entry.write_text("{}")
    os.chown(entry, NOBODY, NOBODY)
    reason = cache.untrusted(entry) or ""
    assert reason.startswith(f"{entry} is owned by ") and "(uid 65534)" in reason


def test_giving_up_warns_once_and_moves_the_run_to_a_temporary_cache(
    configured: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entry = cache.directory("interpreters") / "a.json"
    entry.write_text("{}")
    entry.chmod(0o666)
    assert not cache.trusted(entry)
    temporary = cache.root()
    assert temporary != configured and stat.S_IMODE(temporary.stat().st_mode) == 0o700
    cache.warn(temporary / "x", "anything else")  # still one warning in all
    assert warnings(caplog) == [
        f"poorenv's cache {configured}: {entry} is writable by others than you; not used:"
        " this run uses a temporary cache"
    ]
    with pytest.raises(EnvError, match="poorenv's temporary cache"):
        cache.give_up("even the temporary cache is not trusted")


def test_tools_keep_their_caches_in_the_temporary_cache(
    configured: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from poorenv import _run

    seen: list[dict[str, str]] = []

    def spawn(argv: list[str], env: dict[str, str], *rest: object) -> _run.Result:
        seen.append(env)
        return _run.Result(tuple(argv), 0, "", "")

    monkeypatch.setattr(_run, "_spawn", spawn)
    assert cache.root() == configured
    assert cache.children_environ() == {}  # a usable cache: the tools' own settings stand
    _run.run(["pip"], what="pip")
    assert seen[-1].get("XDG_CACHE_HOME") == os.environ.get("XDG_CACHE_HOME")
    cache.give_up("a test")
    _run.run(["pip"], what="pip", env={"XDG_CACHE_HOME": "/a/file"})
    assert seen[-1]["XDG_CACHE_HOME"] == str(cache.root() / "tools")


def test_env_locks_stay_shared_when_the_cache_is_not_trusted(tmp_path: Path) -> None:
    """A temporary cache is one process's alone: the env locks of two runs must still meet, or
    two syncs of one env would no longer wait for each other."""
    import subprocess
    import sys

    shared_cache = tmp_path / "cache"
    shared_cache.mkdir()
    shared_cache.chmod(0o777)  # writable by others: not trusted
    code = "from poorenv import cache; print(cache.lock_dir()); print(cache.root())"
    env = {**os.environ, "POORENV_CACHE_DIR": str(shared_cache)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in range(2)
    ]
    (lock_a, root_a), (lock_b, root_b) = runs
    assert root_a != root_b  # each run its own temporary cache
    assert lock_a == lock_b  # but one place for the env locks
    assert not lock_a.startswith((root_a, str(shared_cache)))
    assert os.stat(lock_a).st_mode & 0o777 == 0o700
