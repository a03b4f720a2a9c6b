"""lock.resolver with a fake process start: the pip-compile run it makes, what it hands
pip-compile (argv, requirements.in, kept pins), how it reads a failure, and the resolver env it
builds once per base."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from poorenv import _run, paths
from poorenv.apply import pipwheel
from poorenv.config import Config, parse_config
from poorenv.discover.interpreter import Interpreter
from poorenv.errors import ConfigError, LockError
from poorenv.lock import resolver
from poorenv.lock.inputs import input_hash
from poorenv.lock.lockfile import Lock, LockInterpreter
from poorenv.lock.resolver import parse_requirements, resolve, resolver_python
from tests.fakes import fake_base

RESOLVER = Path("/cache/resolvers/cpython-3.12/bin/python")  # what resolver_python gives
SECRET_URL = "https://alice:s3cret@example.invalid/simple"  # noqa: S105 - a fake one
SHOWN_URL = "https://***@example.invalid/simple"
H1 = "sha256:" + "1" * 64
H2 = "sha256:" + "2" * 64
COMPILED = f"""\
alpha==1.0 \\
    --hash={H1}
beta==2.0 ; python_version < "4" \\
    --hash={H2} \\
    --hash={H1}

# The following packages are considered to be unsafe in a requirements file:
pip==24.0 \\
    --hash={H2}
"""
COMPILE_FLAGS = [
    "-m", "piptools", "compile", "--quiet", "--generate-hashes", "--allow-unsafe", "--no-header",
    "--no-annotate", "--strip-extras", "--no-emit-index-url", "--no-emit-trusted-host",
    "--no-emit-find-links", "--no-emit-options",
]  # fmt: skip
LOCK_HINT = "check the requirements and the index settings; --debug shows pip's output"
ENV_HINT = "pip-tools is installed into it with pip's own configuration: check the index"


def make_config(
    tmp_path: Path,
    packages: tuple[str, ...] = ("alpha==1.0", "beta"),
    seed: tuple[str, ...] = ("pip",),
    requirements: Mapping[str, Any] | None = None,
    index: Mapping[str, Any] | None = None,
) -> Config:
    data: dict[str, Any] = {
        "env": {"python": "3.12", "seed": list(seed)},
        "requirements": {"packages": list(packages), **(requirements or {})},
    }
    if index is not None:
        data["index"] = dict(index)
    return parse_config(data, tmp_path / "poorenv.toml")


@dataclass
class PipCompile:
    """Stands in for pip-compile: records what each run was given, writes `output`."""

    output: str = COMPILED
    returncode: int = 0
    stderr: str = ""
    argv: list[list[str]] = field(default_factory=list)
    envs: list[dict[str, str]] = field(default_factory=list)
    cwds: list[str | None] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # requirements.in as each run saw it
    constraints: list[str | None] = field(default_factory=list)  # constraints.txt beside it
    kept: list[str | None] = field(default_factory=list)  # the output file before each run

    def __call__(
        self, argv: list[str], env: dict[str, str], cwd: str | None, input: object, timeout: object
    ) -> _run.Result:
        self.argv.append(argv)
        self.envs.append(env)
        self.cwds.append(cwd)
        self.sources.append(Path(argv[-1]).read_text(encoding="utf-8"))
        beside = Path(argv[-1]).with_name("constraints.txt")
        self.constraints.append(beside.read_text(encoding="utf-8") if beside.exists() else None)
        output = Path(argv[argv.index("--output-file") + 1])
        self.kept.append(output.read_text(encoding="utf-8") if output.exists() else None)
        if self.returncode == 0:
            output.write_text(self.output, encoding="utf-8")
        return _run.Result(tuple(argv), self.returncode, "", self.stderr)


@pytest.fixture
def pip_compile(monkeypatch: pytest.MonkeyPatch) -> PipCompile:
    fake = PipCompile()
    monkeypatch.setattr(_run, "_spawn", fake)
    monkeypatch.setattr(resolver, "resolver_python", lambda base: RESOLVER)
    return fake


def previous_lock(base: Interpreter | None = None) -> Lock:
    packages = parse_requirements(f"alpha==0.9 \\\n    --hash={H1}\n")
    return Lock("sha256:" + "0" * 64, LockInterpreter.of(base or fake_base()), tuple(packages))


# --- the pip-compile run -------------------------------------------------------------------


def test_the_pip_compile_command(pip_compile: PipCompile, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONHOME", "/elsewhere")  # would send the resolver to another stdlib
        resolve(config, fake_base())
    (argv,) = pip_compile.argv
    output, source = argv[-2], argv[-1]
    assert argv == [str(RESOLVER), *COMPILE_FLAGS, "--output-file", output, source]
    assert Path(output).name == "requirements.txt"
    assert Path(source).name == "requirements.in"
    assert Path(source).parent == Path(output).parent
    assert not Path(source).parent.exists()  # a temporary directory, gone again
    assert pip_compile.cwds == [str(tmp_path)]  # relative -r lines are the project's
    env = pip_compile.envs[0]
    assert env["PIP_REQUIRE_VIRTUALENV"] == "0"
    assert env["CUSTOM_COMPILE_COMMAND"] == "poorenv lock"
    assert "PYTHONHOME" not in env
    assert env["PATH"] == os.environ["PATH"]


def test_index_settings_reach_pip_compile_by_its_environment_never_its_argv(
    pip_compile: PipCompile, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    index = {
        "url": SECRET_URL,
        "extra-urls": ["https://bob:hunter2@example.invalid/extra/simple"],
        "find-links": ["wheels", "https://example.invalid/links/"],
        "no-index": True,
    }
    config = make_config(tmp_path, index=index)
    caplog.set_level(logging.DEBUG, logger="poorenv")
    resolve(config, fake_base())
    (argv,) = pip_compile.argv
    assert argv[argv.index("--output-file") + 2 :] == [argv[-1]]  # no option after the output
    assert not any("s3cret" in word or "hunter2" in word for word in argv)  # `ps` shows argv
    env = pip_compile.envs[0]
    assert env["PIP_NO_INDEX"] == "1"
    assert env["PIP_INDEX_URL"] == SECRET_URL  # pip needs the credentials to use the index
    assert env["PIP_EXTRA_INDEX_URL"] == "https://bob:hunter2@example.invalid/extra/simple"
    wheels = (tmp_path / "wheels").resolve().as_uri()  # relative to the project
    assert env["PIP_FIND_LINKS"] == f"{wheels} https://example.invalid/links/"
    assert env["PIP_REQUIRE_VIRTUALENV"] == "0"  # poorenv's own settings are kept beside them
    assert "s3cret" not in pip_compile.sources[0]  # requirements.in carries no index lines
    assert "running " in caplog.text  # the command line was logged ...
    assert "s3cret" not in caplog.text  # ... without any password
    assert "hunter2" not in caplog.text


def test_pip_compile_failure_does_not_show_credentials(
    pip_compile: PipCompile, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pip_compile.returncode = 1
    pip_compile.stderr = (
        f"Looking in indexes: {SECRET_URL}\nERROR: 401 Unauthorized for {SECRET_URL}/x/\n"
    )
    caplog.set_level(logging.DEBUG, logger="poorenv")
    with pytest.raises(LockError) as info:
        resolve(make_config(tmp_path, index={"url": SECRET_URL}), fake_base())
    assert info.value.message.endswith(f"failed: 401 Unauthorized for {SHOWN_URL}/x/")
    assert "401 Unauthorized" in caplog.text  # pip's output was logged for --debug ...
    assert "s3cret" not in caplog.text  # ... redacted


def test_upgrade_and_upgrade_package(pip_compile: PipCompile, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    resolve(config, fake_base(), upgrade=True)
    resolve(config, fake_base(), upgrade_packages=("alpha", "Beta"))
    resolve(config, fake_base())
    everything, some, none = (argv[argv.index("--output-file") + 2 :] for argv in pip_compile.argv)
    assert everything == ["--upgrade", pip_compile.argv[0][-1]]
    assert some == [
        "--upgrade-package",
        "alpha",
        "--upgrade-package",
        "Beta",
        pip_compile.argv[1][-1],
    ]
    assert none == [pip_compile.argv[2][-1]]


# --- pins kept from the previous lock ------------------------------------------------------


def test_previous_pins_are_kept_for_the_same_interpreter(
    pip_compile: PipCompile, tmp_path: Path
) -> None:
    previous = previous_lock()
    resolve(make_config(tmp_path), fake_base(), previous)
    assert pip_compile.kept == [previous.to_requirements()]


def test_previous_pins_stay_when_upgrading_some_packages(
    pip_compile: PipCompile, tmp_path: Path
) -> None:
    previous = previous_lock()
    resolve(make_config(tmp_path), fake_base(), previous, upgrade_packages=("alpha",))
    assert pip_compile.kept == [previous.to_requirements()]


@pytest.mark.parametrize(
    ("previous", "upgrade"),
    [
        (None, False),
        (previous_lock(), True),
        (previous_lock(fake_base(version="3.11.7", soabi="cpython-311-x86_64-linux-gnu")), False),
        (previous_lock(fake_base(soabi="cpython-312t-x86_64-linux-gnu")), False),
    ],
    ids=["no-lock", "upgrade", "other-python", "other-abi"],
)
def test_previous_pins_are_dropped(
    pip_compile: PipCompile, tmp_path: Path, previous: Lock | None, upgrade: bool
) -> None:
    resolve(make_config(tmp_path), fake_base(), previous, upgrade=upgrade)
    assert pip_compile.kept == [None]


# --- requirements.in -----------------------------------------------------------------------


def test_requirements_in_lists_packages_seed_and_files(
    pip_compile: PipCompile, tmp_path: Path
) -> None:
    (tmp_path / "requirements.txt").write_text("gamma\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "constraints.txt").write_text("gamma<2\n")
    requirements = {"files": ["requirements.txt"], "constraints": ["sub/constraints.txt"]}
    config = make_config(tmp_path, seed=("pip", "setuptools"), requirements=requirements)
    resolve(config, fake_base())
    # The files' requirements as poorenv read and checked them, not the files themselves.
    assert pip_compile.sources == ["alpha==1.0\nbeta\npip\nsetuptools\ngamma\n-c constraints.txt\n"]
    assert pip_compile.constraints == ["gamma<2\n"]


def test_the_seed_alone_is_resolved(pip_compile: PipCompile, tmp_path: Path) -> None:
    resolve(make_config(tmp_path, packages=(), seed=("setuptools",)), fake_base())
    assert pip_compile.sources == ["setuptools\n"]
    assert pip_compile.constraints == [None]


def test_empty_input_is_an_empty_lock_without_starting_anything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def nothing_may_start(*args: object) -> _run.Result:
        raise AssertionError("a process was started")

    def no_resolver(base: Interpreter) -> Path:
        raise AssertionError("a resolver was asked for")

    monkeypatch.setattr(_run, "_spawn", nothing_may_start)
    monkeypatch.setattr(resolver, "resolver_python", no_resolver)
    config = make_config(tmp_path, packages=(), seed=())
    base = fake_base()
    assert resolve(config, base, previous_lock(), upgrade=True) == Lock(
        input_hash(config), LockInterpreter.of(base), ()
    )


# --- the result ----------------------------------------------------------------------------


def test_the_output_is_the_lock_with_the_input_hash(
    pip_compile: PipCompile, tmp_path: Path
) -> None:
    config = make_config(tmp_path)
    base = fake_base()
    lock = resolve(config, base)
    assert lock == Lock(input_hash(config), LockInterpreter.of(base), lock.packages)
    assert lock.packages == tuple(parse_requirements(COMPILED))
    assert [(p.name, p.version) for p in lock.packages] == [
        ("alpha", "1.0"),
        ("beta", "2.0"),
        ("pip", "24.0"),
    ]


def test_the_input_hash_is_of_the_inputs_pip_compile_was_given(
    pip_compile: PipCompile, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("gamma\n")
    config = make_config(tmp_path, requirements={"files": ["requirements.txt"]})
    given = input_hash(config)

    def edited_while_resolving(argv: list[str], *rest: Any) -> _run.Result:
        result = pip_compile(argv, *rest)
        requirements.write_text("gamma\ndelta\n")  # the user saves the file meanwhile
        return result

    monkeypatch.setattr(_run, "_spawn", edited_while_resolving)
    lock = resolve(config, fake_base())
    # The lock says what it was resolved from: it is stale for the edited file, not fresh.
    assert lock.input_hash == given
    assert lock.input_hash != input_hash(config)


# --- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stderr", "line"),
    [
        ("Collecting alpha==9\n"
         "ERROR: Could not find a version that satisfies the requirement alpha==9\n"
         "ERROR: No matching distribution found for alpha==9\n",
         "No matching distribution found for alpha==9"),
        ("Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
         "OSError: [Errno 28] No space left on device\n",
         "[Errno 28] No space left on device"),
        ("", "no output"),
    ],
    ids=["pip-error", "exception", "silent"],
)  # fmt: skip
def test_a_pip_compile_failure_is_one_lock_error_line(
    pip_compile: PipCompile, tmp_path: Path, stderr: str, line: str
) -> None:
    pip_compile.returncode, pip_compile.stderr = 2, stderr
    with pytest.raises(LockError) as info:
        resolve(make_config(tmp_path), fake_base())
    assert info.value.message == f"resolving poorenv.toml for cpython 3.12 failed: {line}"
    assert info.value.hint == LOCK_HINT
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


# --- the resolver interpreter --------------------------------------------------------------


@dataclass
class EnvTools:
    """Stands in for venv and pip: makes the directories they would, or fails at one step."""

    fail_at: str | None = None  # "venv", "install" or "upgrade"
    stderr: str = "ERROR: it went wrong"
    calls: list[list[str]] = field(default_factory=list)

    def __call__(self, argv: list[str], *rest: object) -> _run.Result:
        self.calls.append(argv)
        step = "upgrade" if "--upgrade" in argv else "venv" if "venv" in argv else "install"
        if step == self.fail_at:
            return _run.Result(tuple(argv), 1, "", self.stderr)
        if step == "venv":
            (Path(argv[-1]) / "bin").mkdir(parents=True)
            (Path(argv[-1]) / "bin" / "python").symlink_to(argv[0])  # as venv links the base
        elif step == "install":
            site = Path(argv[0]).parent.parent / "lib" / "site-packages"
            assert site.parent.parent.is_dir(), "pip ran before the venv was made"
            (site / "piptools").mkdir(parents=True)
        else:
            (Path(argv[-1]) / "pyvenv.cfg").write_text(f"made at {argv[-1]}\n")
        return _run.Result(tuple(argv), 0, "", "")


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Path]:
    """A cache of the test's own (undone before the autouse guard checks the environment)."""
    cache = tmp_path / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POORENV_CACHE_DIR", str(cache))
        yield cache


@pytest.fixture
def env_tools(monkeypatch: pytest.MonkeyPatch, cache: Path) -> EnvTools:
    fake = EnvTools()
    monkeypatch.setattr(_run, "_spawn", fake)

    def pip_command(python: Path, base: Interpreter) -> list[str]:
        return [str(python), "PIP", "--disable-pip-version-check", "--no-input"]

    monkeypatch.setattr(pipwheel, "pip_command", pip_command)
    return fake


def resolver_dir(cache: Path, base: Interpreter) -> Path:
    key = hashlib.sha256(base.executable.encode()).hexdigest()[:12]
    return cache / "resolvers" / f"cpython-{base.xy}{base.abiflags}-{key}"


def test_poorenv_own_interpreter_serves_when_it_is_the_base(env_tools: EnvTools) -> None:
    base = fake_base(executable=os.path.realpath(sys.executable))
    assert resolver_python(base) == Path(sys.executable)  # this venv has pip-tools
    assert env_tools.calls == []


def test_a_resolver_env_is_built_for_another_base(env_tools: EnvTools, cache: Path) -> None:
    base = fake_base()
    target = resolver_dir(cache, base)
    building = target.with_name(target.name + ".building")
    assert resolver_python(base) == target / "bin" / "python"
    assert env_tools.calls == [
        [base.executable, "-m", "venv", "--without-pip", str(building)],
        [str(building / "bin" / "python"), "PIP", "--disable-pip-version-check", "--no-input",
         "install", "--quiet", "--root-user-action=ignore", "pip-tools>=7.4"],
        [base.executable, "-m", "venv", "--without-pip", "--upgrade", str(target)],
    ]  # fmt: skip
    assert (target / "lib" / "site-packages" / "piptools").is_dir()  # moved with its packages
    assert (target / "pyvenv.cfg").read_text() == f"made at {target}\n"  # made again in place
    assert not building.exists()
    assert (target / "poorenv-ready").read_text() == f"{base.executable} 17600 1\n"


def test_poorenv_own_interpreter_without_pip_tools_gets_a_resolver_env(
    env_tools: EnvTools, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    monkeypatch.setattr(resolver, "_has_piptools", lambda: False)
    base = fake_base(executable=os.path.realpath(sys.executable))
    assert resolver_python(base) == resolver_dir(cache, base) / "bin" / "python"
    assert len(env_tools.calls) == 3


def test_the_resolver_env_is_built_once(env_tools: EnvTools, cache: Path) -> None:
    base = fake_base()
    first = resolver_python(base)
    env_tools.calls.clear()
    assert resolver_python(base) == first
    assert env_tools.calls == []


def test_a_changed_base_gets_its_resolver_env_built_again(env_tools: EnvTools, cache: Path) -> None:
    base = fake_base()
    target = resolver_dir(cache, base)
    resolver_python(base)
    (target / "left-over").write_text("")
    env_tools.calls.clear()
    changed = dataclasses.replace(base, executable_mtime_ns=2)  # reinstalled in place
    assert resolver_python(changed) == target / "bin" / "python"
    assert len(env_tools.calls) == 3
    assert not (target / "left-over").exists()  # the old env was replaced, not reused
    assert (target / "poorenv-ready").read_text() == f"{base.executable} 17600 2\n"


def test_a_half_built_resolver_env_is_built_again(env_tools: EnvTools, cache: Path) -> None:
    base = fake_base()
    target = resolver_dir(cache, base)
    building = target.with_name(target.name + ".building")
    (target / "bin").mkdir(parents=True)  # a build that was killed: no ready stamp
    (building / "bin").mkdir(parents=True)
    (building / "stale").write_text("")
    assert resolver_python(base) == target / "bin" / "python"
    assert len(env_tools.calls) == 3
    assert (target / "poorenv-ready").is_file()
    assert not (target / "stale").exists()


def test_each_base_has_its_own_resolver_env(env_tools: EnvTools, cache: Path) -> None:
    one = fake_base()
    other = fake_base(executable="/opt/other/bin/python3.12")
    assert resolver_python(one) != resolver_python(other)
    assert len(env_tools.calls) == 6


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("venv", "cannot make a resolver env for {}: it went wrong"),
        ("install", "cannot install pip-tools for {}: it went wrong"),
        ("upgrade", "cannot move the resolver env for {}: it went wrong"),
    ],
)
def test_a_failed_step_is_a_lock_error_naming_the_base(
    env_tools: EnvTools, cache: Path, step: str, message: str
) -> None:
    base = fake_base()
    env_tools.fail_at = step
    with pytest.raises(LockError) as info:
        resolver_python(base)
    assert info.value.message == message.format("cpython 3.12.1 (/opt/py312/bin/python3.12)")
    assert info.value.hint == ENV_HINT
    assert not (resolver_dir(cache, base) / "poorenv-ready").exists()
    env_tools.fail_at = None
    env_tools.calls.clear()
    resolver_python(base)  # the next lock tries again
    assert len(env_tools.calls) == 3


def test_pip_tools_failure_names_what_pip_said(env_tools: EnvTools) -> None:
    env_tools.fail_at = "install"
    env_tools.stderr = (
        "ERROR: Could not find a version that satisfies the requirement pip-tools>=7.4\n"
        "ERROR: No matching distribution found for pip-tools>=7.4\n"
    )
    with pytest.raises(LockError, match=r": No matching distribution found for pip-tools>=7.4$"):
        resolver_python(fake_base())


def test_the_resolver_env_is_in_poorenv_cache(env_tools: EnvTools, cache: Path) -> None:
    python = resolver_python(fake_base(abiflags="t", version="3.13.1"))
    assert python.parent.parent.parent == paths.cache_dir() / "resolvers"
    assert python.parent.parent.name.startswith("cpython-3.13t-")


def test_a_missing_requirements_file_is_named_before_anything_starts(
    pip_compile: PipCompile, tmp_path: Path
) -> None:
    config = make_config(tmp_path, requirements={"files": ["missing.txt"]})
    with pytest.raises(ConfigError, match=r"\[requirements\]: cannot read .*missing\.txt"):
        resolve(config, fake_base())
    assert pip_compile.argv == []


# --- what pip-compile is given and what it gives back ---------------------------------------


@pytest.mark.parametrize(
    "line",
    ["-e .", ".", "--index-url https://example.invalid/simple", "--pre", "alpha @ file:///x"],
)
def test_a_refused_requirements_line_starts_nothing(
    pip_compile: PipCompile, tmp_path: Path, line: str
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "setup.py").write_text("raise SystemExit('built')\n")
    (project / "requirements.txt").write_text(f"gamma\n{line}\n")
    config = make_config(project, requirements={"files": ["requirements.txt"]})
    with pytest.raises(ConfigError, match=r"requirements\.txt:2: "):
        resolve(config, fake_base())
    assert pip_compile.argv == []
    assert sorted(p.name for p in project.iterdir()) == ["requirements.txt", "setup.py"]


def test_pip_compile_is_given_the_checked_lines_not_the_files(
    pip_compile: PipCompile, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "base.txt").write_text("gamma>=1 ;python_version>'3'\n")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("-r base.txt\n")
    config = make_config(
        tmp_path, packages=(), seed=(), requirements={"files": ["requirements.txt"]}
    )

    def edited_after_the_check(argv: list[str], *rest: Any) -> _run.Result:
        requirements.write_text("-e .\n")  # too late: pip-compile never reads the file
        return pip_compile(argv, *rest)

    monkeypatch.setattr(_run, "_spawn", edited_after_the_check)
    resolve(config, fake_base())
    assert pip_compile.sources == ['gamma>=1; python_version > "3"\n']
    assert str(tmp_path) not in pip_compile.sources[0]


@pytest.mark.parametrize(
    ("output", "words"),
    [
        (f"--index-url https://example.invalid/simple\n{COMPILED}",
         "1: '--index-url https://example.invalid/simple': only `name==version`"),
        (f"--only-binary :all:\n\n{COMPILED}", "1: '--only-binary :all:'"),
        (f"-e file:///project \\\n    --hash={H1}\n", "-e file:///project"),
        (f"alpha @ file:///tmp/alpha-1.0-py3-none-any.whl \\\n    --hash={H1}\n",
         "an unpinned requirement"),
        (f"alpha[extra]==1.0 \\\n    --hash={H1}\n", "an unpinned requirement"),
        (f"alpha==1.0 --config-settings=x=y \\\n    --hash={H1}\n", "only `name==version`"),
        (f"alpha==1.0 \\\n    --hash {H1}\n", "only `name==version`"),
        (f"alpha==1.0 \\\n    --hash=sha256:{'A' * 64}\n", "hashes: not a sha256 hash"),
        (f"alpha==1.0 ; os_name == \"\x1b\" \\\n    --hash={H1}\n",
         "markers: 'os_name == \"\\x1b\"': markers hold printable ASCII"),
    ],
)  # fmt: skip
def test_a_line_of_pip_compile_output_that_is_not_a_pin_is_refused(
    pip_compile: PipCompile, tmp_path: Path, output: str, words: str
) -> None:
    pip_compile.output = output
    with pytest.raises(LockError) as info:
        resolve(make_config(tmp_path), fake_base())
    assert info.value.message.startswith("pip-compile wrote a line poorenv does not read: ")
    assert words in info.value.message


def test_a_base_whose_facts_a_lock_cannot_hold_is_a_lock_error(
    pip_compile: PipCompile, tmp_path: Path
) -> None:
    base = fake_base(platform="linux x86_64")
    with pytest.raises(LockError, match=r"its platform cannot be written in poorenv\.lock"):
        resolve(make_config(tmp_path), base)
    assert pip_compile.argv == []
