"""poorenv.lock without resolving: parsing pip-compile's output, the TOML form, staleness."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from poorenv.config import loads_toml, parse_config
from poorenv.errors import ConfigError, LockError
from poorenv.lock.inputs import input_hash, stale_reason
from poorenv.lock.lockfile import (
    LOCK_VERSION,
    Lock,
    LockedPackage,
    LockInterpreter,
    parse_lock,
    read_lock,
    write_lock,
)
from poorenv.lock.resolver import parse_requirements
from poorenv.redact import redact
from tests.conftest import ROOT
from tests.fakes import fake_base
from tests.hostile import HOSTILE, Edit, content_hash, make_hostile

H1 = "sha256:" + "a" * 64
H2 = "sha256:" + "b" * 64
COMPILED = f"""\
click==8.1.7 \\
    --hash={H2} \\
    --hash={H1}
    # via flask
flask==3.0.0 \\
    --hash={H1}
    # via -r requirements.in
tomli==2.0.1 ; python_version < "3.11" \\
    --hash={H1}

# The following packages are considered to be unsafe in a requirements file:
pip==24.0 \\
    --hash={H2}
"""


def a_lock(**changes: object) -> Lock:
    lock = Lock(
        input_hash="sha256:" + "0" * 64,
        interpreter=LockInterpreter.of(fake_base()),
        packages=tuple(parse_requirements(COMPILED)),
    )
    return dataclasses.replace(lock, **changes)  # type: ignore[arg-type]


def config_in(tmp_path: Path, text: str) -> object:
    path = tmp_path / "poorenv.toml"
    path.write_text(text)
    return parse_config(loads_toml(text), path)


def test_parse_pip_compile_output() -> None:
    packages = parse_requirements(COMPILED)
    assert [(p.name, p.version) for p in packages] == [
        ("click", "8.1.7"), ("flask", "3.0.0"), ("pip", "24.0"), ("tomli", "2.0.1"),
    ]  # fmt: skip
    assert packages[0].hashes == (H1, H2)  # sorted
    assert packages[3].markers == 'python_version < "3.11"'


@pytest.mark.parametrize(
    ("text", "words"),
    [("flask>=3 \\\n    --hash=" + H1, "unpinned"), ("flask==3.0.0\n", "unhashed")],
)
def test_unpinned_or_unhashed_output_is_refused(text: str, words: str) -> None:
    with pytest.raises(LockError, match=words):
        parse_requirements(text)


def test_toml_round_trip_is_stable_and_valid(tmp_path: Path) -> None:
    lock = a_lock()
    path = tmp_path / "poorenv.lock"
    write_lock(path, lock)
    first = path.read_text()
    again = read_lock(path)
    assert again == lock
    write_lock(path, again)
    assert path.read_text() == first
    schema = json.loads((ROOT / "schemas" / "poorenv-lock.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(loads_toml(first))


def test_export_is_hash_pinned(tmp_path: Path) -> None:
    text = a_lock().to_requirements()
    assert f"flask==3.0.0 \\\n    --hash={H1}" in text
    assert 'tomli==2.0.1 ; python_version < "3.11" \\' in text
    assert [(p.name, p.version) for p in parse_requirements(text)] == [
        (p.name, p.version) for p in a_lock().packages
    ]


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda t: t.replace("version = 1\n", f"version = {LOCK_VERSION + 1}\n", 1), "newer"),
        (lambda t: t[: len(t) // 2], "invalid TOML"),
        (lambda t: t.replace(H1, "sha256:1234"), "not a sha256 hash"),
        (lambda t: t.replace('[interpreter]\nimplementation = "cpython"\n', "[interpreter]\n"),
         "[interpreter] implementation"),
        (lambda t: t.replace('name = "flask"', 'name = ""'), "name: missing"),
        (lambda t: t.replace('version = "3.0.0"\n', ""), "(flask) version: missing"),
        (lambda t: t.replace('"3.0.0"', '"3.0.1"'), "content-hash does not match"),
        (lambda t: t.replace(H1, "sha256:" + "e" * 64, 1), "content-hash does not match"),
        (lambda t: t[: t.index("[[package]]", t.index("[[package]]") + 1)], "content-hash"),
        (lambda t: t[: t.index("[[package]]")], "package: missing"),
    ],
)  # fmt: skip
def test_damaged_locks_are_refused_clearly(tmp_path: Path, edit: object, words: str) -> None:
    path = tmp_path / "poorenv.lock"
    write_lock(path, a_lock())
    path.write_text(edit(path.read_text()))  # type: ignore[operator]
    with pytest.raises(LockError) as info:
        read_lock(path)
    assert words in info.value.message
    assert str(path) in info.value.message


def test_missing_lock_reads_as_none(tmp_path: Path) -> None:
    assert read_lock(tmp_path / "poorenv.lock") is None


def test_input_hash_follows_contents_not_mtimes(tmp_path: Path) -> None:
    (tmp_path / "req.in").write_text("flask\n")
    text = '[env]\npython = "3.12"\n[requirements]\nfiles = ["req.in"]\n'
    first = input_hash(config_in(tmp_path, text))  # type: ignore[arg-type]
    (tmp_path / "req.in").write_text("flask\n")  # same content, new mtime
    assert input_hash(config_in(tmp_path, text)) == first  # type: ignore[arg-type]
    (tmp_path / "req.in").write_text("flask>=3\n")
    assert input_hash(config_in(tmp_path, text)) != first  # type: ignore[arg-type]


def test_input_hash_ignores_credentials_but_not_the_index(tmp_path: Path) -> None:
    def with_url(url: str) -> str:
        return input_hash(  # type: ignore[arg-type]
            config_in(tmp_path, f'[env]\npython = "3.12"\n[index]\nurl = "{url}"\n')
        )

    assert with_url("https://u:one@example.invalid/simple") == with_url(
        "https://u:two@example.invalid/simple"
    )
    assert with_url("https://example.invalid/simple") != with_url("https://other.invalid/simple")


def test_stale_reasons(tmp_path: Path) -> None:
    config = config_in(tmp_path, '[env]\npython = "3.12"\n')
    base = fake_base()
    fresh = a_lock(input_hash=input_hash(config))  # type: ignore[arg-type]
    assert stale_reason(fresh, config, base) is None  # type: ignore[arg-type]
    assert "missing" in (stale_reason(None, config, base) or "")  # type: ignore[arg-type]
    other = a_lock(input_hash="sha256:" + "1" * 64)
    assert "stale" in (stale_reason(other, config, base) or "")  # type: ignore[arg-type]
    elsewhere = fake_base(version="3.13.0", soabi="cpython-313-x86_64-linux-gnu")
    reason = stale_reason(fresh, config, elsewhere) or ""  # type: ignore[arg-type]
    assert "another interpreter" in reason
    assert "3.12" in reason and "3.13" in reason


def test_redact_removes_credentials() -> None:
    text = "ERROR: 401 for https://alice:s3cret@example.invalid/simple/flask/"
    assert redact(text) == "ERROR: 401 for https://***@example.invalid/simple/flask/"
    assert "s3cret" not in redact("--index-url=https://tok@example.invalid/simple")


def test_locked_package_digest_changes_with_hashes() -> None:
    one = LockedPackage("a", "1", (H1,))
    assert one.digest != LockedPackage("a", "1", (H2,)).digest
    assert one.digest == LockedPackage("a", "1", (H1,)).digest


def test_every_committed_example_lock_validates_and_reads() -> None:
    schema = json.loads((ROOT / "schemas" / "poorenv-lock.schema.json").read_text())
    locks = sorted((ROOT / "examples").rglob("poorenv.lock"))
    assert len(locks) >= 3
    for path in locks:
        jsonschema.Draft202012Validator(schema).validate(loads_toml(path.read_text()))
        lock = read_lock(path)
        assert lock is not None and lock.packages, path


# --- hostile locks: the grammar is the guard, not the content-hash ----------------------------


def alpha_first_lock() -> Lock:
    return a_lock(packages=(LockedPackage("alpha", "1.0", (H1,)), *a_lock().packages))


def test_a_resealed_lock_reads_back() -> None:
    """The hostile locks below carry a right content-hash: the helper computes it as poorenv."""
    data = loads_toml(alpha_first_lock().to_toml())
    assert content_hash(data) == data["content-hash"]


@pytest.mark.parametrize(("edit", "words"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_a_hostile_lock_is_refused_by_its_grammar(tmp_path: Path, edit: Edit, words: str) -> None:
    path = tmp_path / "poorenv.lock"
    write_lock(path, alpha_first_lock())
    make_hostile(path, edit)
    with pytest.raises(LockError) as info:
        read_lock(path)
    message = info.value.message
    assert message.startswith(f"{path}: ")
    assert words in message
    assert "content-hash does not match" not in message  # the grammar refused it
    assert "\n" not in message and "\r" not in message  # one line, whatever the field held


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda t: t.replace("[interpreter]", "[interp]"), "[interpreter]: missing"),
        (lambda t: t.replace("version = 1\n", "version = true\n", 1), "version: missing or not"),
        (lambda t: t.replace("version = 1\n", 'version = "1"\n', 1), "version: missing or not"),
        (lambda t: t.replace('created-by = "poorenv', "created-by = 1 #", 1), "created-by"),
        (lambda t: t.replace('"3.0.0"', "3", 1), "(flask) version: missing"),
        (lambda t: t.replace(f'"{H1}",', "1,", 1), "hashes: not an array of strings"),
        (lambda t: t.replace('name = "flask"', 'name = "Flask"'), "name: 'Flask' is not in normal"),
        (lambda t: t.replace('markers = "python_version < \\"3.11\\""',
                             "markers = \"python_version < '3.11'\""), "not in normal form"),
    ],
)  # fmt: skip
def test_field_types_and_normal_forms_are_part_of_the_grammar(
    tmp_path: Path, edit: Callable[[str], str], words: str
) -> None:
    path = tmp_path / "poorenv.lock"
    write_lock(path, a_lock())
    text = edit(path.read_text())
    assert text != path.read_text()
    path.write_text(text)
    with pytest.raises(LockError) as info:
        read_lock(path)
    assert words in info.value.message


def test_sha384_and_sha512_hashes_are_read() -> None:
    hashes = ("sha384:" + "c" * 96, "sha512:" + "d" * 128)
    lock = a_lock(packages=(LockedPackage("alpha", "1.0", hashes),))
    data = loads_toml(lock.to_toml())
    assert parse_lock(data, Path("poorenv.lock")) == lock
    assert "--hash=sha512:" in lock.to_requirements()


# --- inputs read by their grammar --------------------------------------------------------------

INCLUDING = '[env]\npython = "3.12"\n[requirements]\nfiles = ["req.in"]\n'


def test_input_hash_follows_included_files(tmp_path: Path) -> None:
    (tmp_path / "req.in").write_text("flask\n-r base.txt\n-c pins.txt\n")
    (tmp_path / "base.txt").write_text("attrs\n")
    (tmp_path / "pins.txt").write_text("attrs<24\n")
    first = input_hash(config_in(tmp_path, INCLUDING))  # type: ignore[arg-type]
    (tmp_path / "base.txt").write_text("attrs>=23\n")
    second = input_hash(config_in(tmp_path, INCLUDING))  # type: ignore[arg-type]
    (tmp_path / "pins.txt").write_text("attrs<25\n")
    assert len({first, second, input_hash(config_in(tmp_path, INCLUDING))}) == 3  # type: ignore[arg-type]


def test_input_hash_without_includes_is_what_it_was(tmp_path: Path) -> None:
    """Locks made before includes counted stay fresh (the value poorenv 0.1.0 computed)."""
    (tmp_path / "req.in").write_text("flask\n")
    (tmp_path / "c.txt").write_text("flask<4\n")
    text = (
        '[env]\npython = "3.12"\n[requirements]\npackages = ["attrs"]\nfiles = ["req.in"]\n'
        'constraints = ["c.txt"]\n'
    )
    assert input_hash(config_in(tmp_path, text)) == (  # type: ignore[arg-type]
        "sha256:bf683be6599d22f4e6b212de55099c36153d187fbfa97dc8da3953ae8259c9e8"
    )


def test_judging_a_lock_refuses_a_requirements_line_it_cannot_lock(tmp_path: Path) -> None:
    (tmp_path / "req.in").write_text("flask\n-e .\n")
    config = config_in(tmp_path, INCLUDING)
    with pytest.raises(ConfigError, match=r"req\.in:2: '-e \.': editable"):
        stale_reason(a_lock(), config, fake_base())  # type: ignore[arg-type]


@pytest.mark.parametrize("target", ["a lock", "a secret", "nothing"])
def test_a_link_in_the_locks_place_is_neither_read_nor_written(tmp_path: Path, target: str) -> None:
    """A lock from a pull request may be a link to any file: never followed, never replaced."""
    other = tmp_path / "other.lock"
    if target == "a lock":
        write_lock(other, a_lock())
    elif target == "a secret":
        other.write_text('password = "hunter2"\n')
    before = other.read_bytes() if other.exists() else None
    path = tmp_path / "poorenv.lock"
    path.symlink_to(other)
    for attempt in (lambda: read_lock(path), lambda: write_lock(path, a_lock())):
        with pytest.raises(LockError) as info:
            attempt()
        assert info.value.message == (
            f"{path}: a symbolic link (to {other}); poorenv reads and writes only a regular file"
            " there"
        )
        assert "hunter2" not in str(info.value.hint)
    assert path.is_symlink()
    assert (other.read_bytes() if other.exists() else None) == before


def test_a_lock_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "poorenv.lock"
    path.mkdir()
    with pytest.raises(LockError, match="cannot read: not a regular file"):
        read_lock(path)
    with pytest.raises(LockError, match="cannot write: Is a directory"):
        write_lock(path, a_lock())


def test_a_lock_that_cannot_be_written_is_one_lock_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("poorenv.lock.lockfile.atomic_write", refuse)
    with pytest.raises(LockError) as info:
        write_lock(tmp_path / "poorenv.lock", a_lock())
    assert info.value.message == f"{tmp_path / 'poorenv.lock'}: cannot write: Permission denied"
    assert info.value.hint == "the project directory must be writable by you"


def test_a_deeply_nested_lock_is_damaged_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "poorenv.lock"
    path.write_text("x = " + "[" * 100_000 + "]" * 100_000)
    with pytest.raises(LockError, match="invalid TOML: nested too deeply"):
        read_lock(path)


def test_find_links_that_loop_are_a_config_error(tmp_path: Path) -> None:
    from poorenv.config import IndexConfig
    from poorenv.errors import ConfigError
    from poorenv.index import index_environ

    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    (tmp_path / "wheels").mkdir()
    ok = index_environ(IndexConfig(find_links=("wheels", "https://example.invalid/")), tmp_path)
    assert ok["PIP_FIND_LINKS"] == f"{(tmp_path / 'wheels').as_uri()} https://example.invalid/"
    with pytest.raises(ConfigError) as info:
        index_environ(IndexConfig(find_links=("a",)), tmp_path)
    assert info.value.message == (
        f"{tmp_path / 'poorenv.toml'}: [index] find-links: a: Too many levels of symbolic links"
    )
