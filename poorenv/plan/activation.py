"""Shell activation: the env's bin first on PATH, a `deactivate` that undoes it.

None of these exports PYTHONHOME: the env's interpreter finds its prefix by itself, and an
exported PYTHONHOME would break every other Python on the machine. A PYTHONHOME already set
is put aside while the env is active, since it would send the env's python elsewhere.
"""

from __future__ import annotations

import shlex
from pathlib import Path

SHELLS = ("bash", "zsh", "fish", "csh")

_POSIX = """\
# Made by poorenv. Use: source {activate} (bash, zsh)
deactivate () {{
    if [ -n "${{_POORENV_OLD_PATH+set}}" ]; then PATH="$_POORENV_OLD_PATH"; export PATH; unset _POORENV_OLD_PATH; fi
    if [ -n "${{_POORENV_OLD_PYTHONHOME+set}}" ]; then PYTHONHOME="$_POORENV_OLD_PYTHONHOME"; export PYTHONHOME; unset _POORENV_OLD_PYTHONHOME; fi
    if [ -n "${{_POORENV_OLD_PS1+set}}" ]; then PS1="$_POORENV_OLD_PS1"; unset _POORENV_OLD_PS1; fi
    unset POORENV_ACTIVE
    hash -r 2>/dev/null
    if [ "${{1-}}" != "nondestructive" ]; then unset -f deactivate; fi
}}
deactivate nondestructive
POORENV_ACTIVE={env}
export POORENV_ACTIVE
_POORENV_OLD_PATH="$PATH"
PATH={bin}:"$PATH"
export PATH
if [ -n "${{PYTHONHOME+set}}" ]; then _POORENV_OLD_PYTHONHOME="$PYTHONHOME"; unset PYTHONHOME; fi
if [ -z "${{POORENV_DISABLE_PROMPT-}}" ]; then _POORENV_OLD_PS1="${{PS1-}}"; PS1="({name}) ${{PS1-}}"; fi
hash -r 2>/dev/null
"""

_FISH = """\
# Made by poorenv. Use: source {activate}.fish
function deactivate --description 'Leave the poorenv env'
    if set -q _POORENV_OLD_PATH
        set -gx PATH $_POORENV_OLD_PATH
        set -e _POORENV_OLD_PATH
    end
    if set -q _POORENV_OLD_PYTHONHOME
        set -gx PYTHONHOME $_POORENV_OLD_PYTHONHOME
        set -e _POORENV_OLD_PYTHONHOME
    end
    set -e POORENV_ACTIVE
    if test "$argv[1]" != nondestructive
        functions -e deactivate
    end
end
deactivate nondestructive
set -gx POORENV_ACTIVE {env}
set -gx _POORENV_OLD_PATH $PATH
set -gx PATH {bin} $PATH
if set -q PYTHONHOME
    set -gx _POORENV_OLD_PYTHONHOME $PYTHONHOME
    set -e PYTHONHOME
end
"""

_CSH = """\
# Made by poorenv. Use: source {activate}.csh
if ($?_POORENV_OLD_PATH) then
    setenv PATH "$_POORENV_OLD_PATH:q"
    unset _POORENV_OLD_PATH
endif
if ($?_POORENV_OLD_PYTHONHOME) then
    setenv PYTHONHOME "$_POORENV_OLD_PYTHONHOME:q"
    unset _POORENV_OLD_PYTHONHOME
endif
alias deactivate 'test $?_POORENV_OLD_PATH != 0 && setenv PATH "$_POORENV_OLD_PATH:q" && unset _POORENV_OLD_PATH; test $?_POORENV_OLD_PYTHONHOME != 0 && setenv PYTHONHOME "$_POORENV_OLD_PYTHONHOME:q" && unset _POORENV_OLD_PYTHONHOME; unsetenv POORENV_ACTIVE; rehash; unalias deactivate'
setenv POORENV_ACTIVE {env}
set _POORENV_OLD_PATH="$PATH:q"
setenv PATH {bin}:"$PATH:q"
if ($?PYTHONHOME) then
    set _POORENV_OLD_PYTHONHOME="$PYTHONHOME:q"
    unsetenv PYTHONHOME
endif
rehash
"""

_TEMPLATES = {
    "bash": ("activate", _POSIX),
    "fish": ("activate.fish", _FISH),
    "csh": ("activate.csh", _CSH),
}


def code(env: Path, shell: str) -> str:
    """The activation code for `shell`, as `poorenv activate` prints it for eval."""
    _, template = _TEMPLATES["bash" if shell == "zsh" else shell]
    return template.format(
        env=shlex.quote(str(env)),
        bin=shlex.quote(str(env / "bin")),
        name=env.name.replace("'", ""),
        activate=shlex.quote(str(env / "bin" / "activate")),
    )


def scripts(env: Path) -> list[tuple[Path, str]]:
    """The bin/activate* files an env carries."""
    return [(env / "bin" / name, code(env, shell)) for shell, (name, _) in _TEMPLATES.items()]


def run_environ(env: Path) -> dict[str, str]:
    """The environment `poorenv run` gives a command: the env's bin first on PATH, none of the
    variables that would send its python elsewhere."""
    import os

    from poorenv.paths import clean_environ

    environ = clean_environ(POORENV_ACTIVE=str(env))
    environ["PATH"] = os.pathsep.join([str(env / "bin"), environ.get("PATH", "")])
    return environ
