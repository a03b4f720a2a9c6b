"""`pack` and `unpack`: load, call `deploy/pack.py` / `deploy/unpack.py`, print."""

from __future__ import annotations

import argparse
from pathlib import Path

from poorenv.cli.output import CliReporter, print_json, say
from poorenv.errors import EXIT_OK


def cmd_pack(args: argparse.Namespace) -> int:
    from poorenv.cli.commands import _project
    from poorenv.deploy.pack import pack

    project = _project()
    packed = pack(project, Path(args.output), CliReporter(args))
    manifest = packed.manifest
    if args.json:
        print_json(
            "pack",
            {
                "archive": str(packed.output),
                "bytes": packed.bytes,
                "sha256": packed.sha256,
                "manifest": manifest.to_json(),
            },
        )
        return EXIT_OK
    of = f"generation {manifest.generation} of " if manifest.generation is not None else ""
    say(
        args,
        f"{packed.output}: {of}{project.config.served_path}, {manifest.members} entries,"
        f" {manifest.size / 1e6:.1f} MB of files in {packed.bytes / 1e6:.1f} MB"
        f" ({packed.sha256[:19]}...)",
    )
    base = manifest.base
    facts = f"{base['implementation']} {base['version']} ({base['abi']}, {base['platform']})"
    say(args, f"  for {facts}")
    return EXIT_OK


def cmd_unpack(args: argparse.Namespace) -> int:
    from poorenv.deploy.unpack import unpack

    result = unpack(Path(args.archive), Path.cwd(), CliReporter(args))
    generation, replaced = result.generation, result.replaced
    if args.json:
        print_json(
            "unpack",
            {
                "env": str(result.env),
                "path": str(result.path),
                "generation": None if generation is None else generation.number,
                "replaced": None if replaced is None else replaced.number,
                "pruned": [g.number for g in result.pruned],
                "written": list(result.written),
                "members": result.members,
                "relocated": result.relocated,
                "switch_seconds": round(result.switch_seconds, 3),
                "verify": result.verified.to_json(),
            },
        )
        return EXIT_OK
    for name in result.written:
        say(args, f"wrote {name}")
    where = f"generation {generation.number} ({result.path.name})" if generation else "the env"
    say(
        args,
        f"{result.env}: unpacked {result.members} entries as {where},"
        f" {result.relocated} script(s) repaired; {result.verified.render()}",
    )
    if generation is not None:
        was = f", was {replaced.number}" if replaced is not None else ""
        say(args, f"  switched and reloaded in {result.switch_seconds:.2f} s{was}")
        for gone in result.pruned:
            say(args, f"  removed generation {gone.number} ({gone.lock_hash})")
    return EXIT_OK
