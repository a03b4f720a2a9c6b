"""pipwheel: the newest wheel of each seed tool, getting the wheels (cache, download, the base's
bundled ones), pip unpacked beside its wheel, and the command that runs it. Processes are fakes;
the wheels are tiny ones made in tmp_path."""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from poorenv import _run
from poorenv.apply import pipwheel
from poorenv.apply.pipwheel import (
    find_wheels,
    pip_command,
    run_pip,
    seed_wheels,
    unpacked,
    wheel_dir,
)
from poorenv.discover.interpreter import Interpreter
from poorenv.errors import ApplyError
from tests.fakes import fake_base
from tests.wheels import make_wheel


def wheels(directory: Path, *names: str) -> Path:
    directory.mkdir(exist_ok=True)
    for name in names:
        (directory / name).write_bytes(b"")
    return directory


def test_newest_by_version_order_not_text_order(tmp_path: Path) -> None:
    found = find_wheels(
        wheels(
            tmp_path,
            "pip-23.9-py3-none-any.whl",
            "pip-23.10-py3-none-any.whl",
            "pip-23.2.1-py3-none-any.whl",
            "setuptools-69.0.3-py3-none-any.whl",
            "setuptools-9.1-py3-none-any.whl",
        ),
        ("pip", "setuptools"),
    )
    assert found == {
        "pip": tmp_path / "pip-23.10-py3-none-any.whl",
        "setuptools": tmp_path / "setuptools-69.0.3-py3-none-any.whl",
    }


def test_a_release_candidate_comes_before_its_release(tmp_path: Path) -> None:
    directory = wheels(tmp_path, "pip-24.1rc1-py3-none-any.whl", "pip-24.0-py3-none-any.whl")
    assert find_wheels(directory, ("pip",)) == {"pip": tmp_path / "pip-24.1rc1-py3-none-any.whl"}
    wheels(directory, "pip-24.1-py3-none-any.whl")
    assert find_wheels(directory, ("pip",)) == {"pip": tmp_path / "pip-24.1-py3-none-any.whl"}


def test_junk_names_and_other_tools_are_skipped(tmp_path: Path) -> None:
    directory = wheels(
        tmp_path,
        "pip.whl",
        "pip-latest-py3-none-any.whl",
        "pip-99.0.whl",
        "pip-99.0-py3-none-any.whl.part",
        "pip-99.0.tar.gz",
        "wheel-0.42.0-py3-none-any.whl",
        "pip-22.0-py3-none-any.whl",
    )
    assert find_wheels(directory, ("pip", "setuptools")) == {
        "pip": tmp_path / "pip-22.0-py3-none-any.whl"
    }


def test_no_directory_no_wheels(tmp_path: Path) -> None:
    assert find_wheels(tmp_path / "missing", ("pip",)) == {}


# --- seed_wheels: the cache, a download, the base's bundled wheels -------------------------


@dataclass
class Download:
    """Stands in for `pip download` (and compileall): writes `wheels` into --dest, or fails."""

    wheels: tuple[str, ...] = ()
    returncode: int = 0
    stderr: str = ""
    calls: list[list[str]] = field(default_factory=list)
    envs: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, argv: list[str], env: dict[str, str], *rest: object) -> _run.Result:
        self.calls.append(argv)
        self.envs.append(env)
        if "download" in argv and self.returncode == 0:
            dest = Path(argv[argv.index("--dest") + 1])
            for name in self.wheels:
                tool, version = name.split("-")[:2]
                make_wheel(dest, tool, version)
        return _run.Result(tuple(argv), self.returncode, "", self.stderr)

    @property
    def downloads(self) -> list[list[str]]:
        return [argv for argv in self.calls if "download" in argv]


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Path]:
    """A cache of the test's own (undone before the autouse guard checks the environment)."""
    cache = tmp_path / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POORENV_CACHE_DIR", str(cache))
        yield cache


@pytest.fixture
def download(monkeypatch: pytest.MonkeyPatch, cache: Path, tmp_path: Path) -> Download:
    fake = Download()
    monkeypatch.setattr(_run, "_spawn", fake)
    monkeypatch.setattr(pipwheel, "_BUNDLED_DIRS", (str(tmp_path / "python-wheels"),))
    return fake


@pytest.fixture
def base(tmp_path: Path) -> Interpreter:
    return fake_base(stdlib=str(tmp_path / "base" / "lib" / "python3.12"))


def bundled(base: Interpreter) -> Path:
    return Path(base.stdlib) / "ensurepip" / "_bundled"


def test_cached_wheels_are_used_without_a_download(
    download: Download, cache: Path, base: Interpreter
) -> None:
    seed = cache / "seed" / "cpython-3.12"
    pip = make_wheel(seed, "pip", "24.0")
    setuptools = make_wheel(seed, "setuptools", "69.0")
    make_wheel(seed, "pip", "23.3")
    assert wheel_dir(base) == seed
    assert seed_wheels(base, ("setuptools", "pip")) == {"pip": pip, "setuptools": setuptools}
    assert download.calls == []


def test_missing_wheels_are_downloaded_into_the_cache(
    download: Download, cache: Path, base: Interpreter
) -> None:
    download.wheels = ("pip-24.0", "setuptools-69.0")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PIP_INDEX_URL", "https://example.invalid/simple")  # pip's own configuration
        mp.setenv("PYTHONPATH", "/poorenv/deps")  # whatever lets poorenv import
        found = seed_wheels(base, ("setuptools",))
    seed = cache / "seed" / "cpython-3.12"
    assert found == {
        "pip": seed / "pip-24.0-py3-none-any.whl",
        "setuptools": seed / "setuptools-69.0-py3-none-any.whl",
    }
    (argv,) = download.calls
    dest = argv[argv.index("--dest") + 1]
    # Fetched beside the cache, so the wheels are renamed in on one filesystem: from /tmp on
    # a tmpfs into ~/.cache, os.replace fails (EXDEV).
    assert Path(dest).parent == seed
    assert argv == [
        sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps",
        "--only-binary=:all:", "--python-version", "3.12", "--dest", dest, "pip", "setuptools",
    ]  # fmt: skip
    assert not Path(dest).exists()  # fetched into a temporary directory, then moved
    assert download.envs[0]["PIP_INDEX_URL"] == "https://example.invalid/simple"
    assert download.envs[0]["PYTHONPATH"] == "/poorenv/deps"
    download.calls.clear()
    assert seed_wheels(base, ("setuptools",)) == found  # once
    assert download.calls == []


def test_a_partial_cache_downloads_what_is_wanted(
    download: Download, cache: Path, base: Interpreter
) -> None:
    make_wheel(cache / "seed" / "cpython-3.12", "pip", "24.0")
    download.wheels = ("pip-24.0", "setuptools-69.0")
    assert set(seed_wheels(base, ("pip", "setuptools"))) == {"pip", "setuptools"}
    (argv,) = download.downloads
    assert argv[-2:] == ["pip", "setuptools"]


def test_the_bundled_wheels_serve_when_the_download_fails(
    download: Download, base: Interpreter, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    download.returncode, download.stderr = 1, "ERROR: No matching distribution found for pip\n"
    pip = make_wheel(bundled(base), "pip", "23.2")
    make_wheel(tmp_path / "python-wheels", "pip", "23.0")  # ensurepip's pip comes first
    setuptools = make_wheel(tmp_path / "python-wheels", "setuptools", "66.1")  # fills the gap
    caplog.set_level(logging.WARNING, logger="poorenv")
    assert seed_wheels(base, ("setuptools",)) == {"pip": pip, "setuptools": setuptools}
    assert len(download.downloads) == 1
    assert "using the base's bundled pip, setuptools wheels (download failed)" in caplog.text


@pytest.mark.parametrize(
    ("returncode", "stderr", "reason"),
    [
        (1, "Collecting pip\nERROR: No matching distribution found for setuptools\n",
         "No matching distribution found for setuptools"),
        (2, "", "pip download exited 2"),
        (0, "", "pip download gave no wheel of setuptools"),
    ],
    ids=["pip-error", "silent", "nothing-fetched"],
)  # fmt: skip
def test_no_wheel_anywhere_is_an_error_naming_the_wheel_dir(
    download: Download, base: Interpreter, returncode: int, stderr: str, reason: str
) -> None:
    download.returncode, download.stderr = returncode, stderr
    download.wheels = ("pip-24.0",)  # fetched, when the download "succeeds"
    make_wheel(bundled(base), "pip", "23.2")  # bundled pip alone is not enough
    with pytest.raises(ApplyError) as info:
        seed_wheels(base, ("setuptools",))
    assert info.value.message == f"cannot get wheels of pip, setuptools for Python 3.12: {reason}"
    assert info.value.hint == (
        f"check pip's index configuration, or put the wheels in {wheel_dir(base)}"
    )


def test_pip_that_cannot_start_is_a_download_failure(
    monkeypatch: pytest.MonkeyPatch, download: Download, base: Interpreter
) -> None:
    def cannot_start(*args: object) -> _run.Result:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_run, "_spawn", cannot_start)
    with pytest.raises(ApplyError, match=r"Python 3\.12: downloading seed wheels: cannot run"):
        seed_wheels(base, ("pip",))
    pip = make_wheel(bundled(base), "pip", "23.2")
    assert seed_wheels(base, ("pip",)) == {"pip": pip}


def test_an_unusable_cache_warns_once_and_a_temporary_cache_serves(
    download: Download, cache: Path, base: Interpreter, caplog: pytest.LogCaptureFixture
) -> None:
    cache.write_text("not a directory")  # nothing can be written under it
    download.wheels = ("pip-24.0",)
    pip = seed_wheels(base, ("pip",))["pip"]
    assert pip.name == "pip-24.0-py3-none-any.whl"
    assert not pip.is_relative_to(cache) and pip.is_file()  # in the run's temporary cache
    assert seed_wheels(base, ("pip",)) == {"pip": pip}  # kept for the rest of the run
    assert len(download.downloads) == 1
    assert cache.read_text() == "not a directory"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"poorenv's cache {cache}: not a directory; not used: this run uses a temporary cache"
    ]


def test_an_unusable_cache_still_falls_back_to_the_bundled_wheels(
    download: Download, cache: Path, base: Interpreter
) -> None:
    cache.write_text("not a directory")
    download.returncode, download.stderr = 1, "ERROR: no network\n"
    pip = make_wheel(bundled(base), "pip", "23.2")
    assert seed_wheels(base, ("pip",)) == {"pip": pip}


# --- unpacked: pip's code beside its wheel, compiled once per interpreter version ----------


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []

    def fake(argv: list[str], *rest: object) -> _run.Result:
        calls.append(argv)
        return _run.Result(tuple(argv), 0, "", "")

    monkeypatch.setattr(_run, "_spawn", fake)
    return calls


def run_dir(wheel: Path) -> Path:
    return wheel.with_name(wheel.name[: -len(".whl")] + ".run")


def test_the_wheel_is_unpacked_once_without_its_dist_info(
    compiles: list[list[str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cache: Path
) -> None:
    unpacks: list[Path] = []
    unpack = pipwheel._unpack

    def counted(wheel: Path, target: Path) -> None:
        unpacks.append(target)
        unpack(wheel, target)

    monkeypatch.setattr(pipwheel, "_unpack", counted)
    wheel = make_wheel(cache / "seed", "pip", "24.0", body="x = 1\n")
    python = tmp_path / "env" / "bin" / "python"
    target = unpacked(wheel, python, "cpython-312")
    assert target == cache / "seed" / "pip-24.0-py3-none-any.run"
    assert (target / "pip" / "__init__.py").read_text() == "__version__ = '24.0'\nx = 1\n"
    assert sorted(p.name for p in target.iterdir()) == [
        ".compiled-cpython-312",
        ".complete",
        "pip",
    ]  # no pip-24.0.dist-info: pip would take itself for installed in the env
    assert compiles == [[str(python), "-m", "compileall", "-q", "-j", "0", str(target / "pip")]]
    (target / "pip" / "__init__.py").write_text("changed = True\n")
    assert unpacked(wheel, python, "cpython-312") == target
    assert (target / "pip" / "__init__.py").read_text() == "changed = True\n"
    assert unpacks == [target]  # not again
    assert len(compiles) == 1
    assert sorted(p.name for p in wheel.parent.iterdir()) == [target.name, wheel.name]


def test_compiled_once_per_cache_tag(
    compiles: list[list[str]], tmp_path: Path, cache: Path
) -> None:
    wheel = make_wheel(cache / "seed", "pip", "24.0")
    py312, py313 = tmp_path / "a" / "python3.12", tmp_path / "b" / "python3.13"
    for python, tag in ((py312, "cpython-312"), (py313, "cpython-313"), (py312, "cpython-312")):
        unpacked(wheel, python, tag)
    assert [argv[0] for argv in compiles] == [str(py312), str(py313)]
    assert (run_dir(wheel) / ".compiled-cpython-313").is_file()


def test_a_failed_compile_still_runs_pip_unpacked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cache: Path
) -> None:
    calls: list[list[str]] = []

    def failing(argv: list[str], *rest: object) -> _run.Result:
        calls.append(argv)
        return _run.Result(tuple(argv), 1, "", "*** Error compiling 'x.py'")

    monkeypatch.setattr(_run, "_spawn", failing)
    wheel = make_wheel(cache, "pip", "24.0")
    assert unpacked(wheel, tmp_path / "python", "cpython-312") == run_dir(wheel)
    unpacked(wheel, tmp_path / "python", "cpython-312")
    assert len(calls) == 1  # the bytecode is an optimisation: not tried on every run


def test_a_wheel_outside_the_cache_is_never_unpacked_beside_it(
    compiles: list[list[str]], tmp_path: Path, cache: Path
) -> None:
    """The base's bundled wheel (ensurepip/_bundled) runs from the zip: unpacking it there
    would write into the base interpreter."""
    bundled = make_wheel(tmp_path / "base" / "ensurepip" / "_bundled", "pip", "24.0")
    assert unpacked(bundled, tmp_path / "python", "cpython-312") == bundled
    assert [p.name for p in bundled.parent.iterdir()] == [bundled.name]
    assert compiles == []


def test_an_interpreter_that_cannot_start_runs_pip_from_the_wheel(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def cannot_start(*args: object) -> _run.Result:
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(_run, "_spawn", cannot_start)
    wheel = make_wheel(tmp_path, "pip", "24.0")
    assert unpacked(wheel, tmp_path / "python", "cpython-312") == wheel


def test_an_unwritable_cache_runs_pip_from_the_wheel(
    compiles: list[list[str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def denied(*args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied")  # as in a directory of another user

    wheel = make_wheel(tmp_path / "seed", "pip", "24.0")
    monkeypatch.setattr(tempfile, "mkdtemp", denied)
    assert unpacked(wheel, tmp_path / "python", "cpython-312") == wheel
    assert compiles == []
    assert list(wheel.parent.iterdir()) == [wheel]


def test_another_process_that_unpacked_first_wins_the_race(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "seed", "pip", "24.0")
    target = run_dir(wheel)
    (target / "pip").mkdir(parents=True)
    (target / ".complete").write_text(pipwheel._describe(wheel))  # unpacked from this wheel
    pipwheel._unpack(wheel, target)  # its rename fails: the other one's target is complete
    assert sorted(p.name for p in target.iterdir()) == [".complete", "pip"]
    assert sorted(p.name for p in wheel.parent.iterdir()) == [target.name, wheel.name]


def test_a_tree_unpacked_from_another_wheel_is_replaced(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "seed", "pip", "24.0", body="new = True\n")
    target = run_dir(wheel)
    (target / "pip").mkdir(parents=True)
    (target / "pip" / "old.py").write_text("")
    (target / ".complete").write_text("pip-24.0-py3-none-any.whl 1 2\n")  # another file
    pipwheel._unpack(wheel, target)
    assert sorted(p.name for p in (target / "pip").iterdir()) == ["__init__.py"]
    assert (target / ".complete").read_text() == pipwheel._describe(wheel)
    assert sorted(p.name for p in wheel.parent.iterdir()) == [target.name, wheel.name]


def test_bundled_wheels_run_from_their_zip(
    compiles: list[list[str]], cache: Path, tmp_path: Path
) -> None:
    """Nothing is unpacked beside a wheel outside the cache (/usr/share/python-wheels)."""
    base = fake_base(stdlib=str(tmp_path / "base" / "lib" / "python3.12"))
    pip = make_wheel(bundled(base), "pip", "23.2")
    python = tmp_path / "python"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipwheel, "_BUNDLED_DIRS", ())
        mp.setattr(pipwheel, "_download", lambda *args: "offline")
        assert pip_command(python, base)[:2] == [str(python), str(pip / "pip")]
    assert sorted(p.name for p in pip.parent.iterdir()) == [pip.name]
    assert compiles == []


def test_an_incomplete_target_in_the_way_runs_pip_from_the_wheel(
    compiles: list[list[str]], tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path / "seed", "pip", "24.0")
    (run_dir(wheel) / "pip" / "stray").mkdir(parents=True)  # not made by _unpack: no .complete
    assert unpacked(wheel, tmp_path / "python", "cpython-312") == wheel
    assert sorted(p.name for p in wheel.parent.iterdir()) == [run_dir(wheel).name, wheel.name]
    assert compiles == []


# --- pip_command and run_pip ---------------------------------------------------------------


def test_pip_command_runs_the_unpacked_cached_pip(
    compiles: list[list[str]], cache: Path, tmp_path: Path
) -> None:
    wheel = make_wheel(cache / "seed" / "cpython-3.12", "pip", "24.0")
    python = tmp_path / "env" / "bin" / "python3.12"
    assert pip_command(python, fake_base()) == [
        str(python), str(run_dir(wheel) / "pip"), "--disable-pip-version-check", "--no-input",
    ]  # fmt: skip
    assert (run_dir(wheel) / "pip" / "__init__.py").is_file()
    assert compiles == [
        [str(python), "-m", "compileall", "-q", "-j", "0", str(run_dir(wheel) / "pip")]
    ]


def test_run_pip_runs_pip_with_the_arguments(
    compiles: list[list[str]], cache: Path, tmp_path: Path
) -> None:
    wheel = make_wheel(cache / "seed" / "cpython-3.12", "pip", "24.0")
    python = tmp_path / "python"
    result = run_pip(python, fake_base(), ["list", "--format=json"], what="listing")
    assert result.returncode == 0
    assert compiles[-1] == [
        str(python), str(run_dir(wheel) / "pip"), "--disable-pip-version-check", "--no-input",
        "list", "--format=json",
    ]  # fmt: skip
