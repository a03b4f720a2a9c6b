"""Plain values standing in for real interpreters, for the pure planner and lock tests."""

from __future__ import annotations

import dataclasses

from poorenv.discover.interpreter import PLACEHOLDER, Interpreter


def fake_base(**changes: object) -> Interpreter:
    base = Interpreter(
        executable="/opt/py312/bin/python3.12",
        executable_size=17600,
        executable_mtime_ns=1,
        implementation="cpython",
        version="3.12.1",
        abiflags="",
        cache_tag="cpython-312",
        soabi="cpython-312-x86_64-linux-gnu",
        platform="linux-x86_64",
        base_prefix="/opt/py312",
        scheme="posix_prefix",
        stdlib="/opt/py312/lib/python3.12",
        platstdlib="/opt/py312/lib/python3.12",
        include="/opt/py312/include/python3.12",
        platinclude="/opt/py312/include/python3.12",
        prefix_paths={
            "stdlib": f"{PLACEHOLDER}/lib/python3.12",
            "platstdlib": f"{PLACEHOLDER}/lib/python3.12",
            "purelib": f"{PLACEHOLDER}/lib/python3.12/site-packages",
            "platlib": f"{PLACEHOLDER}/lib/python3.12/site-packages",
            "include": f"{PLACEHOLDER}/include/python3.12",
            "platinclude": f"{PLACEHOLDER}/include/python3.12",
            "scripts": f"{PLACEHOLDER}/bin",
            "data": PLACEHOLDER,
        },
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]
