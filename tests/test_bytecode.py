"""bytecode: compile just-installed distributions (found through state.site), list the .pyc."""

from __future__ import annotations

import csv
import importlib.util
import marshal
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from poorenv import _run
from poorenv.apply.bytecode import _COMPILE, compile_distributions
from poorenv.state.scheme import Scheme
from poorenv.state.site import UnsafeDistribution, record_hash

TAG = sys.implementation.cache_tag


def test_the_named_distributions_are_compiled_and_their_bytecode_recorded(tmp_path: Path) -> None:
    tag = sys.implementation.cache_tag
    for name, version in (("Pkg_One", "1.0"), ("other", "2.0")):
        module = name.lower()
        (tmp_path / module).mkdir()
        (tmp_path / module / "__init__.py").write_text("x = 1\n", encoding="utf-8")
        info = tmp_path / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "RECORD").write_text(
            f"{module}/__init__.py,sha256=abc,6\n{info.name}/RECORD,,\n", encoding="utf-8"
        )
    scheme = Scheme.of(tmp_path, {"purelib": str(tmp_path)})
    updates = compile_distributions(Path(sys.executable), scheme, ["pkg-one"], tag)
    record = tmp_path / "Pkg_One-1.0.dist-info" / "RECORD"
    assert list(updates) == [record]  # "other" was not asked for
    pyc = f"pkg_one/__pycache__/__init__.{tag}.pyc"
    assert (tmp_path / pyc).is_file()
    assert not (tmp_path / "other" / "__pycache__").exists()
    assert list(csv.reader(updates[record].splitlines())) == [
        ["pkg_one/__init__.py", "sha256=abc", "6"],
        ["Pkg_One-1.0.dist-info/RECORD", "", ""],
        [pyc, *hashed(tmp_path / pyc)],  # as pip lists what it compiles: hash and size
    ]


def hashed(path: Path) -> tuple[str, str]:
    found = record_hash(path)
    assert found is not None
    return found


def a_dist(site: Path, name: str, record: str, modules: dict[str, str]) -> None:
    for rel, text in modules.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text, encoding="utf-8")
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "RECORD").write_text(record, encoding="utf-8")


def test_nothing_is_compiled_for_a_record_leading_outside(tmp_path: Path) -> None:
    env, outside = tmp_path / "env", tmp_path / "outside"
    site = env / "site"
    outside.mkdir()
    (outside / "victim.py").write_text("x = 1\n")
    a_dist(site, "good", "good.py,,\n", {"good.py": "y = 1\n"})
    a_dist(site, "evil", "evil.py,,\n../../outside/victim.py,,\n", {"evil.py": "z = 1\n"})
    scheme = Scheme.of(env, {"purelib": str(site)})
    with pytest.raises(UnsafeDistribution, match=r"^evil 1.0: RECORD entry \.\./\.\./outside/vi"):
        compile_distributions(Path(sys.executable), scheme, ["good", "evil"], TAG)
    assert not (outside / "__pycache__").exists()
    assert not (site / "__pycache__").exists()  # refused before anything was compiled


def test_a_pycache_leading_outside_is_refused(tmp_path: Path) -> None:
    env, outside = tmp_path / "env", tmp_path / "outside"
    site = env / "site"
    outside.mkdir()
    a_dist(site, "pkg", "pkg/__init__.py,,\n", {"pkg/__init__.py": "x = 1\n"})
    (site / "pkg" / "__pycache__").symlink_to(outside)
    scheme = Scheme.of(env, {"purelib": str(site)})
    with pytest.raises(UnsafeDistribution, match=r"pkg/__pycache__/__init__\..*leads outside"):
        compile_distributions(Path(sys.executable), scheme, ["pkg"], TAG)
    assert list(outside.iterdir()) == []


def test_only_the_bytecode_really_written_is_recorded(tmp_path: Path) -> None:
    site = tmp_path / "site"
    stale = f"pkg/__pycache__/broken.{TAG}.pyc"
    record = "pkg/__init__.py,,\npkg/broken.py,,\n"
    a_dist(site, "pkg", record, {"pkg/__init__.py": "x = 1\n", "pkg/broken.py": "def (:\n",
                                 stale: "old bytecode, not written now"})  # fmt: skip
    odd = "pkg/odd\nname.py"  # a line break in a name: never read as two names
    a_dist(site, "odd", f'"{odd}",,\n', {odd: "y = 2\n"})
    scheme = Scheme.of(tmp_path, {"purelib": str(site)})
    updates = compile_distributions(Path(sys.executable), scheme, ["pkg", "odd"], TAG)
    pyc = f"pkg/__pycache__/__init__.{TAG}.pyc"
    rows = list(csv.reader(updates[site / "pkg-1.0.dist-info" / "RECORD"].splitlines()))
    assert rows == [
        ["pkg/__init__.py", "", ""],
        ["pkg/broken.py", "", ""],
        [pyc, *hashed(site / pyc)],
    ]  # not the stale bytecode of the module that does not compile
    odd_record = updates[site / "odd-1.0.dist-info" / "RECORD"]
    assert f"pkg/__pycache__/odd\nname.{TAG}.pyc" in odd_record
    assert not (site / "pkg" / "__pycache__" / f"odd.{TAG}.pyc").exists()


def test_a_pyc_that_does_not_fit_is_reported_never_truncated(tmp_path: Path) -> None:
    """Under a file-size limit (or on a nearly full disk) importlib's own writer renames a
    truncated .pyc into place; the compile run writes all of it or nothing, and says so."""
    source = tmp_path / "big.py"
    source.write_text("DATA = [" + "0," * 20_000 + "]\n")
    small = tmp_path / "small.py"
    small.write_text("x = 1\n")

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))  # the .pyc is ~100 kB

    done = subprocess.run(
        [sys.executable, "-c", _COMPILE], input=f"{source}\0{small}\0", capture_output=True,
        text=True, check=True, preexec_fn=limit,
    )  # fmt: skip
    pyc = importlib.util.cache_from_source(str(source))
    assert done.stdout.split("\0") == [f"full 27 {pyc}", f"ok {small}", ""]
    assert not os.path.exists(pyc)
    written = Path(importlib.util.cache_from_source(str(small)))
    assert os.listdir(written.parent) == [written.name]


def test_compile_bytecode_raises_what_did_not_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "env" / "site"
    site.mkdir(parents=True)
    (site / "mod.py").write_text("x = 1\n")
    info = site / "mod-1.0.dist-info"
    info.mkdir()
    (info / "RECORD").write_text("mod.py,,\n")
    pyc = str(site / "__pycache__" / "mod.cpython-312.pyc")

    def spawn(argv: list[str], *rest: object) -> _run.Result:
        return _run.Result(tuple(argv), 0, f"full 28 {pyc}\0", "")

    monkeypatch.setattr(_run, "_spawn", spawn)
    scheme = Scheme.of(tmp_path / "env", {"purelib": str(site)})
    with pytest.raises(OSError) as raised:
        compile_distributions(Path(sys.executable), scheme, ["mod"], "cpython-312")
    assert (raised.value.errno, raised.value.filename) == (28, pyc)


# --- reproducible bytecode (PEP 552) -------------------------------------------------------------


def test_bytecode_is_hash_based_names_the_module_below_its_site_and_is_used(
    tmp_path: Path,
) -> None:
    """The .pyc holds the source's hash (checked) and a file name relative to the site dir: the
    same bytes in any directory. The interpreter loads it as it is (never rewrites it), and the
    import system gives the code object its real file name, so tracebacks name the real file."""
    pycs = []
    for where in ("one", "two/deeper"):
        site = tmp_path / where / "site"
        modules = {"pkg/__init__.py": "", "pkg/mod.py": "def boom():\n    raise ValueError(1)\n"}
        a_dist(site, "pkg", "pkg/__init__.py,,\npkg/mod.py,,\n", modules)
        scheme = Scheme.of(site.parent, {"purelib": str(site)})
        compile_distributions(Path(sys.executable), scheme, ["pkg"], TAG)
        pycs.append(Path(importlib.util.cache_from_source(str(site / "pkg" / "mod.py"))))
    one, two = (p.read_bytes() for p in pycs)
    assert one == two  # path-independent
    assert int.from_bytes(one[4:8], "little") == 0b11  # PEP 552 flags: hash-based, checked
    assert marshal.loads(one[16:]).co_filename == "pkg/mod.py"  # noqa: S302
    site = tmp_path / "one" / "site"
    probe = (
        "import traceback, pkg.mod\n"
        "try:\n    pkg.mod.boom()\n"
        "except ValueError:\n    print(traceback.format_exc())\n"
        "print(pkg.mod.boom.__code__.co_filename)\n"
    )
    done = subprocess.run(
        [sys.executable, "-v", "-c", probe], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(site)}, check=True,
    )  # fmt: skip
    real = str(site / "pkg" / "mod.py")
    assert f'File "{real}", line 2, in boom' in done.stdout
    assert done.stdout.splitlines()[-1] == real
    assert f"code object from '{pycs[0]}'" in done.stderr  # loaded from the .pyc
    assert pycs[0].read_bytes() == one  # and not rewritten
    # checked: an edited module is recompiled on import, never shadowed by stale bytecode
    (site / "pkg" / "mod.py").write_text("def boom():\n    return 'edited'\n")
    edited = subprocess.run(
        [sys.executable, "-c", "import pkg.mod; print(pkg.mod.boom())"], cwd=tmp_path,
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(site)}, check=True,
    )  # fmt: skip
    assert edited.stdout == "edited\n"


def test_the_workers_are_forked_whatever_the_default_start_method(tmp_path: Path) -> None:
    """Python 3.14 starts workers by forkserver by default; those cannot find the functions
    that `-c` defined. The compile run forks its workers itself."""
    files = []
    for number in range(60):  # over the threshold for workers
        source = tmp_path / f"mod{number}.py"
        source.write_text(f"x = {number}\n")
        files.append(source)
    forkserver = (
        "import multiprocessing, sys\n"
        "multiprocessing.set_start_method('forkserver')\n"
        "exec(compile(sys.argv.pop(1), '<poorenv>', 'exec'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", forkserver, _COMPILE, str(tmp_path)],
        input="".join(f"{f}\0" for f in files), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\0")[:-1] == [f"ok {f}" for f in files]
