"""The pip and uv installers with a fake process start: the command lines they build, how they
read their tool's failures, and the RECORDs the pip installer hands back."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from poorenv import _run
from poorenv.apply import pipwheel
from poorenv.apply.installers import (
    Installer,
    InstallerError,
    PipInstaller,
    UvInstaller,
    make_installer,
    requirement_name,
)
from poorenv.config import IndexConfig
from poorenv.discover.interpreter import Interpreter
from poorenv.errors import ApplyError
from poorenv.index import index_environ
from tests.fakes import fake_base

SECRET_URL = "https://alice:s3cret@example.invalid/simple"  # noqa: S105 - a fake one
INDEX = index_environ(IndexConfig(url=SECRET_URL), Path("/project"))
LINES = (
    "alpha==1.0 \\\n    --hash=sha256:" + "a" * 64,
    'beta==2.0 ; python_version < "4" \\\n    --hash=sha256:' + "b" * 64,
)
Make = Callable[[Path], Installer]
DISK_HINT = "free some disk space, then run `poorenv sync` again"
WRITABLE_HINT = "the env directory must be writable by you"
LIMIT_HINT = (
    "a file-size limit (ulimit -f) stopped a write: raise it, then run `poorenv sync` again"
)

PIP_HASH_MISMATCH = """\
Processing ./wheels/alpha-1.0-py3-none-any.whl
ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated \
the package versions, please update the hashes. Otherwise, examine the package contents \
carefully; someone may have tampered with them.
    alpha==1.0 from file:///srv/wheels/alpha-1.0-py3-none-any.whl#sha256=ab12:
        Expected sha256 0000000000000000000000000000000000000000000000000000000000000000
             Got        ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12
"""
UV_HASH_MISMATCH = """\
error: Failed to prepare distributions
  Caused by: Failed to fetch wheel: alpha==1.0
  Caused by: Hash mismatch for `alpha==1.0`

Expected:
  sha256:0000000000000000000000000000000000000000000000000000000000000000

Computed:
  sha256:ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12
"""
PIP_NO_SPACE = """\
Processing ./wheels/bulky-1.0-py3-none-any.whl
Installing collected packages: bulky
ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device: \
'/mnt/env/lib/python3.12/site-packages/bulky/__init__.py'
"""
UV_NO_SPACE = """\
Resolved 1 package in 2ms
error: Failed to install: bulky-1.0-py3-none-any.whl (bulky==1.0)
  Caused by: failed to write to file `/mnt/env/lib/python3.12/site-packages/bulky/__init__.py`: \
No space left on device (os error 28)
"""
PIP_READ_ONLY = """\
ERROR: Could not install packages due to an OSError: [Errno 30] Read-only file system: \
'/mnt/env/lib/python3.12/site-packages/extra_thing'
"""

UV_NO_SPACE_NEW = """\
Resolved 5 packages in 0.71ms
Uninstalled 5 packages in 0.95ms
error: Failed to install: big-2.0-py3-none-any.whl (big==2.0)
  cause: Failed to copy to `/mnt/env/lib/python3.11/site-packages/big/__init__.py`
  cause: failed to copy file from /cache/big/__init__.py to \
/mnt/env/lib/python3.11/site-packages/big/.tmphmzpSN: No space left on device (os error 28)
"""
UV_FILE_TOO_LARGE = """\
error: failed to write to file `/home/u/.cache/uv/.tmpe1QYS5/python/get_interpreter_info.py`: \
File too large (os error 27)
"""
PIP_CRASH = """\
Installing collected packages: pd, big
ERROR: Exception:
Traceback (most recent call last):
  File "/x/pip/_internal/cli/base_command.py", line 180, in exc_logging_wrapper
    status = run_func(*args)
  File "/x/zipfile.py", line 973, in _update_crc
    raise BadZipFile("Bad CRC-32 for file %r" % self.name)
zipfile.BadZipFile: Bad CRC-32 for file 'big/__init__.py'
"""
UV_READ_ONLY = """\
error: Failed to install: extra_thing-1.0-py3-none-any.whl (extra-thing==1.0)
  Caused by: failed to create directory `/mnt/env/lib/python3.12/site-packages/extra_thing`: \
Read-only file system (os error 30)
"""


@dataclass
class FakeTools:
    """Stands in for every process: records argv and the requirement files they were given."""

    returncode: int = 0
    stderr: str = ""
    calls: list[list[str]] = field(default_factory=list)
    envs: list[dict[str, str]] = field(default_factory=list)
    listings: list[str] = field(default_factory=list)

    def __call__(self, argv: list[str], env: object, cwd: object, input: object, timeout: object
                 ) -> _run.Result:  # fmt: skip
        assert isinstance(env, dict)
        self.calls.append(argv)
        self.envs.append(env)
        if "-r" in argv:
            self.listings.append(Path(argv[argv.index("-r") + 1]).read_text())
        return _run.Result(tuple(argv), self.returncode, "", self.stderr)


@pytest.fixture
def tools(monkeypatch: pytest.MonkeyPatch) -> FakeTools:
    fake = FakeTools()
    monkeypatch.setattr(_run, "_spawn", fake)

    def pip_command(python: Path, base: Interpreter) -> list[str]:
        return [str(python), "PIP", "--disable-pip-version-check", "--no-input"]

    monkeypatch.setattr(pipwheel, "pip_command", pip_command)
    return fake


@pytest.fixture
def python(tmp_path: Path) -> Path:
    return tmp_path / "env" / "bin" / "python3.12"


def pip(python: Path) -> PipInstaller:
    return PipInstaller(python, fake_base(), INDEX)


def uv(python: Path) -> UvInstaller:
    return UvInstaller(python, "/opt/uv/bin/uv", INDEX)


# --- the command lines ---------------------------------------------------------------------


def test_pip_install_command(tools: FakeTools, python: Path) -> None:
    assert pip(python).install(LINES, reinstall=False) == {}
    (argv,) = tools.calls
    listing = argv[-1]
    assert argv == [
        str(python), "PIP", "--disable-pip-version-check", "--no-input",
        "install", "--require-hashes", "--no-deps", "--no-compile", "--no-warn-script-location",
        "--no-warn-conflicts", "--root-user-action=ignore", "-r", listing,
    ]  # fmt: skip
    assert tools.listings == ["\n".join(LINES) + "\n"]
    assert not Path(listing).exists()  # the installer's own temp file, gone again
    assert tools.envs[0]["PIP_INDEX_URL"] == SECRET_URL  # the index, by pip's environment
    assert "PYTHONHOME" not in tools.envs[0]  # on top of poorenv's clean environment


def test_pip_reinstall_forces(tools: FakeTools, python: Path) -> None:
    pip(python).install(LINES, reinstall=True)
    argv = tools.calls[0]
    assert "--force-reinstall" in argv
    assert argv.index("--force-reinstall") < argv.index("-r")


def test_pip_uninstall_command(tools: FakeTools, python: Path) -> None:
    pip(python).uninstall(("alpha", "beta"))
    assert tools.calls == [[
        str(python), "PIP", "--disable-pip-version-check", "--no-input",
        "uninstall", "--yes", "--root-user-action=ignore", "alpha", "beta",
    ]]  # fmt: skip


def test_uv_install_command(tools: FakeTools, python: Path) -> None:
    assert uv(python).install(LINES, reinstall=False) == {}
    (argv,) = tools.calls
    assert argv == [
        "/opt/uv/bin/uv", "pip", "install", "--python", str(python), "--require-hashes",
        "--no-deps", "-r", argv[-1],
    ]  # fmt: skip
    assert tools.listings == ["\n".join(LINES) + "\n"]
    assert tools.envs[0]["UV_DEFAULT_INDEX"] == SECRET_URL  # the index, by uv's environment
    assert "PYTHONHOME" not in tools.envs[0]
    uv(python).install(LINES, reinstall=True)
    assert "--reinstall" in tools.calls[1]


def test_uv_uninstall_command(tools: FakeTools, python: Path) -> None:
    uv(python).uninstall(("alpha",))
    assert tools.calls == [["/opt/uv/bin/uv", "pip", "uninstall", "--python", str(python), "alpha"]]


def test_uv_gets_no_index_as_its_one_flag(tools: FakeTools, python: Path) -> None:
    index = IndexConfig(url=SECRET_URL, find_links=("wheels",), no_index=True)
    UvInstaller(python, "uv", index_environ(index, Path("/project"))).install(LINES, False)
    (argv,) = tools.calls
    assert argv[argv.index("--no-deps") + 1 :] == ["--no-index", "-r", argv[-1]]
    assert tools.envs[0]["UV_FIND_LINKS"] == "file:///project/wheels"


@pytest.mark.parametrize("make", [pip, uv], ids=["pip", "uv"])
def test_no_credential_in_any_argv_or_log_line(
    tools: FakeTools, python: Path, make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="poorenv")
    installer = make(python)
    installer.install(LINES, reinstall=False)
    installer.uninstall(("alpha",))
    assert len(tools.calls) == 2
    assert all("s3cret" not in word for argv in tools.calls for word in argv)
    assert all(SECRET_URL in env.values() for env in tools.envs)
    assert "running " in caplog.text  # the command lines were logged ...
    assert "s3cret" not in caplog.text  # ... and hold no credential
    assert "s3cret" not in repr(installer)


# --- reading failures ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "stderr"), [(pip, PIP_HASH_MISMATCH), (uv, UV_HASH_MISMATCH)], ids=["pip", "uv"]
)
def test_hash_mismatch_is_one_line_naming_the_package(
    tools: FakeTools, python: Path, make: Make, stderr: str
) -> None:
    tools.returncode, tools.stderr = 1, stderr
    with pytest.raises(InstallerError) as info:
        make(python).install(LINES, reinstall=False)
    assert info.value.message == (
        "installing packages: hash mismatch for alpha==1.0: the downloaded file matches no hash"
        " in poorenv.lock; nothing was installed"
    )
    assert "poorenv lock" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("make", "stderr", "line", "hint"),
    [
        (pip, PIP_NO_SPACE, "Could not install packages due to an OSError: [Errno 28] No space"
         " left on device: '/mnt/env/lib/python3.12/site-packages/bulky/__init__.py'", DISK_HINT),
        (uv, UV_NO_SPACE, "failed to write to file `/mnt/env/lib/python3.12/site-packages/bulky/"
         "__init__.py`: No space left on device (os error 28)", DISK_HINT),
        (pip, PIP_READ_ONLY, "Could not install packages due to an OSError: [Errno 30] Read-only"
         " file system: '/mnt/env/lib/python3.12/site-packages/extra_thing'", WRITABLE_HINT),
        (uv, UV_READ_ONLY, "failed to create directory `/mnt/env/lib/python3.12/site-packages/"
         "extra_thing`: Read-only file system (os error 30)", WRITABLE_HINT),
        (pip, "Processing x\nERROR: No matching distribution found for alpha==1.0\n",
         "No matching distribution found for alpha==1.0", "--debug shows the installer's output"),
        (uv, "error: Distribution not found at: file:///x\n", "Distribution not found at:"
         " file:///x", "--debug shows the installer's output"),
        (pip, "", "the installer failed", "--debug shows the installer's output"),
        (uv, UV_NO_SPACE_NEW, "failed to copy file from /cache/big/__init__.py to /mnt/env/lib/"
         "python3.11/site-packages/big/.tmphmzpSN: No space left on device (os error 28)",
         DISK_HINT),
        (uv, UV_FILE_TOO_LARGE, "failed to write to file `/home/u/.cache/uv/.tmpe1QYS5/python/"
         "get_interpreter_info.py`: File too large (os error 27)", LIMIT_HINT),
        (pip, "ERROR: Could not install packages due to an OSError: [Errno 27] File too large\n",
         "Could not install packages due to an OSError: [Errno 27] File too large", LIMIT_HINT),
        (pip, "ERROR: Could not install packages due to an OSError: [Errno 122] Disk quota "
         "exceeded\n", "Could not install packages due to an OSError: [Errno 122] Disk quota "
         "exceeded", DISK_HINT),
        (pip, PIP_CRASH, "zipfile.BadZipFile: Bad CRC-32 for file 'big/__init__.py'",
         "--debug shows the installer's output"),
    ],
    ids=["pip-full", "uv-full", "pip-read-only", "uv-read-only", "pip-other", "uv-other",
         "pip-silent", "uv-cause", "uv-file-size-limit", "pip-file-size-limit", "pip-quota",
         "pip-crash"],
)  # fmt: skip
def test_failure_is_the_tools_one_line_with_a_hint(
    tools: FakeTools, python: Path, make: Make, stderr: str, line: str, hint: str
) -> None:
    tools.returncode, tools.stderr = 1, stderr
    with pytest.raises(InstallerError) as info:
        make(python).install(LINES, reinstall=False)
    assert info.value.message == f"installing packages: {line}"
    assert info.value.hint == hint


@pytest.mark.parametrize("make", [pip, uv], ids=["pip", "uv"])
@pytest.mark.parametrize("what", ["install", "uninstall"])
def test_a_tool_killed_by_a_signal_says_so(
    tools: FakeTools, python: Path, make: Make, what: str
) -> None:
    tools.returncode = -9
    installer = make(python)
    with pytest.raises(InstallerError) as info:
        if what == "install":
            installer.install(LINES, reinstall=False)
        else:
            installer.uninstall(("alpha",))
    doing = "installing" if what == "install" else "removing"
    assert info.value.message == f"{doing} packages: {installer.name} was killed by SIGKILL"
    assert "poorenv sync" in (info.value.hint or "")


@pytest.mark.parametrize("make", [pip, uv], ids=["pip", "uv"])
def test_uninstall_failure_says_removing(tools: FakeTools, python: Path, make: Make) -> None:
    tools.returncode, tools.stderr = (
        1,
        "ERROR: Cannot uninstall alpha\nerror: Cannot uninstall alpha",
    )
    with pytest.raises(InstallerError, match=r"^removing packages: Cannot uninstall alpha$"):
        make(python).uninstall(("alpha",))


@pytest.mark.parametrize(
    ("make", "stderr"),
    [
        (pip, "ERROR: 401 Unauthorized for https://tok:secret@example.invalid/simple/alpha/\n"),
        (uv, "error: Failed to fetch: `https://tok:secret@example.invalid/simple/alpha/`\n"
             "  Caused by: HTTP status client error (401 Unauthorized) for url"
             " (https://tok:secret@example.invalid/simple/alpha/)\n"),
    ],
    ids=["pip", "uv"],
)  # fmt: skip
def test_credentials_never_reach_the_message(
    tools: FakeTools, python: Path, make: Make, stderr: str
) -> None:
    tools.returncode, tools.stderr = 1, stderr
    with pytest.raises(InstallerError) as info:
        make(python).install(LINES, reinstall=False)
    assert "secret" not in info.value.message
    assert "https://***@example.invalid" in info.value.message


def test_a_tool_that_cannot_start_is_an_installer_error(
    monkeypatch: pytest.MonkeyPatch, python: Path
) -> None:
    def cannot_start(*args: object) -> _run.Result:
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(_run, "_spawn", cannot_start)
    with pytest.raises(InstallerError, match="removing packages: cannot run uv: No such file"):
        uv(python).uninstall(("alpha",))


# --- choosing, and the RECORDs pip's install hands back ------------------------------------


def test_make_installer_chooses(python: Path) -> None:
    chosen = make_installer("pip", python, fake_base(), INDEX)
    assert chosen == PipInstaller(python, fake_base(), INDEX)
    assert chosen.name == "pip"


def test_missing_uv_is_an_apply_error(monkeypatch: pytest.MonkeyPatch, python: Path) -> None:
    monkeypatch.setitem(sys.modules, "uv", None)  # `import uv` raises ImportError
    with pytest.raises(ApplyError, match='installer "uv": the uv package is not installed'):
        make_installer("uv", python, fake_base(), INDEX)


def test_uv_installer_is_made_with_its_binary(python: Path) -> None:
    pytest.importorskip("uv")
    chosen = make_installer("uv", python, fake_base(), INDEX)
    assert isinstance(chosen, UvInstaller)
    assert Path(chosen.uv).name.startswith("uv")
    assert chosen.index_env == INDEX


def uv_with_base(python: Path) -> UvInstaller:
    return UvInstaller(python, "/opt/uv/bin/uv", INDEX, base=fake_base())  # as make_installer


@pytest.mark.parametrize("make", [pip, uv_with_base], ids=["pip", "uv"])
def test_install_returns_records_with_the_bytecode(
    tools: FakeTools, python: Path, tmp_path: Path, make: Make
) -> None:
    site = tmp_path / "env" / "lib" / "python3.12" / "site-packages"
    (site / "alpha").mkdir(parents=True)
    (site / "alpha" / "__init__.py").write_text("")
    record = site / "alpha-1.0.dist-info" / "RECORD"
    record.parent.mkdir()
    record.write_text("alpha/__init__.py,sha256=x,0\nalpha-1.0.dist-info/RECORD,,\n")
    other = site / "gamma-1.0.dist-info" / "RECORD"  # installed before: not this install's
    other.parent.mkdir()
    other.write_text("gamma.py,,\n")
    (site / "gamma.py").write_text("")
    pyc = site / "alpha" / "__pycache__" / "__init__.cpython-312.pyc"

    def compiling(argv: list[str], *rest: object) -> _run.Result:
        if "-c" in argv:  # the compile run: pretend to compile what is on stdin
            assert rest[2] == f"{site / 'alpha' / '__init__.py'}\0"
            pyc.parent.mkdir()
            pyc.write_bytes(b"")
            tools(argv, *rest)
            compiled = "".join(f"ok {name}\0" for name in str(rest[2]).split("\0") if name)
            return _run.Result(tuple(argv), 0, compiled, "")  # what it compiled
        return tools(argv, *rest)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_run, "_spawn", compiling)
        mp.setenv("UV_COMPILE_BYTECODE", "1")  # uv would compile (not reproducibly) and clash
        records = make(python).install(LINES[:1], reinstall=False)
    assert records == {
        record: "alpha/__init__.py,sha256=x,0\nalpha-1.0.dist-info/RECORD,,\n"
        "alpha/__pycache__/__init__.cpython-312.pyc,"
        "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\n"  # an empty file's hash and size
    }
    assert record.read_text().count("\n") == 2  # the installer does not write it
    installing = [str(python), "PIP"] if make is pip else ["/opt/uv/bin/uv", "pip"]
    assert [argv[:2] for argv in tools.calls] == [installing, [str(python), "-c"]]
    assert tools.calls[1][3:] == [str(site)]  # the site dir: bytecode names files below it
    assert tools.envs[1]["PYTHONHASHSEED"] == "0"  # frozenset constants in a fixed order
    if make is not pip:
        assert "UV_COMPILE_BYTECODE" not in tools.envs[0]  # uv leaves bytecode to poorenv


@pytest.mark.parametrize(
    ("line", "name"),
    [
        (LINES[0], "alpha"),
        (LINES[1], "beta"),
        ("zope.interface==6.0", "zope.interface"),
        ("gamma --hash=sha256:" + "c" * 64, "gamma"),
    ],
)
def test_requirement_name(line: str, name: str) -> None:
    assert requirement_name(line) == name


def test_no_room_for_bytecode_fails_the_install(
    tools: FakeTools, python: Path, tmp_path: Path
) -> None:
    """The compile run says which .pyc did not fit: the packages are in, but not finished."""
    site = tmp_path / "env" / "lib" / "python3.12" / "site-packages"
    (site / "alpha").mkdir(parents=True)
    (site / "alpha" / "__init__.py").write_text("")
    (site / "alpha-1.0.dist-info").mkdir()
    (site / "alpha-1.0.dist-info" / "RECORD").write_text("alpha/__init__.py,,\n")
    pyc = site / "alpha" / "__pycache__" / "__init__.cpython-312.pyc"

    def compiling(argv: list[str], *rest: object) -> _run.Result:
        if "-c" in argv:
            return _run.Result(tuple(argv), 0, f"full 27 {pyc}\0", "")
        return tools(argv, *rest)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_run, "_spawn", compiling)
        with pytest.raises(InstallerError) as info:
            pip(python).install(LINES[:1], reinstall=False)
    assert info.value.message == f"compiling bytecode: File too large: {pyc}"
    assert info.value.hint == LIMIT_HINT
