"""Real Apache + mod_wsgi and uWSGI, started on loopback ports and always stopped."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

APACHE = Path("/usr/sbin/apache2")
APACHE_MODULES = Path("/usr/lib/apache2/modules")
MOD_WSGI = APACHE_MODULES / "mod_wsgi.so"
UWSGI_PLUGIN = Path("/usr/lib/uwsgi/plugins/python3_plugin.so")


def require(found: bool, what: str) -> None:
    """Skip on a developer's machine without `what`; fail in CI, which installs it."""
    if found:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not installed; .ci/run installs it")
    pytest.skip(f"{what} is not installed (apt-get install it to run this test)")


def have_apache() -> bool:
    return APACHE.is_file() and MOD_WSGI.is_file()


def have_uwsgi() -> bool:
    return shutil.which("uwsgi") is not None and UWSGI_PLUGIN.exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str, timeout: float = 30.0) -> Any:
    """GET `url` until it answers 200 (servers take a moment to start), then its JSON."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (http only)
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class Apache:
    def __init__(self, root: Path, snippet: str, app_dir: Path, script: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.conf = root / "httpd.conf"
        self.log = root / "error.log"
        (root / "poorenv-wsgi.conf").write_text(snippet, encoding="utf-8")
        user = "User www-data\nGroup www-data\n" if os.geteuid() == 0 else ""
        self.conf.write_text(
            f"""ServerRoot {root}
ServerName 127.0.0.1
Listen 127.0.0.1:{self.port}
PidFile {root}/httpd.pid
ErrorLog {self.log}
LogLevel info
DefaultRuntimeDir {root}
{user}LoadModule mpm_event_module {APACHE_MODULES}/mod_mpm_event.so
LoadModule authz_core_module {APACHE_MODULES}/mod_authz_core.so
LoadModule wsgi_module {MOD_WSGI}
WSGISocketPrefix {root}/wsgi
Include {root}/poorenv-wsgi.conf
WSGIScriptAlias / {script}
<Directory {app_dir}>
  Require all granted
</Directory>
""",
            encoding="utf-8",
        )

    def ctl(self, action: str) -> None:
        result = subprocess.run(
            [str(APACHE), "-f", str(self.conf), "-k", action],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert result.returncode == 0, f"apache2 -k {action}: {result.stderr}\n{self.errors()}"

    def errors(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        pid_file = self.root / "httpd.pid"
        if not pid_file.exists():
            return
        subprocess.run([str(APACHE), "-f", str(self.conf), "-k", "stop"], check=False)
        deadline = time.monotonic() + 15
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_file.exists():  # did not stop in time: kill it
            with contextlib.suppress(ValueError, OSError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)


@contextlib.contextmanager
def apache(root: Path, snippet: str, app_dir: Path, script: Path) -> Iterator[Apache]:
    server = Apache(root, snippet, app_dir, script)
    try:
        server.ctl("start")
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def uwsgi(root: Path, ini: str, script: Path, extra: str = "") -> Iterator[str]:
    """uWSGI with the exported ini and an HTTP socket (and the ini lines `extra`); yields its
    URL."""
    port = free_port()
    (root / "home.ini").write_text(ini, encoding="utf-8")
    (root / "serve.ini").write_text(
        f"[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {script}\nmaster = true\n"
        f"processes = 1\ndie-on-term = true\n{extra}",
        encoding="utf-8",
    )
    log = (root / "uwsgi.log").open("w")
    process = subprocess.Popen(
        ["uwsgi", "--ini", str(root / "home.ini"), "--ini", str(root / "serve.ini")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
