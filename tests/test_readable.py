"""deploy/readable.py: whether the server's user can reach and read the env, the app file and
the base files, told from mode bits, owners and groups without becoming that user."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from poorenv.deploy import readable
from poorenv.deploy.readable import Account, Unreadable, check_readable
from poorenv.discover.interpreter import probe
from tests import servers
from tests.conftest import write_config
from tests.helpers import ok
from tests.offline import HERE_PYTHON, run
from tests.test_deploy import DEBIAN_PYTHON

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown")
STRANGER = Account("stranger", 12345, frozenset({12345}))


def refused(account: Account, *paths: Path, what: str = "") -> str:
    with pytest.raises(Unreadable) as caught:
        check_readable(account, paths, what)
    assert caught.value.exit_code == 2
    return caught.value.message


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A directory anyone can enter (pytest's tmp_path is private to its user)."""
    where = Path(tempfile.mkdtemp(prefix="poorenv-readable-"))
    where.chmod(0o755)
    try:
        yield where
    finally:
        shutil.rmtree(where, ignore_errors=True)


def an_env(root: Path) -> Path:
    env = root / "project" / ".poorenv"
    (env / "lib" / "site-packages").mkdir(parents=True)
    (env / "lib" / "site-packages" / "mod.py").write_text("x = 1\n")
    for path in (root / "project", env, env / "lib", env / "lib" / "site-packages"):
        path.chmod(0o755)
    (env / "lib" / "site-packages" / "mod.py").chmod(0o644)
    return env


def test_a_readable_env_passes_and_a_closed_directory_on_the_way_is_named(open_tmp: Path) -> None:
    env = an_env(open_tmp)
    check_readable(STRANGER, [env])
    (open_tmp / "project").chmod(0o700)
    message = refused(STRANGER, env, what="the env")
    assert message == (
        f"user stranger cannot enter {open_tmp / 'project'} (on the way to the env {env}):"
        " mode 0700, owner root"
    )


def test_a_file_inside_the_env_that_only_its_owner_reads_is_named(open_tmp: Path) -> None:
    env = an_env(open_tmp)
    module = env / "lib" / "site-packages" / "mod.py"
    module.chmod(0o600)
    assert refused(STRANGER, env).startswith(f"user stranger cannot read {module}: mode 0600")
    unlisted = env / "lib" / "site-packages"
    module.chmod(0o644)
    unlisted.chmod(0o711)  # enterable, but not listable
    assert refused(STRANGER, env).startswith(f"user stranger cannot read {unlisted}: mode 0711")


@needs_root
def test_owner_and_group_bits_decide_as_the_kernel_does(open_tmp: Path) -> None:
    env = an_env(open_tmp)
    project = open_tmp / "project"
    project.chmod(0o750)
    os.chown(project, 0, 4242)
    member = Account("member", 12345, frozenset({12345, 4242}))  # 4242: a supplementary group
    check_readable(member, [env])
    refused(STRANGER, env)
    os.chown(project, 12345, 0)
    project.chmod(0o700)
    check_readable(STRANGER, [env])  # its owner
    module = env / "lib" / "site-packages" / "mod.py"
    os.chown(module, 12345, 0)
    module.chmod(0o044)  # the owner's own bits deny, whatever the others' say
    assert "cannot read" in refused(STRANGER, env)
    check_readable(Account("root", 0, frozenset({0})), [env])  # root reads everything


def test_a_link_into_a_closed_base_is_followed_and_named(open_tmp: Path) -> None:
    env = an_env(open_tmp)
    base = open_tmp / "home" / "lib"
    base.mkdir(parents=True)
    (base / "os.py").write_text("")
    (base / "os.py").chmod(0o644)
    base.chmod(0o755)
    (env / "lib" / "os.py").symlink_to(base / "os.py")
    (open_tmp / "home").chmod(0o755)
    check_readable(STRANGER, [env])
    (open_tmp / "home").chmod(0o700)  # a base under a private home
    message = refused(STRANGER, env)
    assert message.startswith(f"user stranger cannot enter {open_tmp / 'home'} (on the way to")
    assert str(env / "lib" / "os.py") in message


def test_a_missing_app_and_a_link_loop_are_refused(open_tmp: Path) -> None:
    app = open_tmp / "app.wsgi"
    assert refused(STRANGER, app) == f"{app}: {app}: No such file or directory"
    loop = open_tmp / "loop"
    loop.symlink_to(loop)
    assert "too many levels of symbolic links" in refused(STRANGER, loop)


def test_an_unknown_user_is_an_error_and_a_known_one_has_its_groups() -> None:
    with pytest.raises(Unreadable, match="--user no-such-user-here: no such user") as caught:
        Account.lookup("no-such-user-here")
    assert caught.value.exit_code == 2
    nobody = Account.lookup("nobody")
    assert nobody.uid == 65534 and 65534 in nobody.gids


def test_libpythons_are_what_the_interpreter_loads() -> None:
    found = readable.libpythons(probe(HERE_PYTHON).executable)
    assert all(path.name.startswith("libpython") and path.exists() for path in found)
    assert readable.libpythons(Path(__file__)) == []  # not ELF: nothing


# --- the real user ----------------------------------------------------------------------------


@pytest.fixture
def shared(open_tmp: Path) -> Path:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run as nobody")
    return open_tmp


def nobody_reads(path: Path) -> bool:
    """What the kernel says: `test -r` run as nobody (as tests/test_user_errors.py runs it)."""
    argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "test", "-r"]
    return subprocess.run([*argv, str(path)], check=False).returncode == 0


def test_the_check_agrees_with_what_nobody_can_really_read(shared: Path) -> None:
    cases: dict[str, tuple[int, int, int]] = {  # name -> mode, uid, gid
        "open": (0o644, 0, 0),
        "private": (0o600, 0, 0),
        "group-nogroup": (0o640, 0, 65534),
        "group-root": (0o640, 0, 0),
        "own": (0o400, 65534, 0),
        "own-denied": (0o044, 65534, 0),
    }
    paths = []
    for directory, mode in (("plain", 0o755), ("closed", 0o700), ("search-only", 0o711)):
        (shared / directory).mkdir()
        for name, (file_mode, uid, gid) in cases.items():
            path = shared / directory / name
            path.write_text("x")
            os.chown(path, uid, gid)
            path.chmod(file_mode)
            paths.append(path)
        (shared / directory).chmod(mode)
    (shared / "link").symlink_to(shared / "closed" / "open")
    paths.append(shared / "link")
    base = Path(probe(HERE_PYTHON).stdlib) / "os.py"  # pyenv's, under root's home (0700)
    paths.append(base)
    nobody = Account.lookup("nobody")
    agreed = {}
    for path in paths:
        try:
            check_readable(nobody, [path])
            ours = True
        except Unreadable:
            ours = False
        agreed[str(path.relative_to(shared) if shared in path.parents else path)] = (
            ours,
            nobody_reads(path),
        )
    assert {name: pair for name, pair in agreed.items() if pair[0] != pair[1]} == {}
    readable_ones = sorted(name for name, (ours, _) in agreed.items() if ours)
    assert readable_ones == sorted(
        f"{d}/{n}" for d in ("plain", "search-only") for n in ("open", "group-nogroup", "own")
    )  # the check is not vacuous: both answers occur
    if not nobody_reads(base):
        with pytest.raises(Unreadable, match=r"cannot enter /root \(on the way to"):
            check_readable("nobody", [base])


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["mod_wsgi", "uwsgi"])
def test_export_with_user_refuses_before_printing(shared: Path, fmt: str) -> None:
    """A real env on the Python Debian's mod_wsgi and uWSGI embed (no packages: offline)."""
    servers.require(servers.have_apache() and servers.have_uwsgi(), "mod_wsgi and uWSGI")
    servers.require(DEBIAN_PYTHON.exists(), str(DEBIAN_PYTHON))
    project = shared / "site"
    write_config(project, DEBIAN_PYTHON)
    project.chmod(0o755)
    (project / "app.wsgi").write_text("def application(environ, start_response): pass\n")
    (project / "app.wsgi").chmod(0o644)
    ok(run(project, "sync"))
    export = ("export", "--format", fmt, "--user", "www-data", "--app", "app.wsgi")
    served = ok(run(project, *export)).stdout
    assert str(project / ".poorenv") in served
    project.chmod(0o700)
    closed = run(project, *export)
    assert (closed.returncode, closed.stdout) == (2, "")
    assert closed.stderr.splitlines() == [
        f"error: user www-data cannot enter {project} (on the way to the env"
        f" {project / '.poorenv'}): mode 0700, owner root",
        f"hint: chmod o+x {project}, or put it where www-data can read it",
    ]
    project.chmod(0o755)
    (project / "app.wsgi").chmod(0o600)
    closed = run(project, *export)
    assert (closed.returncode, closed.stdout) == (2, "")
    assert f"cannot read {project / 'app.wsgi'} (the app file): mode 0600" in closed.stderr
    unknown = run(project, "export", "--format", fmt, "--user", "no-such-user-here")
    assert unknown.returncode == 2 and "no such user" in unknown.stderr
    assert ok(run(project, "export", "--format", fmt)).stdout == served  # no --user: no check
