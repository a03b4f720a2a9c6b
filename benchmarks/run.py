"""Time poorenv against uv, venv + pip, pip-sync, virtualenv and pip-compile, in one run.

    python benchmarks/run.py [--sets small,large] [--runs 7]
        [--ops empty,full,noop,drift,lock,sizes,uvlock] [--many 500]

Inputs are ../shared/bench/{small,large}.in, locked for CPython 3.11. Method as in
../shared/bench/README.md: a local wheelhouse (every install `--no-index --find-links`), warm
caches, one warm-up run per command, then rounds that run every command once in rotating order
(paired runs), 7 rounds by default. Reported: the median time of each command, the median of the
round-by-round ratio poorenv / other, and peak RSS (the largest process of the command's tree),
from one more run under GNU time (/usr/bin/time -f %M): a child's own ru_maxrss counts the RSS of
the process that forked it, so measured from here every command below ~18 MiB (run.py's own
size) would read as ~18 MiB.
PYTHONDONTWRITEBYTECODE is unset, as the reference figures were taken. pip compiles bytecode,
uv does not: said in each row.

`sizes`: no-op `sync`, `-C DIR sync --locked` and `check` with 24 (small.in), 116 (large.in) and
--many (default 500) installed distributions, the last made of small local wheels
(tests/wheels.py), against `uv pip sync --offline` of the same pins, all in the same rounds;
with how each grows from 24. Text after the line `<!-- kept -->` in --out (the profiles) is kept.

`uvlock` (not in the default ops) times `poorenv lock` with `resolver = "uv"` and `seed = []`
against `uv pip compile --generate-hashes --python BASE` on the same requirements.in, both
against the configured package index (no wheelhouse: from one, uv takes ~0.02 s, less than an
interpreter start) and both from an empty output file each round (no pins kept).

Needs the tools beside poorenv, installed as users do (not editable: an editable install's
finder costs every start ~10 ms): pip install '.[uv]' virtualenv
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "bench"
WORK = ROOT / "benchmarks" / "work"
BIN = Path(sys.executable).parent
ENV = {
    k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PIP_FIND_LINKS")
}
# uv at its best: with SSL_CERT_DIR/SSL_CERT_FILE (set on these machines) it reads every
# certificate at start, even --offline (~5 ms of a no-op).
UV_BEST = {k: v for k, v in ENV.items() if k not in ("SSL_CERT_DIR", "SSL_CERT_FILE")}


@dataclass
class Command:
    name: str
    argv: Callable[[], Sequence[str]]
    setup: Callable[[], None] = lambda: None
    cwd: Path = WORK
    env: dict[str, str] = field(default_factory=lambda: ENV)
    times: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)


def sh(*argv: str | Path, cwd: Path = WORK, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=ENV, check=check, text=True,
                          capture_output=True)  # fmt: skip


def timed(argv: Sequence[str], cwd: Path, env: dict[str, str] = ENV) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(
            f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr.read().decode()}"
        )  # type: ignore[union-attr]
    proc.stderr.close()  # type: ignore[union-attr]
    return elapsed, usage.ru_maxrss


def rounds(commands: list[Command], runs: int) -> None:
    """A warm-up run of each command, then `runs` rounds running each once, in rotating order."""
    for command in commands:  # warm-up
        command.setup()
        timed(command.argv(), command.cwd, command.env)
    for round_number in range(runs):
        shift = round_number % len(commands)
        for command in commands[shift:] + commands[:shift]:
            command.setup()
            seconds, rss = timed(command.argv(), command.cwd, command.env)
            command.times.append(seconds)
            command.rss_kb.append(rss)
    if GNU_TIME is not None:
        for command in commands:
            command.setup()
            command.rss_kb = [peak_rss(command)]


GNU_TIME = shutil.which("time", path="/usr/bin:/bin")


def peak_rss(command: Command) -> int:
    """The peak RSS (KiB) of the largest process of one run, as GNU time's wait4 sees it: its
    parent is time, a small process, not this one."""
    out = WORK / "peak-rss.txt"
    timed([str(GNU_TIME), "-f", "%M", "-o", str(out), *command.argv()], command.cwd, command.env)
    return int(out.read_text().split()[-1])


def fixed(*argv: str) -> Callable[[], list[str]]:
    return lambda: list(argv)


def ratio(a: Command, b: Command) -> float:
    """The median of the round-by-round ratios a / b."""
    return statistics.median(x / y for x, y in zip(a.times, b.times))


def measure(title: str, commands: list[Command], runs: int) -> list[str]:
    rounds(commands, runs)
    ours = commands[0]
    rows = [f"\n**{title}**\n", "| command | median | poorenv / this (median of pairs) | peak RSS |",
            "|---|---|---|---|"]  # fmt: skip
    for command in commands:
        rows.append(
            f"| {command.name} | {statistics.median(command.times):.3f} s | "
            f"{'—' if command is ours else f'{ratio(ours, command):.2f}x'} | "
            f"{max(command.rss_kb) / 1024:.0f} MiB |"
        )
    print("\n".join(rows), flush=True)
    return rows


def measure_sizes(sets: dict[int, tuple[Path, Path]], uv_sync: Callable[[Path, Path], list[str]],
                  runs: int) -> list[str]:  # fmt: skip
    """No-op sync, `-C DIR sync --locked` and check of each set (distributions -> project,
    uv venv) against `uv pip sync --offline`, every command in the same rounds."""
    poorenv = str(BIN / "poorenv")
    table: dict[int, list[Command]] = {}
    for size, (project, uvenv) in sets.items():
        table[size] = [
            Command("sync", fixed(poorenv, "sync", "-q"), cwd=project),
            Command("check", fixed(poorenv, "check", "-q"), cwd=project),
            Command("-C", fixed(poorenv, "-C", str(project), "sync", "--locked", "-q")),
            Command("uv", fixed(*uv_sync(uvenv, project), "--offline"), env=UV_BEST),
        ]
    rounds([c for row in table.values() for c in row], runs)
    first = min(table)
    rows = [
        "\n**No-op by size: installed distributions, every command in the same rounds; uv at its"
        " best (--offline, no SSL_CERT_DIR/SSL_CERT_FILE)**\n",
        "| dists | poorenv sync | poorenv check | poorenv -C DIR sync --locked | uv pip sync --offline"
        " | sync / uv | check / uv | -C --locked / uv | sync, uv: time / time at "
        f"{first} | peak RSS sync, check, uv |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size, (sync, check, locked, uv) in table.items():
        low = table[first]
        rss = ", ".join(f"{max(c.rss_kb) / 1024:.0f}" for c in (sync, check, uv))
        rows.append(
            f"| {size} | " + " | ".join(f"{statistics.median(c.times):.4f} s" for c in (sync, check, locked, uv))
            + f" | {ratio(sync, uv):.2f}x | {ratio(check, uv):.2f}x | {ratio(locked, uv):.2f}x | "
            f"{ratio(sync, low[0]):.2f}, {ratio(uv, low[3]):.2f} | {rss} MiB |"
        )  # fmt: skip
    print("\n".join(rows), flush=True)
    return rows


def rm(*paths: Path) -> Callable[[], None]:
    def remove() -> None:
        for path in paths:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()

    return remove


def prepare(name: str, python: str) -> tuple[Path, Path, Path]:
    """A poorenv project for the set, its lock exported, and a wheelhouse of everything."""
    project = WORK / name
    wheels = WORK / "wheelhouse"
    project.mkdir(parents=True, exist_ok=True)
    wheels.mkdir(parents=True, exist_ok=True)
    source = project / "requirements.in"
    shutil.copy2(SHARED / f"{name}.in", source)
    config = f'[env]\npython = "{python}"\nseed = []\n[requirements]\nfiles = ["requirements.in"]\n'
    (project / "poorenv.toml").write_text(config)
    if not (project / "poorenv.lock").exists():
        sh(BIN / "poorenv", "lock", "-q", cwd=project)
    pins = project / "requirements.txt"
    pins.write_text(sh(BIN / "poorenv", "export", cwd=project).stdout)
    sh(BIN / "python", "-m", "pip", "download", "-q", "--no-deps", "-d", wheels, "-r", pins)
    sh(BIN / "python", "-m", "pip", "download", "-q", "--no-deps", "-d", wheels, "--python-version",
       python, "--only-binary=:all:", "pip", "setuptools", "six")  # fmt: skip
    offline = config + f'[index]\nno-index = true\nfind-links = ["{wheels}"]\n'
    (project / "poorenv.toml").write_text(offline)
    sh(BIN / "poorenv", "lock", "-q", cwd=project)  # same pins, now from the wheelhouse
    return project, pins, wheels


def prepare_many(count: int, python: str) -> tuple[Path, Path, Path]:
    """A project of `count` small local wheels (tests/wheels.py), locked and exported."""
    sys.path.insert(0, str(ROOT))
    from tests.wheels import make_wheel

    project = WORK / f"many{count}"
    wheels = WORK / f"many{count}-wheels"
    project.mkdir(parents=True, exist_ok=True)
    names = [f"many{i:04d}" for i in range(count)]
    for name in names:
        if not (wheels / f"{name}-1.0-py3-none-any.whl").exists():
            make_wheel(wheels, name, "1.0")
    (project / "requirements.in").write_text("".join(f"{name}\n" for name in names))
    (project / "poorenv.toml").write_text(
        f'[env]\npython = "{python}"\nseed = []\n[requirements]\nfiles = ["requirements.in"]\n'
        f'[index]\nno-index = true\nfind-links = ["{wheels}"]\n'
    )
    if not (project / "poorenv.lock").exists():
        sh(BIN / "poorenv", "lock", "-q", cwd=project)
    pins = project / "requirements.txt"
    pins.write_text(sh(BIN / "poorenv", "export", cwd=project).stdout)
    return project, pins, wheels


def uv_lock(name: str, base: str, uv: str, runs: int) -> list[str]:
    """`poorenv lock` with the uv resolver against `uv pip compile`, against the index."""
    project = WORK / f"{name}-uvlock"
    project.mkdir(parents=True, exist_ok=True)
    shutil.copy2(SHARED / f"{name}.in", project / "requirements.in")
    (project / "poorenv.toml").write_text(
        f'[env]\npython = "{base}"\nseed = []\nresolver = "uv"\n'
        '[requirements]\nfiles = ["requirements.in"]\n'
    )
    out = WORK / f"{name}-uv-compiled.txt"
    return measure(f"Lock {name}.in with uv (hashes, against the package index)", [
        Command("poorenv lock (resolver uv)", lambda: [str(BIN / "poorenv"), "lock", "-q"],
                rm(project / "poorenv.lock"), project),
        Command("uv pip compile --generate-hashes --python BASE",
                lambda: [uv, "pip", "compile", "-q", "--generate-hashes", "--python", base,
                         "-o", str(out), str(project / "requirements.in")], rm(out)),
    ], runs)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="small,large")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--ops", default="empty,full,noop,drift,lock,sizes")
    parser.add_argument("--many", type=int, default=500, help="distributions of the third size")
    parser.add_argument("--python", default="3.11")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.md")
    args = parser.parse_args(argv)
    ops = set(args.ops.split(","))
    base = sh(BIN / "python", "-c", "from poorenv.discover.find import find_interpreter;"
              f"from pathlib import Path; print(find_interpreter({args.python!r}, Path.cwd()).executable)",
              cwd=ROOT).stdout.strip()  # fmt: skip
    WORK.mkdir(parents=True, exist_ok=True)
    report = [f"# Benchmarks\n\n`python benchmarks/run.py --sets {args.sets} --runs {args.runs} "
              f"--ops {args.ops}`; base {base}; {os.cpu_count()} cores.\n"]  # fmt: skip
    uv = str(BIN / "uv")
    wheelhouses: dict[Path, Path] = {}

    def sizes_sync(target: Path, project: Path, wheels: Path) -> list[str]:
        return [uv, "pip", "sync", "-q", "--python", str(target / "bin" / "python"), "--no-index",
                "--find-links", str(wheels), str(project / "requirements.txt")]  # fmt: skip

    for name in args.sets.split(","):
        if "uvlock" in ops:
            report += uv_lock(name, base, uv, args.runs)
        if not ops - {"uvlock"}:
            continue
        project, pins, wheels = prepare(name, args.python)
        index = ["--no-index", "--find-links", str(wheels)]
        env = project / ".poorenv"
        other = WORK / f"{name}-venv"
        uvenv = WORK / f"{name}-uv"
        report.append(f"\n## `{name}.in` ({len(pins.read_text().split('==')) - 1} pins)\n")

        def poorenv(*extra: str) -> Callable[[], list[str]]:
            return lambda: [str(BIN / "poorenv"), "sync", "-q", *extra]

        def venv_pip() -> list[str]:
            return ["bash", "-c", f"{base} -m venv {other} && {other}/bin/pip install -q "
                    f"--no-deps {' '.join(index)} -r {pins}"]  # fmt: skip

        def uv_sync(target: Path) -> list[str]:
            return [uv, "pip", "sync", "-q", "--python", str(target / "bin" / "python"), *index,
                    str(pins)]  # fmt: skip

        def pip_sync(target: Path) -> list[str]:
            return [str(BIN / "pip-sync"), "-q", "--python-executable", str(target / "bin" / "python"),
                    *index, str(pins)]  # fmt: skip

        if "empty" in ops and name == args.sets.split(",")[0]:
            empty = WORK / "empty"
            empty.mkdir(exist_ok=True)
            (empty / "poorenv.toml").write_text(f'[env]\npython = "{base}"\nseed = []\n')
            seeded = WORK / "seeded"
            seeded.mkdir(exist_ok=True)
            (seeded / "poorenv.toml").write_text(
                f'[env]\npython = "{base}"\n[index]\nno-index = true\nfind-links = ["{wheels}"]\n'
            )
            sh(BIN / "poorenv", "lock", "-q", cwd=seeded)
            target = WORK / "target"
            report += measure("Empty env, no pip", [
                Command("poorenv sync (layout only)", poorenv(), rm(empty / ".poorenv"), empty),
                Command("python -m venv --without-pip", lambda: [base, "-m", "venv", "--without-pip", str(target)], rm(target)),
                Command("uv venv", lambda: [uv, "venv", "-q", "--python", base, str(target)], rm(target)),
            ], args.runs)  # fmt: skip
            report += measure("New env with pip and setuptools", [
                Command("poorenv sync (seeded from the lock)", poorenv(), rm(seeded / ".poorenv"), seeded),
                Command("virtualenv (seeded)", lambda: [str(BIN / "virtualenv"), "-q", "-p", base, str(target)], rm(target)),
                Command("python -m venv (with pip)", lambda: [base, "-m", "venv", str(target)], rm(target)),
            ], args.runs)  # fmt: skip

        if "full" in ops:
            report += measure(f"Full sync of {name}.in into a new env, warm caches", [
                Command("poorenv sync (pip)", poorenv(), rm(env), project),
                Command("venv + pip install --no-deps -r (compiles)", venv_pip, rm(other)),
                Command("poorenv sync --installer uv", poorenv("--installer", "uv"), rm(env), project),
                Command("uv venv + uv pip sync (no bytecode)",
                        lambda: ["bash", "-c", f"{uv} venv -q --python {base} {uvenv} && " + " ".join(uv_sync(uvenv))],
                        rm(uvenv)),
            ], args.runs)  # fmt: skip

        if "noop" in ops or "drift" in ops:
            sh(BIN / "poorenv", "sync", "-q", cwd=project)
            rm(other, uvenv)()
            sh(*venv_pip())
            sh(
                BIN / "pip-sync",
                "-q",
                "--python-executable",
                other / "bin" / "python",
                *index,
                pins,
                check=False,
            )
            sh(uv, "venv", "-q", "--python", base, uvenv)
            sh(*uv_sync(uvenv))
        if "noop" in ops:
            report += measure(f"No-op sync, {name}.in", [
                Command("poorenv sync", poorenv(), cwd=project),
                Command("uv pip sync --offline (no SSL_CERT_*)", lambda: [*uv_sync(uvenv), "--offline"],
                        env=UV_BEST),
                Command("uv pip sync --offline", lambda: [*uv_sync(uvenv), "--offline"]),
                Command("uv pip sync", lambda: uv_sync(uvenv)),
                Command("pip-sync", lambda: pip_sync(other)),
            ], args.runs)  # fmt: skip
        if "drift" in ops:

            def extra(python: Path) -> Callable[[], None]:
                return lambda: sh(uv, "pip", "install", "-q", "--python", python, *index, "six")  # type: ignore[return-value]

            report += measure(f"Drift repair (one extra package), {name}.in", [
                Command("poorenv sync", poorenv(), extra(env / "bin" / "python"), project),
                Command("uv pip sync", lambda: uv_sync(uvenv), extra(uvenv / "bin" / "python")),
                Command("pip-sync", lambda: pip_sync(other), extra(other / "bin" / "python")),
            ], args.runs)  # fmt: skip
        if "lock" in ops:
            out = WORK / f"{name}-compiled.txt"
            report += measure(f"Lock {name}.in (hashes, from the wheelhouse)", [
                Command("poorenv lock", lambda: [str(BIN / "poorenv"), "lock", "-q"], rm(project / "poorenv.lock"), project),
                Command("pip-compile --generate-hashes",
                        lambda: [str(BIN / "pip-compile"), "-q", "--generate-hashes", *index, "-o", str(out),
                                 str(project / "requirements.in")], rm(out)),
                Command("uv pip compile --generate-hashes",
                        lambda: [uv, "pip", "compile", "-q", "--generate-hashes", *index, "-o", str(out),
                                 str(project / "requirements.in")], rm(out)),
            ], args.runs)  # fmt: skip
    if "sizes" in ops:
        sized: dict[int, tuple[Path, Path]] = {}
        for name in ("small", "large", "many"):
            if name == "many":
                project, pins, wheels = prepare_many(args.many, args.python)
            else:
                project, pins, wheels = prepare(name, args.python)
            sh(BIN / "poorenv", "sync", "-q", "--installer", "uv", cwd=project)
            uvenv = WORK / f"{project.name}-uv"
            if not uvenv.exists():
                sh(uv, "venv", "-q", "--python", base, uvenv)
            sh(*sizes_sync(uvenv, project, wheels))
            sized[len(pins.read_text().split("==")) - 1] = (project, uvenv)
            wheelhouses[project] = wheels
        report += measure_sizes(sized, lambda u, p: sizes_sync(u, p, wheelhouses[p]), args.runs)
    kept = ""
    if args.out.exists() and "<!-- kept -->" in args.out.read_text():
        kept = args.out.read_text().split("<!-- kept -->", 1)[1]
        report.append("\n<!-- kept -->" + kept.rstrip("\n"))
    args.out.write_text("\n".join(report) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
