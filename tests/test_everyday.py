"""Everyday use: doctor, --json output against its schema, cache-key, pylock export, shells.

Offline (a wheelhouse built here) but with real pip, real uv and real shells.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from poorenv.discover.interpreter import probe
from tests.conftest import ROOT, clone_base, write_config
from tests.helpers import ok, poorenv
from tests.offline import HERE_PYTHON, installed, offline_env, offline_project, run, site_packages

jsonschema = pytest.importorskip("jsonschema")

OUTPUT_SCHEMA = json.loads((ROOT / "schemas" / "poorenv-output.schema.json").read_text())


def valid(text: str, command: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text)
    jsonschema.validate(data, OUTPUT_SCHEMA)
    assert data["command"] == command
    return data


@pytest.fixture
def synced(tmp_path: Path) -> Path:
    project = offline_project(tmp_path / "project", seed="[]")
    ok(run(project, "sync"))
    return project


def doctor(project: Path, **extra: str) -> tuple[int, dict[str, Any]]:
    result = poorenv("doctor", "--json", cwd=project, env={**offline_env(), **extra})
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, valid(result.stdout, "doctor")


def kinds(report: dict[str, Any]) -> set[str]:
    return {p["kind"] for p in report["problems"]}


# --- doctor --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_doctor_finds_each_injected_fault_and_passes_a_healthy_env(
    synced: Path, tmp_path: Path
) -> None:
    env = synced / ".poorenv"
    code, report = doctor(synced)
    assert (code, report["problems"], report["healthy"]) == (0, [], True)
    text = ok(poorenv("doctor", cwd=synced, env=offline_env())).stdout
    assert "healthy" in text

    base = probe(HERE_PYTHON)
    stdlib = Path(base.env_paths(env)["stdlib"])

    # 1. a dangling link in the stdlib mirror
    dangling = stdlib / "gone.py"
    dangling.symlink_to(tmp_path / "nowhere.py")
    code, report = doctor(synced)
    assert code == 1 and kinds(report) == {"dangling-link"}
    assert report["problems"][0]["path"] == str(dangling)
    assert report["problems"][0]["fix"] == "run `poorenv sync`"
    ok(run(synced, "sync"))  # the planner removes the stray link
    assert doctor(synced)[0] == 0

    # 1b. a link that leaves the env and the base
    elsewhere = tmp_path / "elsewhere.py"
    elsewhere.write_text("")
    (stdlib / "elsewhere.py").symlink_to(elsewhere)
    code, report = doctor(synced)
    assert code == 1 and kinds(report) == {"link-outside"}
    ok(run(synced, "sync"))
    assert doctor(synced)[0] == 0

    # 2. a .pth in the user site: the env's own python ignores it, PYTHONHOME=ENV does not
    outside = tmp_path / "outside"
    outside.mkdir()
    user_site = Path(os.environ["HOME"], ".local", "lib", f"python{base.xy}", "site-packages")
    user_site.mkdir(parents=True)
    (user_site / "sneaky.pth").write_text(f"{outside}\n")
    code, report = doctor(synced)
    assert code == 1 and kinds(report) == {"sys-path", "user-site"}
    messages = "\n".join(p["message"] for p in report["problems"])
    assert f"{outside} is on sys.path (added by {user_site / 'sneaky.pth'})" in messages
    assert f"{user_site} is on sys.path (the user site)" in messages
    assert all(m.startswith(f"PYTHONHOME={env}") for m in messages.splitlines())
    shutil.rmtree(Path(os.environ["HOME"], ".local"))
    assert doctor(synced)[0] == 0

    # 3. PYTHONPATH in the caller's environment
    code, report = doctor(synced, PYTHONPATH=str(outside))
    assert code == 1 and kinds(report) == {"sys-path"}
    assert all("from PYTHONPATH" in p["message"] for p in report["problems"])

    # 4. a file edited in site-packages
    module = site_packages(synced) / "alpha" / "__init__.py"
    module.write_text(module.read_text() + "# edited\n")
    code, report = doctor(synced)
    assert code == 1 and kinds(report) == {"modified-file"}
    assert report["problems"][0]["path"] == str(module)
    assert "poorenv remove && poorenv sync" in report["problems"][0]["fix"]
    ok(run(synced, "remove"))
    ok(run(synced, "sync"))
    assert doctor(synced)[0] == 0

    # 5. an extra distribution, installed by hand with real uv
    uv = Path(sys.executable).with_name("uv")
    wheel = next((synced / "wheels").glob("extra_thing-1.0-*.whl"))
    subprocess.run(
        [str(uv), "pip", "install", "--python", str(env / "bin" / "python"), "--offline",
         "--no-deps", str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    assert "extra_thing" in installed(synced)
    code, report = doctor(synced)
    assert code == 1 and kinds(report) == {"extra-distribution"}
    assert report["problems"][0]["message"] == "extra-thing 1.0 is not in the lock"


@pytest.mark.slow
def test_doctor_finds_a_replaced_base_executable(tmp_path: Path) -> None:
    exe = clone_base(HERE_PYTHON, tmp_path / "base")
    project = tmp_path / "project"
    write_config(project, exe)
    ok(poorenv("sync", cwd=project))
    assert doctor(project)[0] == 0
    # The base is reinstalled: a new executable file at the same path.
    replacement = exe.with_name("new")
    shutil.copy2(exe, replacement)
    with replacement.open("ab") as handle:
        handle.write(b"\0" * 64)
    os.replace(replacement, exe)
    code, report = doctor(project)
    assert code == 1 and "interpreter" in kinds(report)
    problem = next(p for p in report["problems"] if p["kind"] == "interpreter")
    assert problem["message"].endswith(
        f"differs from the base executable {exe} (replaced or upgraded)"
    )
    ok(poorenv("sync", cwd=project))
    assert doctor(project)[0] == 0


def test_doctor_without_an_env_says_so(tmp_path: Path) -> None:
    write_config(tmp_path, HERE_PYTHON)
    result = poorenv("doctor", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {tmp_path / '.poorenv'}: no env here yet\n")
    assert "run `poorenv sync`" in result.stderr and not result.stdout


# --- JSON output ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_json_output_of_every_command_validates_against_the_schema(tmp_path: Path) -> None:
    project = offline_project(tmp_path / "project", seed="[]")
    plan = valid(ok(run(project, "plan", "--json")).stdout, "plan")
    assert not plan["in_sync"]
    assert all(a["reason"] and a["summary"] for a in plan["actions"])
    valid(ok(run(project, "sync", "--dry-run", "--json")).stdout, "sync")
    ok(run(project, "plan", "-o", "plan.json"))
    valid((project / "plan.json").read_text(), "plan")
    check = run(project, "check", "--json")
    assert check.returncode == 1
    assert valid(check.stdout, "check")["reasons"]
    first = valid(ok(run(project, "sync", "--json")).stdout, "sync")
    assert first["changed"] and not first["fast_path"]
    assert {c["name"] for c in first["lock_changes"]} == {"alpha", "beta", "gamma"}
    assert "install-packages" in [a["action"] for a in first["actions"]]
    again = valid(ok(run(project, "sync", "--json")).stdout, "sync")
    assert (again["changed"], again["fast_path"], again["actions"]) == (False, True, [])
    assert valid(ok(run(project, "check", "--json")).stdout, "check")["in_sync"]
    assert valid(ok(run(project, "doctor", "--json")).stdout, "doctor")["healthy"]
    info = valid(ok(run(project, "info", "--json")).stdout, "info")
    assert info["env"] == {"path": str(project / ".poorenv"), "exists": True, "synced": True}
    assert info["lock"]["packages"] == 3 and info["lock"]["problem"] is None
    assert info["cache_key"] == ok(run(project, "cache-key")).stdout.strip()
    # Slow path of check, once the stamp is gone:
    (project / ".poorenv" / "stray.txt").write_text("x")
    drift = run(project, "check", "--json")
    assert valid(drift.stdout, "check")["fast_path"] is False


def test_output_schema_rejects_what_it_should() -> None:
    good = {"json-version": 1, "poorenv": "0", "command": "doctor", "env": "/e", "healthy": True,
            "checked": [], "problems": []}  # fmt: skip
    jsonschema.validate(good, OUTPUT_SCHEMA)
    for bad in (
        {**good, "json-version": 2},
        {**good, "healthy": "yes"},
        {k: v for k, v in good.items() if k != "problems"},
        {**good, "problems": [{"kind": "unknown", "message": "", "fix": "", "path": None}]},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, OUTPUT_SCHEMA)


# --- cache-key -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_cache_key_follows_the_lock_and_the_base(tmp_path: Path) -> None:
    project = offline_project(tmp_path / "project", seed="[]")
    ok(run(project, "lock"))
    key = ok(run(project, "cache-key")).stdout.strip()
    assert key == ok(run(project, "cache-key")).stdout.strip()
    base = probe(HERE_PYTHON)
    assert key.startswith(f"poorenv-0.1.0-{base.platform}-cpython{base.xy}-")
    config = project / "poorenv.toml"
    config.write_text(config.read_text().replace("alpha==1.0", "alpha==2.0"))
    ok(run(project, "lock"))
    assert ok(run(project, "cache-key")).stdout.strip() != key
    missing = poorenv("cache-key", cwd=write_config(tmp_path / "other", HERE_PYTHON).parent)
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")


# --- pylock.toml ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_pylock_export_installs_with_uv_into_a_fresh_env(synced: Path, tmp_path: Path) -> None:
    ok(run(synced, "export", "--format", "pylock", "-o", "pylock.toml"))
    text = (synced / "pylock.toml").read_text()
    assert 'lock-version = "1.0"' in text
    uv = str(Path(sys.executable).with_name("uv"))
    fresh = tmp_path / "fresh"
    environ = {**offline_env(), "UV_NO_CONFIG": "1"}
    subprocess.run(
        [uv, "venv", "-q", "--python", str(HERE_PYTHON), str(fresh)], check=True, env=environ
    )
    result = subprocess.run(
        [uv, "pip", "install", "--python", str(fresh / "bin" / "python"), "--offline",
         "-r", str(synced / "pylock.toml")],
        capture_output=True, text=True, env=environ, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    freeze = subprocess.run(
        [uv, "pip", "freeze", "--python", str(fresh / "bin" / "python")],
        capture_output=True, text=True, env=environ, check=True,
    ).stdout  # fmt: skip
    theirs = dict(line.lower().split("==") for line in freeze.split())
    assert theirs == installed(synced) == {"alpha": "1.0", "beta": "1.0", "gamma": "1.0"}


@pytest.mark.network
@pytest.mark.slow
def test_pylock_of_the_wsgi_example_installs_from_the_index_with_uv(tmp_path: Path) -> None:
    """Real artifact URLs from pip's report, installed by uv with pip's index out of the way."""
    debian = Path("/usr/bin/python3.11")
    if not debian.exists():
        pytest.skip("needs /usr/bin/python3.11")
    project = tmp_path / "wsgi-app"
    shutil.copytree(
        ROOT / "examples" / "wsgi-app", project, ignore=shutil.ignore_patterns(".poorenv")
    )
    ok(poorenv("sync", "--locked", cwd=project))
    ok(poorenv("export", "--format", "pylock", "-o", "pylock.toml", cwd=project))
    text = (project / "pylock.toml").read_text()
    assert text.count("[[packages]]") == 7 and "url = " in text
    uv = str(Path(sys.executable).with_name("uv"))
    fresh = tmp_path / "fresh"
    subprocess.run([uv, "venv", "-q", "--python", str(debian), str(fresh)], check=True)
    result = subprocess.run(
        [uv, "pip", "install", "--python", str(fresh / "bin" / "python"), "-r",
         str(project / "pylock.toml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    freeze = subprocess.run(
        [uv, "pip", "freeze", "--python", str(fresh / "bin" / "python")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    theirs = {n.lower(): v for n, v in (line.split("==") for line in freeze.split())}
    site = Path(probe(debian).env_paths(project / ".poorenv")["purelib"])
    ours = {
        d.name[: -len(".dist-info")].split("-", 1)[0].lower(): d.name[: -len(".dist-info")].split(
            "-", 1
        )[1]
        for d in site.glob("*.dist-info")
    }
    assert theirs == ours


# --- shells --------------------------------------------------------------------------------------

WATCHED = ("POORENV_ACTIVE", "VIRTUAL_ENV", "VIRTUAL_ENV_PROMPT", "UV_PYTHON",
           "PIP_REQUIRE_VIRTUALENV", "PYTHONHOME")  # fmt: skip
BEFORE = {"VIRTUAL_ENV": "/opt/other venv", "VIRTUAL_ENV_PROMPT": "other", "UV_PYTHON": "3.13",
          "PIP_REQUIRE_VIRTUALENV": "1", "PYTHONHOME": "/elsewhere"}  # fmt: skip


def shell_script(shell: str, poorenv_cmd: str, env: Path) -> str:
    """Activate as a user would, print PATH, python, each watched variable and the prompt,
    deactivate, print them again. csh expands aliases a whole line at a time: one command
    per line, as typed."""
    if shell in ("bash", "zsh"):
        show = [f'echo "{n}=${{{n}-<unset>}}"' for n in WATCHED]
        show += ['echo "PATH=$PATH"', 'echo "PROMPT=$PS1"']
        activate = f'PS1="base> "; eval "$({poorenv_cmd} activate --shell {shell})"'
        lines = [activate, 'echo "PYTHON=$(command -v python)"', *show, "deactivate"]
    elif shell == "fish":
        show = [f'set -q {n}; and echo "{n}=${n}"; or echo "{n}=<unset>"' for n in WATCHED]
        show += ['echo "PATH="(string join : $PATH)', 'echo "PROMPT="(fish_prompt)']
        prompt = "function fish_prompt; echo -n 'base> '; end"
        activate = f"{prompt}; {poorenv_cmd} activate --shell fish | source"
        lines = [activate, 'echo "PYTHON="(command -v python)', *show, "deactivate"]
    else:
        show = [f'if ($?{n}) then\necho "{n}=${n}:q"\nelse\necho "{n}=<unset>"\nendif'
                for n in WATCHED]  # fmt: skip
        show += ['echo "PATH=$PATH:q"', 'echo "PROMPT=$prompt:q"']
        activate = f"set prompt = 'base> '\nsource {env}/bin/activate.csh"  # the file sync wrote
        lines = [activate, 'echo "PYTHON=`which python`"', *show, "deactivate"]
    return "\n".join([*lines, "echo deactivated", *show]) + "\n"


@pytest.mark.slow
@pytest.mark.parametrize("shell", ["bash", "fish", "tcsh", "zsh"])
def test_activation_in_each_installed_shell(synced: Path, shell: str) -> None:
    from tests import servers

    servers.require(shutil.which(shell) is not None, shell)
    env = synced / ".poorenv"
    me = f"env -u PYTHONHOME {sys.executable} -m poorenv -C {synced}"  # PYTHONHOME: not for us
    script = shell_script(shell, me, env)
    path = "/usr/local/bin:/usr/bin:/bin"
    argv = [shell, "-f", "/dev/stdin"] if shell == "tcsh" else [shell, "-c", script]
    for before in ({}, BEFORE):  # each variable unset before activation, then set
        environ = {"PATH": path, "HOME": os.environ["HOME"], **before}
        result = subprocess.run(
            argv, input=script, capture_output=True, text=True, env=environ, check=False
        )
        assert result.returncode == 0, result.stderr
        active, _, after = result.stdout.partition("deactivated\n")
        now = dict(line.split("=", 1) for line in active.splitlines())
        assert now.pop("PATH").split(":")[0] == str(env / "bin")
        assert now.pop("PYTHON") == str(env / "bin" / "python")
        assert now == {
            "POORENV_ACTIVE": str(env),
            "VIRTUAL_ENV": str(env),
            "VIRTUAL_ENV_PROMPT": "project",  # the project directory's name
            "UV_PYTHON": str(env / "bin" / "python"),
            "PIP_REQUIRE_VIRTUALENV": "0",
            "PYTHONHOME": "<unset>",  # never exported; one set before is put aside
            "PROMPT": "(project) base> ",
        }
        back = dict(line.split("=", 1) for line in after.splitlines())
        assert back == {**{n: before.get(n, "<unset>") for n in WATCHED}, "PATH": path,
                        "PROMPT": "base> "}  # fmt: skip


def activated_bash(
    project: Path, commands: str, **outside: str
) -> subprocess.CompletedProcess[str]:
    """`commands` in a bash where the project's env was activated with `poorenv activate`."""
    environ = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": os.environ["HOME"]}
    script = f'PS1="base> "; eval "$({sys.executable} -m poorenv activate)"\n{commands}'
    return subprocess.run(
        ["bash", "-c", script], cwd=project, capture_output=True, text=True, check=False,
        env={**environ, "PIP_CONFIG_FILE": os.devnull, **outside},
    )  # fmt: skip


@pytest.mark.slow
def test_uv_pip_install_in_an_activated_env_installs_into_it(synced: Path, tmp_path: Path) -> None:
    from tests.wheels import make_wheel

    make_wheel(tmp_path / "more", "zeta", "1.0")
    uv = Path(sys.executable).with_name("uv")
    commands = (
        f"{uv} pip install --offline --no-index --find-links {tmp_path / 'more'} zeta\n"
        'python -c "import zeta; print(zeta.__file__)"\n'
    )
    result = activated_bash(synced, commands, UV_CACHE_DIR=str(tmp_path / "uv-cache"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(site_packages(synced) / "zeta" / "__init__.py")
    assert installed(synced)["zeta"] == "1.0"


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    project = offline_project(tmp_path / "project")  # pip seeded: the env has its own pip
    ok(run(project, "sync"))
    return project


@pytest.mark.slow
def test_pip_install_works_for_a_user_who_requires_a_virtualenv(
    seeded: Path, tmp_path: Path
) -> None:
    from tests.wheels import make_wheel

    make_wheel(tmp_path / "more", "zeta", "1.0")
    commands = (
        f"pip install -q --no-index --find-links {tmp_path / 'more'} zeta\n"
        'python -c "import zeta; print(zeta.__file__)"\n'
        'deactivate; echo "PIP_REQUIRE_VIRTUALENV=$PIP_REQUIRE_VIRTUALENV"\n'
    )
    outside = {"PIP_REQUIRE_VIRTUALENV": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
               "PIP_ROOT_USER_ACTION": "ignore"}  # fmt: skip
    result = activated_bash(seeded, commands, **outside)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        str(site_packages(seeded) / "zeta" / "__init__.py"),
        "PIP_REQUIRE_VIRTUALENV=1",
    ]
    # and pip, as the user set it up, still refuses outside a virtualenv
    refused = activated_bash(seeded, "deactivate; pip --version; .poorenv/bin/pip install -q zeta",
                             **outside)  # fmt: skip
    assert "Could not find an activated virtualenv (required)" in refused.stderr


@pytest.mark.slow
def test_a_changed_prompt_is_planned_and_rewrites_the_scripts(synced: Path) -> None:
    config = synced / "poorenv.toml"
    config.write_text(config.read_text().replace("[env]\n", '[env]\nprompt = "web shop"\n', 1))
    plan = ok(run(synced, "plan")).stdout
    assert "write activate, activate.fish, activate.csh  [missing or changed]" in plan
    ok(run(synced, "sync"))
    shown = activated_bash(synced, 'echo "$PS1|$VIRTUAL_ENV_PROMPT"')
    assert shown.stdout == "(web shop) base> |web shop\n"
    fish = (synced / ".poorenv" / "bin" / "activate.fish").read_text()
    assert "printf '(%s) ' 'web shop'" in fish
    assert "in sync" in ok(run(synced, "plan")).stdout


@pytest.mark.slow
def test_run_of_a_moved_envs_script_names_the_missing_interpreter(
    seeded: Path, tmp_path: Path
) -> None:
    old_python = seeded / ".poorenv" / "bin" / f"python{probe(HERE_PYTHON).xy}"
    assert (seeded / ".poorenv" / "bin" / "pip").read_text().startswith(f"#!{old_python}")
    moved = tmp_path / "moved"
    seeded.rename(moved)
    result = run(moved, "run", "--", "pip", "--version")
    assert result.returncode == 127
    assert result.stderr.splitlines() == [
        f"error: run: pip: its interpreter {old_python} does not exist",
        "hint: was the env moved, removed or rebuilt? `poorenv sync` rewrites its scripts",
    ]


# --- the CI recipe -------------------------------------------------------------------------------


def workflow_steps(path: Path) -> list[str]:
    """The `run:` commands of a workflow file, in order (one-line steps only)."""
    return [
        line.split("run:", 1)[1].strip()
        for line in path.read_text().splitlines()
        if line.strip().startswith("run:")
    ]


@pytest.mark.network
@pytest.mark.slow
def test_the_ci_example_workflow_runs_its_steps(tmp_path: Path) -> None:
    """Every shell step of examples/ci/workflow.yml, in a fresh copy, with this poorenv."""
    project = tmp_path / "ci"
    shutil.copytree(ROOT / "examples" / "ci", project, ignore=shutil.ignore_patterns(".poorenv"))
    steps = workflow_steps(project / "workflow.yml")
    assert steps[0] == "python -m pip install poorenv"
    assert steps[1:] == [
        'echo "key=$(poorenv cache-key)" >> "$GITHUB_OUTPUT"',
        "poorenv sync --locked",
        "poorenv check",
        "poorenv run -- python -m pytest -q",
    ]
    output = tmp_path / "github-output"
    environ = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(output),
        "PYTEST_ADDOPTS": "-p no:cacheprovider",
    }
    for step in steps[1:]:  # poorenv is installed already: this checkout's
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", step],
            cwd=project, env=environ, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert result.returncode == 0, f"{step}\n{result.stdout}\n{result.stderr}"
    key = output.read_text().strip()
    assert key.startswith("key=poorenv-") and key.count("-") >= 4
    assert "1 passed" in result.stdout


# --- progress, -q, -v, NO_COLOR ------------------------------------------------------------------


class FakeTerminal:
    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


def test_progress_draws_one_line_on_a_terminal_and_erases_it() -> None:
    import time

    from poorenv.cli.progress import Progress, wanted

    terminal = FakeTerminal()
    term = {"TERM": "xterm"}
    assert wanted(False, terminal, term)  # type: ignore[arg-type]
    assert not wanted(True, terminal, term)  # type: ignore[arg-type]  # -q
    assert not wanted(False, terminal, {"TERM": "dumb"})  # type: ignore[arg-type]
    with Progress(True, terminal).step("resolving"):  # type: ignore[arg-type]
        time.sleep(0.5)
    assert terminal.text.startswith("\r\033[Kresolving ...")
    assert "resolving (0 s)" in terminal.text
    assert terminal.text.endswith("\r\033[K")  # erased: nothing left on the line
    assert not wanted(False, terminal, {**term, "CI": "true"})  # type: ignore[arg-type]


def _on_a_terminal(argv: list[str], cwd: Path, environ: dict[str, str]) -> str:
    """Run with stdout and stderr on a pseudo-terminal; what the terminal showed."""
    import pty

    main, child = pty.openpty()
    process = subprocess.Popen(argv, cwd=cwd, env=environ, stdout=child, stderr=child)
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    process.wait()
    os.close(main)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_progress_and_colour_only_on_a_terminal(tmp_path: Path) -> None:
    project = offline_project(tmp_path / "project", seed="[]")
    environ = {k: v for k, v in offline_env().items() if k not in ("CI", "NO_COLOR")}
    environ["TERM"] = "xterm"
    me = [sys.executable, "-m", "poorenv"]
    shown = _on_a_terminal([*me, "sync"], project, environ)
    assert "\r\033[Kresolving with pip-compile ..." in shown
    assert "\r\033[Kinstalling 3 package(s) with pip ..." in shown
    # Piped (and in CI): the same sync prints plain lines only.
    ok(run(project, "remove"))
    piped = ok(run(project, "sync"))
    assert "\r" not in piped.stdout + piped.stderr and "\033" not in piped.stdout + piped.stderr
    # Colour on errors: on a terminal unless NO_COLOR; -q silences everything but errors.
    (project / "poorenv.toml").write_text("[env]\npyton = 1\n")
    assert "\033[31merror:\033[0m" in _on_a_terminal([*me, "check"], project, environ)
    plain = _on_a_terminal([*me, "check"], project, {**environ, "NO_COLOR": "1"})
    assert "\033" not in plain and "error: " in plain


@pytest.mark.slow
def test_quiet_and_verbose(synced: Path) -> None:
    assert ok(run(synced, "-q", "sync")).stdout == ""
    assert ok(run(synced, "sync", "-q")).stdout == ""
    stdlib = Path(probe(HERE_PYTHON).env_paths(synced / ".poorenv")["stdlib"])
    (stdlib / "stray.py").write_text("x")
    quiet = ok(run(synced, "sync", "-q"))
    assert quiet.stdout == "" and quiet.stderr == ""
    assert not (stdlib / "stray.py").exists()
    (site_packages(synced) / "gamma-1.0.dist-info" / "RECORD").unlink()  # an interrupted install
    plain = ok(run(synced, "sync"))
    assert "INFO" not in plain.stderr
    (site_packages(synced) / "gamma-1.0.dist-info" / "RECORD").unlink()
    loud = ok(run(synced, "-v", "sync"))
    assert "INFO: running " in loud.stderr and " install " in loud.stderr  # what runs
