"""What an active env looks like, to the shell and to the tools run in it.

`variables` is the one list of what an active env sets and puts aside. The activation code for
bash/zsh, fish and csh (`bin/activate*`, `poorenv activate`) and `poorenv run`'s environment
(`run_environ`) are all made from it, so that other tools see the env as the active one:
`VIRTUAL_ENV` (editors, prompts), `UV_PYTHON` (uv rejects an interpreter whose prefix is its
base prefix even with VIRTUAL_ENV set, but takes one named by UV_PYTHON) and
`PIP_REQUIRE_VIRTUALENV=0` (pip does not count such an env as a virtualenv either).

Activation saves each variable first and `deactivate` gives it back exactly: the old value, or
unset when it was unset. None of it exports PYTHONHOME: the env's interpreter finds its prefix
by itself, and an exported PYTHONHOME would break every other Python on the machine. A
PYTHONHOME already set is put aside while the env is active, since it would send the env's
python elsewhere.
"""

from __future__ import annotations

import shlex
from pathlib import Path

SHELLS = ("bash", "zsh", "fish", "csh")
SCRIPT_NAMES = {"bash": "activate", "fish": "activate.fish", "csh": "activate.csh"}


def variables(env: Path, prompt: str) -> dict[str, str | None]:
    """What an active env sets (a value) or puts aside (None), besides its bin first on PATH."""
    return {
        "POORENV_ACTIVE": str(env),
        "VIRTUAL_ENV": str(env),
        "VIRTUAL_ENV_PROMPT": printable(prompt),
        "UV_PYTHON": str(env / "bin" / "python"),
        "PIP_REQUIRE_VIRTUALENV": "0",
        "PYTHONHOME": None,
    }


def printable(name: str) -> str:
    """`name` fit for a prompt, one line: control characters (a directory name may hold any)
    become `?`."""
    import unicodedata

    bad = ("Cc", "Zl", "Zp")
    return "".join("?" if unicodedata.category(c) in bad else c for c in name) or "?"


def code(env: Path, shell: str, prompt: str) -> str:
    """The activation code for `shell`, as `poorenv activate` prints it for eval."""
    if shell in ("bash", "zsh"):
        return _posix(env, prompt)
    if shell == "fish":
        return _fish(env, prompt)
    if shell in ("csh", "tcsh"):
        return _csh(env, prompt)
    raise ValueError(f"unknown shell {shell!r}")


def scripts(env: Path, prompt: str) -> list[tuple[Path, str]]:
    """The bin/activate* files an env carries."""
    return [(env / "bin" / name, code(env, shell, prompt)) for shell, name in SCRIPT_NAMES.items()]


def run_environ(env: Path, prompt: str) -> dict[str, str]:
    """The environment `poorenv run` gives a command: the env active as activation makes it,
    and none of the variables that would send its python elsewhere."""
    import os

    from poorenv.paths import clean_environ

    environ = clean_environ()
    for name, value in variables(env, prompt).items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    environ["PATH"] = os.pathsep.join([str(env / "bin"), environ.get("PATH", "")])
    return environ


# --- bash and zsh ---------------------------------------------------------------------------
# Each variable is saved as "x" + its value, or "" when it was unset; `deactivate` puts back
# exactly what was saved, and only what this shell's activation saved.


def _posix(env: Path, prompt: str) -> str:
    q = shlex.quote
    changes = variables(env, prompt)
    names = ["PATH", *changes]
    lines = [f"# Made by poorenv. Use: source {q(str(env / 'bin' / 'activate'))} (bash, zsh)"]
    lines.append("deactivate () {")
    for name in [*names, "PS1"]:
        old = f"_POORENV_OLD_{name}"
        export = "" if name == "PS1" else f"; export {name}"
        lines.append(
            f'    if [ -n "${{{old}+set}}" ]; then case ${old} in x*) {name}="${{{old}#x}}"{export}'
            f" ;; *) unset {name} ;; esac; unset {old}; fi"
        )
    lines += [
        "    hash -r 2>/dev/null",
        '    if [ "${1-}" != "nondestructive" ]; then unset -f deactivate; fi',
        "}",
        "deactivate nondestructive",
    ]
    lines += [f'_POORENV_OLD_{name}="${{{name}+x${name}}}"' for name in names]
    lines.append(f'PATH={q(str(env / "bin"))}:"$PATH"; export PATH')
    for name, value in changes.items():
        lines.append(f"unset {name}" if value is None else f"{name}={q(value)}; export {name}")
    shown = printable(prompt)
    lines += [
        'if [ -z "${POORENV_DISABLE_PROMPT-}${VIRTUAL_ENV_DISABLE_PROMPT-}" ]; then',
        '    _POORENV_OLD_PS1="${PS1+x$PS1}"',
        '    if [ -n "${ZSH_VERSION-}" ]; then',
        f"        if [[ -o promptsubst ]]; then PS1={_zsh_ps1(shown, True)}; "
        f"else PS1={_zsh_ps1(shown, False)}; fi",
        "    elif shopt -q promptvars 2>/dev/null; then",
        f"        PS1={_bash_ps1(shown, True)}",
        "    else",
        f"        PS1={_bash_ps1(shown, False)}",
        "    fi",
        "fi",
        "hash -r 2>/dev/null",
    ]
    return "\n".join(lines) + "\n"


def _bash_ps1(name: str, promptvars: bool) -> str:
    """`(name) ` before the old PS1, shown literally by bash: PS1 loses one level of
    backslashes to its escapes (\\w, ...), and with promptvars one more to expansion."""
    table = {"\\": "\\" * 4, "$": "\\\\$", "`": "\\\\`"} if promptvars else {"\\": "\\" * 2}
    return shlex.quote("(" + "".join(table.get(c, c) for c in name) + ") ") + '"${PS1-}"'


def _zsh_ps1(name: str, promptsubst: bool) -> str:
    """`(name) ` before the old PS1, shown literally by zsh: `%` is always special, and with
    PROMPT_SUBST so are `$`, backquotes and backslashes."""
    if promptsubst:
        for char in "\\$`":
            name = name.replace(char, f"\\{char}")
    return shlex.quote(f"({name.replace('%', '%%')}) ") + '"${PS1-}"'


# --- fish -----------------------------------------------------------------------------------


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish(env: Path, prompt: str) -> str:
    changes = variables(env, prompt)
    names = " ".join(["PATH", *changes])
    sets = [
        f"set -e -g {name}" if value is None else f"set -gx {name} {_fish_quote(value)}"
        for name, value in changes.items()
    ]
    return f"""\
# Made by poorenv. Use: source {_fish_quote(str(env / "bin" / "activate.fish"))}
function deactivate --description 'Leave the poorenv env'
    for name in {names}
        set -l old _POORENV_OLD_$name
        if set -q $old
            if count $$old >/dev/null
                set -gx $name $$old
            else
                set -e -g $name
            end
            set -e -g $old
        end
    end
    if set -q _POORENV_FISH_PROMPT
        set -l fish_function_path
        functions -e fish_prompt
        functions -c _poorenv_old_fish_prompt fish_prompt
        functions -e _poorenv_old_fish_prompt
        set -e -g _POORENV_FISH_PROMPT
    end
    if test "$argv[1]" != nondestructive
        functions -e deactivate
    end
end
deactivate nondestructive
for name in {names}
    set -g _POORENV_OLD_$name $$name
end
set -gx PATH {_fish_quote(str(env / "bin"))} $PATH
{chr(10).join(sets)}
if test -z "$POORENV_DISABLE_PROMPT$VIRTUAL_ENV_DISABLE_PROMPT"; and functions -q fish_prompt
    functions -c fish_prompt _poorenv_old_fish_prompt
    function fish_prompt
        set -l prompt (_poorenv_old_fish_prompt)  # first: it may show the last status
        printf '(%s) ' {_fish_quote(printable(prompt))}
        string join -- \\n $prompt
    end
    set -g _POORENV_FISH_PROMPT 1
end
"""


# --- csh and tcsh ---------------------------------------------------------------------------
# csh has no functions: `deactivate` is an alias, one line, in which every command is
# substituted only when it runs (hence `test ... &&` rather than a one-line `if`).


def _csh_quote(text: str) -> str:
    """Single quotes, in which csh still sees `!` (history) unless escaped."""
    return "'" + text.replace("'", "'\\''").replace("!", "\\!") + "'"


def _csh(env: Path, prompt: str) -> str:
    changes = variables(env, prompt)
    restore = [
        f"test $?_POORENV_ACTIVE != 0 && unsetenv {name}; test $?_POORENV_OLD_{name} != 0"
        f' && setenv {name} "$_POORENV_OLD_{name}:q" && unset _POORENV_OLD_{name}; '
        for name in changes
    ]
    restore += [
        'test $?_POORENV_OLD_prompt != 0 && set prompt = "$_POORENV_OLD_prompt:q"'
        " && unset _POORENV_OLD_prompt; ",
        'test $?_POORENV_OLD_PATH != 0 && setenv PATH "$_POORENV_OLD_PATH:q"'
        " && unset _POORENV_OLD_PATH; ",
        "unset _POORENV_ACTIVE; rehash; ",
        'test "\\!:*" != nondestructive && unalias deactivate',
    ]
    lines = [
        f"# Made by poorenv. Use: source {_csh_quote(str(env / 'bin' / 'activate.csh'))}",
        f"alias deactivate '{''.join(restore)}'",
        "deactivate nondestructive",
        "set _POORENV_ACTIVE",
        'set _POORENV_OLD_PATH = "$PATH:q"',
        f'setenv PATH {_csh_quote(str(env / "bin"))}:"$PATH:q"',
    ]
    for name, value in changes.items():
        lines += [f"if ($?{name}) then", f'    set _POORENV_OLD_{name} = "${name}:q"', "endif"]
        lines.append(f"unsetenv {name}" if value is None else f"setenv {name} {_csh_quote(value)}")
    # In tcsh's prompt `%`, `!` and backslashes are special.
    shown = printable(prompt).replace("\\", "\\\\").replace("%", "%%").replace("!", "\\!")
    lines += [
        "if ($?prompt) then",
        "    if (! $?POORENV_DISABLE_PROMPT && ! $?VIRTUAL_ENV_DISABLE_PROMPT) then",
        '        set _POORENV_OLD_prompt = "$prompt:q"',
        f'        set prompt = {_csh_quote(f"({shown}) ")}"$prompt:q"',
        "    endif",
        "endif",
        "rehash",
    ]
    return "\n".join(lines) + "\n"
