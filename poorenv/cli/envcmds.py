"""The commands that tell of a project or use its env without changing it: info, cache-key,
run, activate."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from poorenv.cli.commands import _built, _config, _in_place, _project
from poorenv.cli.output import print_json
from poorenv.errors import EXIT_OK, ConfigError, EnvError


def cmd_info(args: argparse.Namespace) -> int:
    project = _project()
    info = project.info()
    if args.json:
        print_json("info", info)
        return EXIT_OK
    env, base, locked = info["env"], project.base, info["lock"]
    state = "synced" if env["synced"] else "exists" if env["exists"] else "not built"
    print(f"project:   {info['project']}")
    print(f"env:       {env['path']} ({state})")
    print(f"base:      {base.describe()}, {base.abi}")
    pythons = (
        f"; resolutions for {', '.join(locked['pythons'])}" if len(locked["pythons"]) > 1 else ""
    )
    print(f"lock:      {locked['path']} ({locked['packages']} packages{pythons}"
          f"{', ' + locked['problem'] if locked['problem'] else ''})")  # fmt: skip
    print(f"resolver:  {info['resolver']}")
    print(f"installer: {info['installer']}")
    print(f"cache:     {info['cache_dir']}")
    if info["cache_key"]:
        print(f"cache-key: {info['cache_key']}")
    return EXIT_OK


def cmd_cache_key(args: argparse.Namespace) -> int:
    from poorenv.lock.lockfile import require_lock

    project = _project(args)
    lock = require_lock(project.lock_path, hint="run `poorenv lock` and commit it")
    print(project.cache_key(lock))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from poorenv.launch import exec_command
    from poorenv.plan.activation import run_environ

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise ConfigError("run: no command given", hint="poorenv run -- python -c 'import app'")
    from poorenv.ownership import env_exists

    config = _config()
    env_path = config.served_path
    if not env_exists(env_path) or not os.path.exists(env_path / "bin" / "python"):
        raise EnvError(f"{env_path}: no env here yet", hint="run `poorenv sync` first")
    _in_place(env_path)
    exec_command(cmd, run_environ(env_path, config.env_prompt))


def cmd_activate(args: argparse.Namespace) -> int:
    from poorenv.plan.activation import code

    config = _config()
    shell = args.shell or Path(os.environ.get("SHELL", "bash")).name
    if shell not in ("bash", "zsh", "fish", "csh", "tcsh"):
        raise ConfigError(
            f"activate: unknown shell {shell!r}", hint="pass --shell bash|zsh|fish|csh"
        )
    _built(config.served_path)
    _in_place(config.served_path)
    print(code(config.served_path, shell, config.env_prompt), end="")
    return EXIT_OK
