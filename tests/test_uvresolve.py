"""The uv resolver and locks for several Pythons, with a fake process start: the `uv pip
compile` command line, the index by environment only, its output read by the same strict
parser, its errors naming the user's files, and one resolution per X.Y of `[lock] pythons`."""

from __future__ import annotations

import builtins
import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest

from poorenv import _run
from poorenv.config import Config
from poorenv.discover.interpreter import Interpreter
from poorenv.errors import LockError
from poorenv.lock import pythons, resolver
from poorenv.lock.lockfile import Lock, LockInterpreter
from poorenv.lock.resolver import parse_requirements, resolve
from tests.fakes import fake_base
from tests.test_resolver import (
    COMPILE_FLAGS,
    COMPILED,
    H2,
    RESOLVER,
    SECRET_URL,
    SHOWN_URL,
    PipCompile,
    make_config,
)

UV = "/opt/uv/bin/uv"
BASE_39 = fake_base(
    executable="/opt/py39/bin/python3.9",
    version="3.9.18",
    cache_tag="cpython-39",
    soabi="cpython-39-x86_64-linux-gnu",
)
UV_FLAGS = [
    "pip", "compile", "--quiet", "--color", "never", "--no-progress", "--generate-hashes",
    "--python",
]  # fmt: skip
UV_OUTPUT_FLAGS = ["--no-python-downloads", "--no-strip-markers", "--no-header", "--no-annotate"]
NO_VERSION = """\
error: No solution found when resolving dependencies
  cause: Because there is no version of alpha==1.0 and you require alpha==1.0, we can conclude
         that your requirements are unsatisfiable.
"""


def uv_config(tmp_path: Path, **changes: Any) -> Config:
    return dataclasses.replace(make_config(tmp_path, **changes), resolver="uv")


@pytest.fixture
def uv(monkeypatch: pytest.MonkeyPatch) -> PipCompile:
    """uv stands in for itself as pip-compile does: it writes the same file."""
    fake = PipCompile()
    monkeypatch.setattr(_run, "_spawn", fake)
    monkeypatch.setattr(resolver, "uv_binary", lambda: UV)
    monkeypatch.setattr(resolver, "resolver_python", lambda base: RESOLVER)
    return fake


@pytest.fixture
def other_pythons(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Discovery finds BASE_39 for "3.9" (and nothing else); the X.Y asked for are listed."""
    asked: list[str] = []

    def find(request: str, base_dir: Path, probe: object = None) -> Interpreter:
        asked.append(request)
        if request != "3.9":
            from poorenv.errors import InterpreterError

            raise InterpreterError(f"no CPython matching {request!r} found")
        return BASE_39

    monkeypatch.setattr("poorenv.discover.find.find_interpreter", find)
    return asked


# --- the uv pip compile run ---------------------------------------------------------------


def test_the_uv_pip_compile_command(uv: PipCompile, tmp_path: Path) -> None:
    lock = resolve(uv_config(tmp_path), fake_base())
    (argv,) = uv.argv
    output, source = argv[-2], argv[-1]
    assert argv == [
        UV, *UV_FLAGS, "/opt/py312/bin/python3.12", *UV_OUTPUT_FLAGS, "--output-file", output,
        source,
    ]  # fmt: skip
    assert Path(source).name == "requirements.in"
    assert uv.sources == ["alpha==1.0\nbeta\npip\n"]
    assert uv.cwds == [str(tmp_path)]
    assert [p.name for p in lock.packages] == ["alpha", "beta", "pip"]  # the same parser
    assert lock.package("beta") == parse_requirements(COMPILED)[1]
    assert lock.others == ()


def test_index_settings_reach_uv_by_its_environment_never_its_argv(
    uv: PipCompile, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    index = {
        "url": SECRET_URL,
        "extra-urls": ["https://bob:hunter2@example.invalid/extra/simple"],
        "find-links": ["wheels"],
        "no-index": True,
    }
    caplog.set_level(logging.DEBUG, logger="poorenv")
    resolve(uv_config(tmp_path, index=index), fake_base())
    (argv,) = uv.argv
    assert "--no-index" in argv  # the one index option uv reads from no variable
    assert not any("s3cret" in w or "hunter2" in w or "example.invalid" in w for w in argv)
    env = uv.envs[0]
    assert env["UV_DEFAULT_INDEX"] == SECRET_URL
    assert env["UV_INDEX"] == "https://bob:hunter2@example.invalid/extra/simple"
    assert env["UV_FIND_LINKS"] == (tmp_path / "wheels").resolve().as_uri()
    assert "s3cret" not in caplog.text
    assert "hunter2" not in caplog.text


def test_without_no_index_uv_gets_no_index_option(uv: PipCompile, tmp_path: Path) -> None:
    resolve(uv_config(tmp_path), fake_base())
    assert "--no-index" not in uv.argv[0]


def test_upgrades_and_kept_pins_reach_uv(uv: PipCompile, tmp_path: Path) -> None:
    previous = Lock("sha256:" + "0" * 64, LockInterpreter.of(fake_base()), ())
    previous = dataclasses.replace(previous, packages=tuple(parse_requirements(COMPILED)))
    resolve(uv_config(tmp_path), fake_base(), previous, upgrade_packages=("alpha",))
    (argv,) = uv.argv
    assert argv[argv.index("--output-file") + 2 :] == ["--upgrade-package", "alpha", argv[-1]]
    assert uv.kept == [previous.to_requirements()]


def test_a_uv_resolution_failure_names_the_users_entry(uv: PipCompile, tmp_path: Path) -> None:
    uv.returncode, uv.stderr = 1, NO_VERSION
    with pytest.raises(LockError) as info:
        resolve(uv_config(tmp_path), fake_base())
    assert info.value.message == (
        "resolving poorenv.toml for cpython 3.12 failed: Because there is no version of"
        " alpha==1.0 and you require alpha==1.0, we can conclude that your requirements are"
        ' unsatisfiable. (from poorenv.toml [requirements] packages "alpha==1.0")'
    )
    assert info.value.hint == (
        "check the requirements and the index settings; --debug shows uv's output"
    )
    assert info.value.__suppress_context__


def test_a_uv_conflict_names_each_file_line(uv: PipCompile, tmp_path: Path) -> None:
    (tmp_path / "reqs.in").write_text("# web\nbeta<1\n")
    uv.returncode = 1
    uv.stderr = (
        "error: No solution found when resolving dependencies\n"
        "  cause: Because alpha==1.0 depends on beta>=1 and you require alpha==1.0, we can"
        " conclude that you require beta>=1.\n"
        "         And because you require beta<1, we can conclude that your requirements are"
        " unsatisfiable.\n"
    )
    config = uv_config(tmp_path, packages=("alpha==1.0",), requirements={"files": ["reqs.in"]})
    with pytest.raises(LockError) as info:
        resolve(config, fake_base())
    assert "And because you require beta<1" in info.value.message
    assert info.value.message.endswith(
        '(from poorenv.toml [requirements] packages "alpha==1.0"; reqs.in:2)'
    )


def test_uv_errors_are_redacted_and_other_errors_are_its_last_line(
    uv: PipCompile, tmp_path: Path
) -> None:
    uv.returncode = 2
    uv.stderr = f"error: Failed to fetch: `{SECRET_URL}/alpha/`\n  Caused by: HTTP status 401\n"
    with pytest.raises(LockError) as info:
        resolve(uv_config(tmp_path), fake_base())
    assert info.value.message.endswith("failed: HTTP status 401")
    uv.stderr = f"error: cannot reach {SECRET_URL}\n"
    with pytest.raises(LockError) as info:
        resolve(uv_config(tmp_path), fake_base())
    assert info.value.message.endswith(f"failed: cannot reach {SHOWN_URL}")


def test_a_line_uv_wrote_that_is_not_a_pin_is_refused(uv: PipCompile, tmp_path: Path) -> None:
    uv.output = "alpha==1.0\n"  # no hash
    with pytest.raises(LockError, match="uv pip compile wrote a line poorenv does not read"):
        resolve(uv_config(tmp_path), fake_base())


def test_a_missing_uv_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_import = builtins.__import__

    def no_uv(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "uv":
            raise ImportError("No module named 'uv'")
        return real_import(name, *args, **kwargs)

    def nothing_may_start(*args: object) -> _run.Result:
        raise AssertionError("a process was started")

    monkeypatch.setattr(builtins, "__import__", no_uv)
    monkeypatch.setattr(_run, "_spawn", nothing_may_start)
    with pytest.raises(LockError) as info:
        resolve(uv_config(tmp_path), fake_base())
    assert info.value.message == 'resolver "uv": the uv package is not installed beside poorenv'
    assert info.value.hint is not None and "poorenv[uv]" in info.value.hint


# --- one resolution per Python ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["uv", "pip-tools"])
def test_one_resolution_per_listed_python(
    uv: PipCompile,
    other_pythons: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    seen: list[str] = []

    def python_of(base: Interpreter) -> Path:  # pip-compile runs in one of each version
        seen.append(base.xy)
        return Path(f"/cache/resolvers/{base.xy}/bin/python")

    monkeypatch.setattr(resolver, "resolver_python", python_of)
    config = make_config(tmp_path)
    config = dataclasses.replace(config, resolver=kind, lock_pythons=("3.12", "3.9"))
    lock = resolve(config, fake_base())
    assert other_pythons == ["3.9"]  # the env's own X.Y is the base itself
    assert [r.interpreter.python for r in lock.resolutions] == ["3.9", "3.12"]
    assert lock.interpreter.python == "3.12"  # about the env's own
    assert [r.interpreter.abi for r in lock.others] == ["cpython-39-x86_64-linux-gnu"]
    if kind == "uv":
        given = [argv[argv.index("--python") + 1] for argv in uv.argv]
        assert given == ["/opt/py312/bin/python3.12", "/opt/py39/bin/python3.9"]
        assert seen == []
    else:
        assert seen == ["3.12", "3.9"]
        assert [argv[0] for argv in uv.argv] == [
            "/cache/resolvers/3.12/bin/python", "/cache/resolvers/3.9/bin/python",
        ]  # fmt: skip
        assert uv.argv[0][1:] == [*COMPILE_FLAGS, *uv.argv[0][-3:]]


def test_each_python_keeps_its_own_pins(
    uv: PipCompile, other_pythons: list[str], tmp_path: Path
) -> None:
    config = dataclasses.replace(uv_config(tmp_path), lock_pythons=("3.9",))
    first = resolve(config, fake_base())
    uv.argv.clear()
    uv.kept.clear()
    pins_39 = f"alpha==0.9 \\\n    --hash={H2}\n"
    old = dataclasses.replace(
        first,
        others=(dataclasses.replace(first.others[0], packages=tuple(parse_requirements(pins_39))),),
    )
    resolve(config, fake_base(), old)
    assert uv.kept[0] == old.to_requirements()  # the env's own pins for its run
    assert uv.kept[1] is not None and f"alpha==0.9 \\\n    --hash={H2}" in uv.kept[1]


def test_a_listed_python_that_is_not_found_is_named(
    uv: PipCompile, other_pythons: list[str], tmp_path: Path
) -> None:
    config = dataclasses.replace(uv_config(tmp_path), lock_pythons=("3.9", "3.10"))
    with pytest.raises(LockError) as info:
        resolve(config, fake_base())
    assert info.value.message.startswith(f"{config.file}: [lock] pythons: 3.10: no CPython")
    assert info.value.hint is not None and "pyenv install 3.10" in info.value.hint
    assert uv.argv == []  # found before anything was resolved


def test_lock_interpreters_order_and_the_env_own_first() -> None:
    config = dataclasses.replace(make_config(Path("/p")), lock_pythons=("3.13", "3.9", "3.12"))
    found = {
        "3.13": fake_base(version="3.13.0", soabi="cpython-313-x86_64-linux-gnu"),
        "3.9": BASE_39,
    }

    def probe(path: Path) -> Interpreter:
        raise AssertionError("not called")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            "poorenv.discover.find.find_interpreter", lambda xy, where, probe=None: found[xy]
        )
        targets = pythons.lock_interpreters(config, fake_base(), probe)
    assert [t.xy for t in targets] == ["3.12", "3.9", "3.13"]
