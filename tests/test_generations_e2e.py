"""`poorenv deploy` and `rollback` under load, with a real Apache + mod_wsgi and a real uWSGI.

The example WSGI app (Flask from the index: `network`) is served from `.poorenv` by both
servers at once, while a few client threads per server send a steady, bounded stream of
requests. `deploy` upgrades Flask, `rollback` undoes it. No request may fail; after each switch
every process serving runs from the new target (the app reports where the env path led when it
loaded, and its Flask); old generations are pruned to `keep`. The figures are printed
(pytest -s) for the README.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import servers
from tests.conftest import ROOT
from tests.helpers import ok, poorenv

EXAMPLE = ROOT / "examples" / "wsgi-app"
CLIENTS = 3  # per server
PAUSE = 0.01  # each client waits this long between its requests: a bounded stream


@dataclass
class Load:
    """Client threads GETting `url` until stopped; every answer kept, in order."""

    url: str
    answers: list[tuple[float, str, str]] = field(default_factory=list)  # (t, flask, started_in)
    failures: list[str] = field(default_factory=list)
    sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _client(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=30) as response:  # noqa: S310
                    facts = json.loads(response.read())
                    status = response.status
                answer = (time.monotonic(), facts["flask"], facts["started_in"])
            except (urllib.error.URLError, OSError, ValueError) as exc:
                with self._lock:
                    self.sent += 1
                    self.failures.append(f"{time.strftime('%H:%M:%S')} {exc!r}")
                continue
            with self._lock:
                self.sent += 1
                if status != 200:
                    self.failures.append(f"HTTP {status}")
                else:
                    self.answers.append(answer)
            time.sleep(PAUSE)

    @classmethod
    @contextlib.contextmanager
    def running(cls, url: str) -> Iterator[Load]:
        load = cls(url)
        threads = [threading.Thread(target=load._client) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        load._threads = threads
        try:
            yield load
        finally:
            load.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def until(self, since: float, flask: str, generation: Path, timeout: float = 60) -> float:
        """Wait until every answer of a whole second comes from `generation` with `flask`;
        the seconds from `since` to the first answer of that settled run."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.5)
            with self._lock:
                later = [a for a in self.answers if a[0] > since]
            new = [i for i, a in enumerate(later) if a[1:] == (flask, str(generation))]
            if not new:
                continue
            settled = later[new[0] :]
            if all(a[1:] == (flask, str(generation)) for a in settled) and (
                settled[-1][0] - settled[0][0] > 1.0
            ):
                return settled[0][0] - since
        with self._lock:
            tail = self.answers[-5:]
        raise AssertionError(f"never settled on {flask} from {generation}: last answers {tail}")


@pytest.fixture
def world_readable() -> Iterator[Path]:
    """A folder other users (www-data) can read: pytest's tmp_path is private to root."""
    root = Path(tempfile.mkdtemp(prefix="poorenv-gens-", dir="/tmp"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _pin(project: Path, flask: str) -> None:
    config = project / "poorenv.toml"
    text = config.read_text()
    start = text.index('"flask')
    end = text.index('"', start + 1) + 1
    config.write_text(text[:start] + f'"flask=={flask}"' + text[end:])


def _generations(project: Path) -> list[dict[str, object]]:
    out = ok(poorenv("generations", "--json", cwd=project)).stdout
    rows: list[dict[str, object]] = json.loads(out)["generations"]
    return rows


def _current(project: Path) -> Path:
    return Path(os.path.realpath(project / ".poorenv"))


@pytest.mark.network
@pytest.mark.slow
def test_deploy_and_rollback_under_load_switch_apache_and_uwsgi(world_readable: Path) -> None:
    """Three generations (3.1.3, 3.0.3, then 3.1.3 again under load), a rollback under load;
    Apache + mod_wsgi and uWSGI serve the same env at once, each reloaded its way."""
    servers.require(servers.have_apache(), "apache2 with libapache2-mod-wsgi-py3")
    servers.require(servers.have_uwsgi(), "uwsgi with uwsgi-plugin-python3")
    root = world_readable
    project = root / "wsgi-app"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".poorenv*", "__pycache__"))
    (root / "uwsgi").mkdir()
    trigger = root / "uwsgi" / "reload"
    trigger.touch()
    # mod_wsgi: its daemon processes restart when the WSGI file changes; uWSGI: touch-reload.
    reload = ["touch", str(project / "app.wsgi"), str(trigger)]
    with (project / "poorenv.toml").open("a") as config:
        config.write(
            "\n[deploy]\nkeep = 2\n"
            'smoke = ["python", "-c", "import app"]\n'
            f"reload = {json.dumps(reload)}\n"
        )
    ok(poorenv("deploy", "--locked", cwd=project))  # generation 1
    _pin(project, "3.0.3")
    ok(poorenv("deploy", cwd=project))  # generation 2
    second = _current(project)
    assert (project / ".poorenv").is_symlink() and second.name.startswith("2-")

    snippet = ok(
        poorenv("export", "--format", "mod_wsgi", "--process-group", "demo", cwd=project)
    ).stdout
    assert "WSGIRestrictEmbedded On" in snippet and "WSGIProcessGroup demo" in snippet
    ini = ok(poorenv("export", "--format", "uwsgi", cwd=project)).stdout
    script = project / "app.wsgi"
    with contextlib.ExitStack() as stack:
        apache = stack.enter_context(servers.apache(root, snippet, project, script))
        uwsgi_url = stack.enter_context(
            servers.uwsgi(root / "uwsgi", ini, script, f"touch-reload = {trigger}\n")
        )
        urls = {"Apache + mod_wsgi": apache.url, "uWSGI": uwsgi_url}
        for url in urls.values():
            facts = servers.get_json(url)
            assert (facts["flask"], facts["started_in"]) == ("3.0.3", str(second))
            assert facts["prefix"] == str(project / ".poorenv")  # the server names the link
        loads = {name: stack.enter_context(Load.running(url)) for name, url in urls.items()}
        time.sleep(1)
        _pin(project, "3.1.3")
        started = time.monotonic()
        deployed = ok(poorenv("deploy", cwd=project))
        switched = time.monotonic()
        third = _current(project)
        assert third.name.startswith("3-"), deployed.stderr
        to_new = {name: load.until(switched, "3.1.3", third) for name, load in loads.items()}
        # keep = 2: the first generation is gone, the one deploy replaced stays.
        assert [g["number"] for g in _generations(project)] == [2, 3]

        started_back = time.monotonic()
        ok(poorenv("rollback", cwd=project))
        rolled = time.monotonic()
        assert _current(project) == second
        to_old = {name: load.until(rolled, "3.0.3", second) for name, load in loads.items()}
        time.sleep(1)
        for load in loads.values():
            load.stop()
        logs = [root / "error.log", root / "uwsgi" / "uwsgi.log"]
        log = "".join(f.read_text(errors="replace")[-3000:] for f in logs if f.exists())
        for name, load in loads.items():
            assert load.failures == [], f"{name}: {load.failures[:5]}\n{log}"
            assert load.sent > 100
            print(
                f"\n{name}: {load.sent} requests from {CLIENTS} clients,"
                f" {len(load.failures)} failed; deploy took {switched - started:.1f} s, then"
                f" the new generation served all requests after {to_new[name]:.2f} s;"
                f" rollback took {rolled - started_back:.1f} s, then {to_old[name]:.2f} s"
            )
