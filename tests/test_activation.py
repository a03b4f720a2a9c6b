"""Activation code and `run`'s environment: one list of variables, quoted for each shell.

The env here is only a path (activation code never looks inside it), so the shells run in
milliseconds; tests/test_everyday.py runs them against a real env with real pip and uv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from unittest import mock

import pytest

from poorenv.plan.activation import SCRIPT_NAMES, code, printable, run_environ, scripts, variables
from tests import servers

# A project name every shell would misread if it were not quoted and escaped for its prompt.
NASTY = "a$(echo X)`echo Y`$HOME\\w\\$%d%%!e!!'q\"z {x} \\\\ \\'"
WATCHED = ("POORENV_ACTIVE", "VIRTUAL_ENV", "VIRTUAL_ENV_PROMPT", "UV_PYTHON",
           "PIP_REQUIRE_VIRTUALENV", "PYTHONHOME")  # fmt: skip


def test_an_active_env_is_the_virtual_env_to_uv_and_pip() -> None:
    env = Path("/srv/app/.poorenv")
    assert variables(env, "app") == {
        "POORENV_ACTIVE": "/srv/app/.poorenv",
        "VIRTUAL_ENV": "/srv/app/.poorenv",
        "VIRTUAL_ENV_PROMPT": "app",
        "UV_PYTHON": "/srv/app/.poorenv/bin/python",
        "PIP_REQUIRE_VIRTUALENV": "0",
        "PYTHONHOME": None,
    }


def test_run_environ_sets_the_same_variables() -> None:
    env = Path("/srv/app/.poorenv")
    outside = {"PYTHONHOME": "/x", "PYTHONPATH": "/y", "VIRTUAL_ENV": "/venv", "UV_PYTHON": "3.13",
               "PIP_REQUIRE_VIRTUALENV": "1", "PATH": "/usr/bin:/bin", "KEEP": "me"}  # fmt: skip
    with mock.patch.dict(os.environ, outside):
        environ = run_environ(env, "app")
    for name, value in variables(env, "app").items():
        assert environ.get(name) == value, name
    assert "PYTHONPATH" not in environ and "PYTHONHOME" not in environ
    assert environ["PATH"] == "/srv/app/.poorenv/bin:/usr/bin:/bin"
    assert environ["KEEP"] == "me"


def test_a_prompt_is_one_printable_line() -> None:
    assert printable("web\nshop\x1b[31m\u2028") == "web?shop?[31m?"
    assert printable("caf\u00e9 (2)") == "caf\u00e9 (2)"
    assert printable("") == "?"
    assert variables(Path("/e"), "a\tb")["VIRTUAL_ENV_PROMPT"] == "a?b"


def test_the_env_carries_one_script_per_shell_family() -> None:
    env = Path("/srv/app/.poorenv")
    written = scripts(env, "app")
    assert [path for path, _ in written] == [env / "bin" / n for n in SCRIPT_NAMES.values()]
    assert code(env, "zsh", "app") == code(env, "bash", "app") == written[0][1]
    assert code(env, "tcsh", "app") == written[2][1]
    assert not [line for _, text in written for line in text.splitlines()
                if "PYTHONHOME" in line and ".poorenv" in line]  # fmt: skip
    with pytest.raises(ValueError):
        code(env, "ksh", "app")


# --- real shells, a path for an env -------------------------------------------------------------


def shell_lines(shell: str, file: Path) -> str:
    """Set a prompt, source `file` twice (the second undoes the first), print each variable,
    deactivate, print them again and the prompt."""
    if shell in ("bash", "zsh"):
        show = [
            f'printf "%s\\n" "{n}=${{{n}-<unset>}}"' for n in WATCHED
        ]  # zsh's echo eats backslashes
        lines = ["PS1='base> '", f". '{file}'", f". '{file}'", *show, "deactivate"]
        lines += ["echo deactivated", *show, 'echo "PROMPT=$PS1"']
        lines.append("if type deactivate >/dev/null 2>&1; then echo still-defined; fi")
    elif shell == "fish":
        show = [
            f'set -q {n}; and printf "%s\\n" "{n}=${n}"; or echo "{n}=<unset>"' for n in WATCHED
        ]
        lines = ["function fish_prompt; echo -n 'base> '; end", f"source '{file}'"]
        lines += [f"source '{file}'", *show, "deactivate", "echo deactivated", *show]
        lines += [
            'echo "PROMPT="(fish_prompt)',
            "if functions -q deactivate; echo still-defined; end",
        ]
    else:
        show = [f'if ($?{n}) then\nprintf "%s\\n" "{n}=${n}:q"\nelse\necho "{n}=<unset>"\nendif'
                for n in WATCHED]  # fmt: skip
        lines = ["set prompt = 'base> '", f"source '{file}'", f"source '{file}'", *show]
        lines += ["deactivate", "echo deactivated", *show, 'echo "PROMPT=$prompt:q"']
        lines.append('if ( "`alias deactivate`" != "" ) echo still-defined')
    return "\n".join(lines) + "\n"


def run_shell(shell: str, script: str, environ: dict[str, str]) -> str:
    argv = [shell, "-f", "/dev/stdin"] if shell == "tcsh" else [shell, "-c", script]
    result = subprocess.run(
        argv, input=script, capture_output=True, text=True, env=environ, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def values(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish", "tcsh"])
@pytest.mark.parametrize("before", ["set", "unset"])
def test_each_shell_sets_the_variables_literally_and_deactivate_gives_them_back(
    tmp_path: Path, shell: str, before: str
) -> None:
    servers.require(shutil.which(shell) is not None, shell)
    env = tmp_path / "it's a dir" / ".poorenv"
    family = "csh" if shell == "tcsh" else "bash" if shell == "zsh" else shell
    file = tmp_path / f"activate.{family}"
    file.write_text(code(env, family, NASTY))
    environ = {"PATH": "/usr/bin:/bin", "HOME": os.environ["HOME"]}
    old = {"VIRTUAL_ENV": "/opt/a venv", "VIRTUAL_ENV_PROMPT": "", "UV_PYTHON": "3.13",
           "PIP_REQUIRE_VIRTUALENV": "1", "PYTHONHOME": "/elsewhere"}  # fmt: skip
    if before == "set":
        environ.update(old)
    output = run_shell(shell, shell_lines(shell, file), environ)
    active, _, after = output.partition("deactivated\n")
    expected = {name: value or "<unset>" for name, value in variables(env, NASTY).items()}
    assert values(active) == expected
    assert values(after) == {**{n: environ.get(n, "<unset>") for n in WATCHED}, "PROMPT": "base> "}
    assert "still-defined" not in after


PROMPTS = {
    "bash": ("bash", "--norc", "--noprofile", "-i"),
    "bash-no-promptvars": ("bash", "--norc", "--noprofile", "-i"),
    "zsh": ("zsh", "-f", "-i"),
    "zsh-promptsubst": ("zsh", "-f", "-i"),
    "tcsh": ("tcsh", "-f", "-i"),
}
SETUP = {"bash-no-promptvars": "shopt -u promptvars", "zsh-promptsubst": "setopt promptsubst"}


@pytest.mark.parametrize("variant", sorted(PROMPTS))
def test_an_interactive_prompt_shows_the_name_as_it_is(tmp_path: Path, variant: str) -> None:
    argv = PROMPTS[variant]
    servers.require(shutil.which(argv[0]) is not None, argv[0])
    family = "csh" if argv[0] == "tcsh" else "bash"
    file = tmp_path / "activate"
    file.write_text(code(tmp_path / ".poorenv", family, NASTY))
    prompt = "set prompt = 'base> '" if family == "csh" else "PS1='base> '"
    lines = [SETUP.get(variant, ""), prompt, f"source '{file}'", "exit"]
    environ = {"PATH": "/usr/bin:/bin", "HOME": os.environ["HOME"], "TERM": "dumb"}
    result = subprocess.run(
        argv, input="\n".join(lines) + "\n", capture_output=True, text=True, env=environ,
        check=False,
    )  # fmt: skip
    shown = result.stdout + result.stderr
    assert f"({NASTY}) base> " in shown, shown  # the last prompt, before `exit`
    rest = shown.replace(f"({NASTY}) base> ", "")
    assert "X" not in rest and "Y" not in rest and os.environ["HOME"] not in rest  # nothing ran


def test_fish_prompt_shows_the_name_as_it_is(tmp_path: Path) -> None:
    servers.require(shutil.which("fish") is not None, "fish")
    file = tmp_path / "activate.fish"
    file.write_text(code(tmp_path / ".poorenv", "fish", NASTY))
    script = (
        f"function fish_prompt; echo -n 'base> '; end; source '{file}'; fish_prompt; echo;"
        " deactivate; fish_prompt"
    )
    environ = {"PATH": "/usr/bin:/bin", "HOME": os.environ["HOME"]}
    # fish shows a prompt's output lines, so one trailing newline makes no difference
    assert run_shell("fish", script, environ).splitlines() == [f"({NASTY}) base> ", "", "base> "]


@pytest.mark.parametrize("shell", ["bash", "fish", "tcsh"])
def test_disabling_the_prompt_still_activates(tmp_path: Path, shell: str) -> None:
    servers.require(shutil.which(shell) is not None, shell)
    family = "csh" if shell == "tcsh" else shell
    file = tmp_path / "activate"
    file.write_text(code(tmp_path / ".poorenv", family, "app"))
    show = {
        "bash": f"PS1='base> '; . '{file}'; echo \"$PS1|$VIRTUAL_ENV_PROMPT\"",
        "fish": f"function fish_prompt; echo -n 'base> '; end; source '{file}';"
        ' echo (fish_prompt)"|$VIRTUAL_ENV_PROMPT"',
        "tcsh": f"set prompt = 'base> '\nsource '{file}'\necho \"$prompt:q|$VIRTUAL_ENV_PROMPT\"\n",
    }[shell]
    for variable in ("POORENV_DISABLE_PROMPT", "VIRTUAL_ENV_DISABLE_PROMPT"):
        environ = {"PATH": "/usr/bin:/bin", "HOME": os.environ["HOME"], variable: "1"}
        assert run_shell(shell, show, environ).strip() == "base> |app"
    environ = {"PATH": "/usr/bin:/bin", "HOME": os.environ["HOME"]}
    assert run_shell(shell, show, environ).strip() == "(app) base> |app"
