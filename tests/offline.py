"""An offline project: a local wheelhouse, `no-index`, and a pip that cannot reach any index."""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from poorenv.apply import pipwheel
from poorenv.discover.interpreter import probe
from tests.conftest import write_config
from tests.helpers import poorenv
from tests.wheels import wheelhouse

# The base poorenv itself runs on resolves with poorenv's own pip-tools: no resolver env, no index.
HERE_PYTHON = Path(os.path.realpath(sys.executable))
OFFLINE = {
    "PIP_CONFIG_FILE": os.devnull,
    "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
    "PIP_RETRIES": "0",
    "PIP_FIND_LINKS": "",
}


def offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return {**env, **OFFLINE}


def offline_project(project: Path, seed: str = '["pip"]') -> Path:
    """An offline project: alpha==1.0 (needs beta) and gamma, from a local wheelhouse, plus pip."""
    wheels = wheelhouse(project / "wheels")
    base = probe(HERE_PYTHON)
    for wheel in pipwheel.seed_wheels(base, ("pip",)).values():
        shutil.copy2(wheel, wheels)
    write_config(
        project,
        HERE_PYTHON,
        seed=seed,
        extra='[requirements]\npackages = ["alpha==1.0", "gamma"]\n'
        '[index]\nno-index = true\nfind-links = ["wheels"]\n',
    )
    return project


def seeded_cache(cache: Path) -> Path:
    """A poorenv cache of its own holding pip's wheel for HERE_PYTHON already (offline, no
    other place has it)."""
    seed = cache / "seed" / f"cpython-{probe(HERE_PYTHON).xy}"
    seed.mkdir(parents=True)
    for wheel in pipwheel.seed_wheels(probe(HERE_PYTHON), ("pip",)).values():
        shutil.copy2(wheel, seed)
    return cache


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return poorenv(*args, cwd=project, env=offline_env())


def site_packages(project: Path) -> Path:
    return Path(probe(HERE_PYTHON).env_paths(project / ".poorenv")["purelib"])


def installed(project: Path) -> dict[str, str]:
    found = {}
    for info in site_packages(project).glob("*.dist-info"):
        name, version = info.name[: -len(".dist-info")].split("-", 1)
        found[name.lower()] = version
    return found


def verify_records(project: Path) -> list[str]:
    """Files whose content does not match their distribution's RECORD (half-written ones)."""
    return record_problems(site_packages(project))


def record_problems(site: Path) -> list[str]:
    """Files in `site` whose content does not match their distribution's RECORD."""
    bad = []
    for record in site.glob("*.dist-info/RECORD"):
        with open(record, newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                if len(row) < 2 or not row[1]:
                    continue
                algorithm, _, expected = row[1].partition("=")
                path = (site / row[0]).resolve()
                try:
                    digest = hashlib.new(algorithm, path.read_bytes()).digest()
                except OSError:
                    bad.append(f"{row[0]}: missing")
                    continue
                if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != expected:
                    bad.append(f"{row[0]}: content differs")
    return bad
