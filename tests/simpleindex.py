"""A PEP 503 simple index of local wheels, served on 127.0.0.1 from a thread, behind HTTP Basic
authentication: a tool that does not send the credentials gets 401, so a test that installs
from it proves that the credentials reached the tool."""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def build(wheels: Path, root: Path) -> Path:
    """`root/simple/<name>/` pages (with each file's sha256) for every wheel in `wheels`."""
    projects: dict[str, list[Path]] = {}
    for wheel in sorted(wheels.glob("*.whl")):
        name = re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()
        projects.setdefault(name, []).append(wheel)
    simple = root / "simple"
    for name, files in projects.items():
        page = simple / name
        page.mkdir(parents=True)
        links = []
        for wheel in files:
            (page / wheel.name).write_bytes(wheel.read_bytes())
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            links.append(f'<a href="{html.escape(wheel.name)}#sha256={digest}">{wheel.name}</a>')
        (page / "index.html").write_text("<html><body>" + "\n".join(links) + "</body></html>")
    index = "".join(f'<a href="{name}/">{name}</a>' for name in projects)
    (simple / "index.html").write_text(f"<html><body>{index}</body></html>")
    return root


class _Handler(SimpleHTTPRequestHandler):
    expected = ""  # "Basic ..." of the one user allowed
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        if self.headers.get("Authorization") != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="test index"')
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@contextmanager
def serve(root: Path, user: str, password: str) -> Iterator[tuple[str, list[str]]]:
    """Serve `root` on a free loopback port: yields the index's base URL (without credentials)
    and the list of request paths seen."""
    requests: list[str] = []
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    handler = type("Handler", (_Handler,), {"expected": f"Basic {token}", "requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
