"""`poorenv deploy`, `rollback` and `generations`: load, call `deploy/deployer.py`, print."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from poorenv.cli.output import CliReporter, print_json, say
from poorenv.errors import EXIT_OK

if TYPE_CHECKING:
    from poorenv.deploy.deployer import Deployed


def cmd_deploy(args: argparse.Namespace) -> int:
    from poorenv.cli.commands import _project
    from poorenv.deploy import deployer
    from poorenv.lock.lockfile import lock_changes
    from poorenv.project import LockMode

    project = _project()
    deployer.settings(project)  # no [deploy] table: refused before anything runs
    say(args, f"base: {project.base.describe()}")
    mode = LockMode.LOCKED if args.locked else LockMode.FROZEN if args.frozen else LockMode.AUTO
    result = deployer.deploy(
        project,
        mode,
        args.upgrade,
        tuple(args.upgrade_package),
        installer=args.installer,
        reporter=CliReporter(args, project.lock_path),
    )
    link = project.config.served_path
    if args.json:
        print_json(
            "deploy",
            {
                **_json(result),
                "actions": [a.to_json() for a in result.done],
                "lock_changes": lock_changes(result.old_lock, result.lock),
            },
        )
    elif result.replaced is None and not result.done:
        say(args, f"{link}: generation {result.generation.number} is the lock's env already")
    else:
        _say_switch(args, link, result, "deployed")
        for gone in result.pruned:
            say(args, f"  removed generation {gone.number} ({gone.lock_hash})")
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    from poorenv.cli.commands import _project
    from poorenv.deploy import deployer

    project = _project()
    result = deployer.rollback(project, CliReporter(args))
    if args.json:
        print_json("rollback", _json(result))
    else:
        _say_switch(args, project.config.served_path, result, "rolled back to")
    return EXIT_OK


def _say_switch(args: argparse.Namespace, link: object, result: Deployed, verb: str) -> None:
    new, old = result.generation, result.replaced
    was = f", was {old.number}" if old is not None else ""
    say(
        args,
        f"{link}: {verb} generation {new.number} ({new.lock_hash}{was});"
        f" switched and reloaded in {result.switch_seconds:.2f} s",
    )


def _json(result: Deployed) -> dict[str, object]:
    new, old = result.generation, result.replaced
    return {
        "generation": new.number,
        "replaced": None if old is None else old.number,
        "pruned": [g.number for g in result.pruned],
        "switch_seconds": round(result.switch_seconds, 3),
    }


def cmd_generations(args: argparse.Namespace) -> int:
    from poorenv.cli.commands import _config
    from poorenv.deploy.generations import Generations, size_on_disk

    config = _config()
    gens = Generations(config.served_path)
    current = gens.current()
    rows = [
        g.to_json(current is not None and g.number == current.number, size_on_disk(g.path))
        for g in gens.all()
    ]
    if args.json:
        print_json("generations", {"env": str(config.served_path), "generations": rows})
        return EXIT_OK
    if not rows:
        say(args, f"{config.served_path}: no generations (run `poorenv deploy`)")
        return EXIT_OK
    print(f"{'':2}{'number':>6}  {'lock hash':12}  {'created':20}  {'size':>9}")
    for row in rows:
        mark = "*" if row["current"] else " "
        size = f"{int(str(row['size'])) / 1e6:.1f} MB"
        print(
            f"{mark:2}{row['number']:>6}  {row['lock_hash']:12}  {row['created'] or '?':20}"
            f"  {size:>9}"
        )
    return EXIT_OK
