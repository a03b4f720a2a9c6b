"""The env directory: what is ours, and every write and delete staying inside it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from poorenv import envdir, ownership
from poorenv.envdir import EnvDir
from poorenv.errors import EnvError
from poorenv.ownership import check_env_path, is_empty, is_env, read_marker

MARKER = {"format": 1, "created-by": "poorenv 0.0", "abi": "cpython-312-x86_64-linux-gnu"}


def tree(root: Path) -> dict[str, str]:
    """Every entry under `root`: files with their text, links with their target, dirs as "/"."""
    found: dict[str, str] = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                found[rel] = "/"
            else:
                found[rel] = path.read_text()
    return found


def made_env(tmp_path: Path, name: str = "env") -> EnvDir:
    env = EnvDir(tmp_path / name)
    env.create(MARKER)
    return env


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the env holding a file that must survive every test."""
    where = tmp_path / "outside"
    where.mkdir()
    (where / "keep.txt").write_text("precious")
    return where


# --- what is ours --------------------------------------------------------------------------------


def write_marker(env: Path, text: str) -> None:
    (env / ".poorenv").mkdir(parents=True)
    (env / ".poorenv" / "marker.json").write_text(text)


def test_an_env_poorenv_made_is_ours(tmp_path: Path) -> None:
    env = made_env(tmp_path)
    assert is_env(env.path)
    assert read_marker(env.path) == MARKER
    assert json.loads((env.path / ".poorenv" / "marker.json").read_text()) == MARKER


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[1, 2]",
        '{"format": 1}',
        '{"created-by": "poorenv 0.1"}',
        '{"format": "1", "created-by": "poorenv 0.1"}',
        '{"format": true, "created-by": "poorenv 0.1"}',
        '{"format": 1, "created-by": "someone else"}',
        "",
    ],
)
def test_a_corrupt_or_foreign_marker_is_not_ours(tmp_path: Path, text: str) -> None:
    write_marker(tmp_path / "env", text)
    assert not is_env(tmp_path / "env")
    assert not is_empty(tmp_path / "env")


def test_a_user_made_poorenv_file_is_not_ours(tmp_path: Path) -> None:
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / ".poorenv").write_text("my notes")
    assert not is_env(tmp_path / "env")
    assert not is_empty(tmp_path / "env")


def test_a_user_made_poorenv_dir_with_notes_is_not_ours(tmp_path: Path) -> None:
    (tmp_path / "env" / ".poorenv").mkdir(parents=True)
    (tmp_path / "env" / ".poorenv" / "notes.txt").write_text("mine")
    assert not is_env(tmp_path / "env")
    assert not is_empty(tmp_path / "env")


def test_a_directory_named_marker_json_is_not_ours(tmp_path: Path) -> None:
    (tmp_path / "env" / ".poorenv" / "marker.json").mkdir(parents=True)
    assert not is_env(tmp_path / "env")
    assert not is_empty(tmp_path / "env")


def test_markers_reached_through_links_are_not_ours(tmp_path: Path) -> None:
    real = made_env(tmp_path, "real").path
    (tmp_path / "a" / ".poorenv").mkdir(parents=True)
    (tmp_path / "a" / ".poorenv" / "marker.json").symlink_to(real / ".poorenv" / "marker.json")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / ".poorenv").symlink_to(real / ".poorenv")
    assert not is_env(tmp_path / "a")
    assert not is_env(tmp_path / "b")


def test_empty_means_nothing_but_what_a_killed_create_leaves(tmp_path: Path) -> None:
    env = tmp_path / "env"
    env.mkdir()
    assert is_empty(env)
    (env / ".poorenv").mkdir()
    assert is_empty(env)
    (env / ".poorenv" / ".marker.json.123.poorenv-tmp").write_text("{")
    assert is_empty(env)
    (env / "file").write_text("x")
    assert not is_empty(env)


# --- check_env_path ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "words"),
    [
        ("/", "refusing the filesystem root"),
        ("HOME", "refusing the home directory"),
        ("HOME/..", "refusing the home directory or a parent"),
        ("PROJECT", "refusing the project directory"),
        ("PROJECT/..", "refusing the project directory or a parent"),
        ("PROJECT/afile", "exists and is not a directory"),
        ("PROJECT/data", "not made by poorenv"),
        ("PROJECT/notes", "not made by poorenv"),
    ],
)
def test_check_env_path_refuses(tmp_path: Path, where: str, words: str) -> None:
    home = Path.home()  # tmp_path/home: the autouse fixture sets HOME
    project = home / "work" / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "important.db").write_text("rows")
    (project / "notes" / ".poorenv").mkdir(parents=True)
    (project / "notes" / ".poorenv" / "todo.txt").write_text("mine")
    (project / "afile").write_text("x")
    path = Path(where.replace("HOME", str(home)).replace("PROJECT", str(project)))
    with pytest.raises(EnvError, match=words):
        check_env_path(path, project)


def test_check_env_path_accepts_new_empty_and_own_dirs(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "empty").mkdir(parents=True)
    check_env_path(project / ".poorenv", project)
    check_env_path(project / "empty", project)
    env = made_env(project, "ours")
    (env.path / "bin").mkdir()
    check_env_path(env.path, project)


def test_check_env_path_is_not_fooled_by_a_sync_building_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """check_env_path runs before the env's lock: another sync may be building the env."""
    project = tmp_path / "project"
    env = project / ".poorenv"
    env.mkdir(parents=True)
    real_is_empty = ownership.is_empty

    def build_meanwhile(path: str | os.PathLike[str]) -> bool:
        monkeypatch.setattr(ownership, "is_empty", real_is_empty)
        built = EnvDir(env)
        built.adopt(MARKER)  # the marker first, as poorenv always writes it
        built.make_dir(env / "bin")
        return real_is_empty(path)

    monkeypatch.setattr(ownership, "is_empty", build_meanwhile)
    check_env_path(env, project)


# --- create, adopt, undo, clear, remove ----------------------------------------------------------


def fill(env: EnvDir) -> None:
    env.make_dir(env.path / "lib" / "python3.12")
    env.write_text(env.path / "pyvenv.cfg", "x = 1\n")
    env.symlink("python3.12", env.path / "bin" / "python")
    env.write_json(env.state_dir / "state.json", {"a": 1})


def test_create_then_undo_leaves_nothing(tmp_path: Path) -> None:
    env = EnvDir(tmp_path / "deep" / "env")
    env.create(MARKER)
    fill(env)
    env.undo_create()
    assert not env.path.exists()
    assert (tmp_path / "deep").is_dir()


def test_adopt_then_undo_leaves_the_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "env").mkdir()
    env = EnvDir(tmp_path / "env")
    env.adopt(MARKER)
    assert is_env(env.path)
    fill(env)
    env.undo_create()
    assert tree(env.path) == {}


def test_adopt_keeps_a_state_dir_it_found(tmp_path: Path) -> None:
    (tmp_path / "env" / ".poorenv").mkdir(parents=True)
    env = EnvDir(tmp_path / "env")
    env.adopt(MARKER)
    fill(env)
    env.undo_create()
    assert tree(env.path) == {".poorenv": "/"}


@pytest.mark.parametrize("content", ["file", "notes", "marker"])
def test_adopt_refuses_a_directory_with_content(tmp_path: Path, content: str) -> None:
    env_path = tmp_path / "env"
    if content == "file":
        env_path.mkdir()
        (env_path / "data.db").write_text("rows")
    elif content == "notes":
        (env_path / ".poorenv").mkdir(parents=True)
        (env_path / ".poorenv" / "notes.txt").write_text("mine")
    else:
        write_marker(env_path, "{corrupt")
    before = tree(env_path)
    env = EnvDir(env_path)
    with pytest.raises(EnvError, match="not made by poorenv"):
        env.adopt(MARKER)
    env.undo_create()
    assert tree(env_path) == before


def test_undo_without_create_touches_nothing(tmp_path: Path) -> None:
    env = made_env(tmp_path)
    fill(env)
    before = tree(env.path)
    EnvDir(env.path).undo_create()
    assert tree(env.path) == before


def test_clear_keeps_only_the_new_marker_and_an_empty_state(tmp_path: Path) -> None:
    env = made_env(tmp_path)
    fill(env)
    new = {**MARKER, "abi": "other"}
    env.clear(new)
    assert tree(env.path) == {
        ".poorenv": "/",
        ".poorenv/marker.json": json.dumps(new, indent=2, sort_keys=True) + "\n",
        ".poorenv/state.json": "{}\n",
    }


def test_clear_and_remove_refuse_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "data.db").write_text("rows")
    env = EnvDir(tmp_path / "env")
    with pytest.raises(EnvError, match="it carries no poorenv marker"):
        env.clear(MARKER)
    with pytest.raises(EnvError, match="it carries no poorenv marker"):
        env.remove(env.path / "data.db")
    with pytest.raises(EnvError, match="refusing to remove: it carries no poorenv marker"):
        env.remove_env()
    assert tree(env.path) == {"data.db": "rows"}


def test_remove_env_removes_links_and_never_follows_them(tmp_path: Path, outside: Path) -> None:
    env = made_env(tmp_path)
    fill(env)
    (env.path / "link-out").symlink_to(outside)
    (env.path / "lib" / "file-out").symlink_to(outside / "keep.txt")
    env.remove_env()
    assert not env.path.exists()
    assert tree(outside) == {"keep.txt": "precious"}


def test_remove_env_refuses_an_env_that_is_a_symlink(tmp_path: Path) -> None:
    real = made_env(tmp_path, "real")
    fill(real)
    before = tree(real.path)
    (tmp_path / "env").symlink_to(real.path)
    with pytest.raises(EnvError, match="refusing to remove"):
        EnvDir(tmp_path / "env").remove_env()
    assert tree(real.path) == before


# --- every write and delete stays inside ---------------------------------------------------------


def test_paths_outside_the_env_are_refused(tmp_path: Path, outside: Path) -> None:
    env = made_env(tmp_path)
    for path in (outside / "x", env.path, tmp_path / "env2" / "x", Path("env/x")):
        with pytest.raises(EnvError, match="refusing to write"):
            env.write_text(path, "x")
    with pytest.raises(EnvError, match="not a plain absolute path"):
        env.write_text(env.path / ".." / "outside" / "x", "x")
    (outside / "into-env").symlink_to(env.path)  # inside in the end, but not by its name
    with pytest.raises(EnvError, match="outside the env"):
        env.write_text(outside / "into-env" / "x", "x")
    (outside / "into-env").unlink()
    with pytest.raises(EnvError, match="refusing to delete"):
        env.remove(outside / "keep.txt")
    assert tree(outside) == {"keep.txt": "precious"}


WRITES: dict[str, Callable[[EnvDir, Path], None]] = {
    "write_text": lambda env, through: env.write_text(through / "keep.txt", "x"),
    "write_json": lambda env, through: env.write_json(through / "keep.txt", {}),
    "symlink": lambda env, through: env.symlink("/x", through / "keep.txt"),
    "hard_link": lambda env, through: env.hard_link(str(env.path / "f"), through / "keep.txt"),
    "link_or_copy": lambda env, through: env.link_or_copy(str(env.path / "f"), through / "f"),
    "make_dir": lambda env, through: env.make_dir(through / "sub"),
    "make_dir deeper": lambda env, through: env.make_dir(through / "new" / "deeper"),
}


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize("via", ["lib", "deep/up"])
def test_a_symlinked_dir_leading_outside_is_refused(
    tmp_path: Path, outside: Path, via: str, write: str
) -> None:
    env = made_env(tmp_path)
    (env.path / "f").write_text("f")
    (env.path / "lib").symlink_to(outside)
    (env.path / "deep").mkdir()
    (env.path / "deep" / "up").symlink_to("../../outside")
    with pytest.raises(EnvError, match="leads outside the env"):
        WRITES[write](env, env.path / via)
    with pytest.raises(EnvError, match="refusing to delete"):
        env.remove(env.path / via / "keep.txt")
    assert tree(outside) == {"keep.txt": "precious"}


def test_a_link_inside_the_env_to_the_env_is_written_through(tmp_path: Path) -> None:
    env = made_env(tmp_path)
    env.make_dir(env.path / "bin")
    env.symlink("../bin", env.path / "local" / "bin")
    env.write_text(env.path / "local" / "bin" / "tool", "#!")
    assert (env.path / "bin" / "tool").read_text() == "#!"


def test_a_link_is_removed_never_followed(tmp_path: Path, outside: Path) -> None:
    env = made_env(tmp_path)
    (env.path / "to-dir").symlink_to(outside)
    (env.path / "to-file").symlink_to(outside / "keep.txt")
    env.remove(env.path / "to-dir")
    env.remove(env.path / "to-file")
    env.remove(env.path / "missing")
    assert set(tree(env.path)) == {".poorenv", ".poorenv/marker.json"}
    assert tree(outside) == {"keep.txt": "precious"}


def test_writes_replace_a_link_instead_of_following_it(tmp_path: Path, outside: Path) -> None:
    env = made_env(tmp_path)
    for name in ("a", "b", "c"):
        (env.path / name).symlink_to(outside / "keep.txt")
    (env.path / "d").symlink_to(outside)
    env.write_text(env.path / "a", "new")
    env.symlink("elsewhere", env.path / "b")
    env.link_or_copy(str(env.state_dir / "marker.json"), env.path / "c")
    env.make_dir(env.path / "d")
    assert (env.path / "a").read_text() == "new"
    assert os.readlink(env.path / "b") == "elsewhere"
    assert not (env.path / "c").is_symlink()
    assert not (env.path / "d").is_symlink()
    assert (env.path / "d").is_dir()
    assert tree(outside) == {"keep.txt": "precious"}


def test_a_directory_replaced_by_a_link_outside_is_checked_again(
    tmp_path: Path, outside: Path
) -> None:
    env = made_env(tmp_path)
    env.make_dir(env.path / "a")
    env.write_text(env.path / "a" / "x", "x")  # the check of env/a is remembered
    env.symlink(str(outside), env.path / "a")  # a directory replaced by a link
    with pytest.raises(EnvError, match="leads outside the env"):
        env.write_text(env.path / "a" / "y", "y")
    env.symlink(str(env.path / "bin"), env.path / "b")
    env.make_dir(env.path / "bin")
    env.write_text(env.path / "b" / "x", "x")
    env.symlink(str(outside), env.path / "b")  # a link replaced by another
    with pytest.raises(EnvError, match="leads outside the env"):
        env.write_text(env.path / "b" / "y", "y")
    env.symlink(str(env.path / "bin"), env.path / "c")
    env.write_text(env.path / "c" / "x", "x")
    env.remove(env.path / "c")
    env.symlink(str(outside), env.path / "c")  # a link removed, then made anew
    with pytest.raises(EnvError, match="leads outside the env"):
        env.write_text(env.path / "c" / "y", "y")
    env.remove(env.path / "missing" / "x")  # nothing there: nothing removed
    env.symlink(str(outside), env.path / "missing")  # a path checked before it existed
    with pytest.raises(EnvError, match="leads outside the env"):
        env.write_text(env.path / "missing" / "y", "y")
    assert tree(outside) == {"keep.txt": "precious"}


def test_writes_make_missing_parents_and_replace_what_stands_there(tmp_path: Path) -> None:
    env = made_env(tmp_path)
    source = tmp_path / "source"
    source.write_text("exe")
    env.link_or_copy(str(source), env.path / "bin" / "python3.12")
    env.hard_link(str(source), env.path / "lib" / "a.pyc")
    env.symlink(str(source), env.path / "lib" / "sub" / "os.py")
    (env.path / "lib" / "dir").mkdir()
    (env.path / "lib" / "dir" / "inner").write_text("x")
    env.symlink(str(source), env.path / "lib" / "dir")  # a directory replaced by a link
    env.write_text(env.path / "lib" / "a.pyc", "new")  # a hard link replaced, not written through
    assert (env.path / "bin" / "python3.12").stat().st_ino == source.stat().st_ino
    assert os.readlink(env.path / "lib" / "sub" / "os.py") == str(source)
    assert os.readlink(env.path / "lib" / "dir") == str(source)
    assert source.read_text() == "exe"
    assert not any(p.name.endswith("poorenv-tmp") for p in env.path.rglob("*"))


# --- only what poorenv made; damaged markers; mounts and unwritable envs -----------------------


def test_undo_keeps_what_the_user_put_there_meanwhile(tmp_path: Path) -> None:
    env = EnvDir(tmp_path / "env")
    env.create(MARKER)
    fill(env)
    (env.path / "notes.txt").write_text("mine")  # dropped in between create and undo
    (env.path / ".poorenv" / "todo.txt").write_text("mine too")
    env.undo_create()
    assert tree(env.path) == {
        "notes.txt": "mine",
        ".poorenv": "/",
        ".poorenv/todo.txt": "mine too",
    }


def test_undo_removes_what_the_installer_made_for_poorenv(tmp_path: Path) -> None:
    (tmp_path / "env").mkdir()
    env = EnvDir(tmp_path / "env")
    env.adopt(MARKER)
    fill(env)
    (env.path / "share" / "man").mkdir(parents=True)  # an installer's data files
    (env.path / "share" / "man" / "tool.1").write_text("man")
    env.claim([env.path / "share" / "man" / "tool.1", tmp_path / "elsewhere"])
    env.undo_create()
    assert tree(env.path) == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "not valid JSON: Expecting property name"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON: nested too deeply"),
        ("[1]", "not a JSON object"),
        ('{"created-by": "poorenv 0.1"}', "no format number"),
        ('{"format": 1, "created-by": "someone"}', "not created by poorenv"),
    ],
)
def test_a_damaged_marker_gives_the_command_that_rebuilds(
    tmp_path: Path, text: str, problem: str
) -> None:
    project = tmp_path / "project"
    env = project / "my env"
    write_marker(env, text)
    (env / "bin").mkdir()
    before = tree(env)
    assert ownership.damaged_marker(env) is not None
    assert problem in str(ownership.damaged_marker(env))
    with pytest.raises(EnvError) as info:
        check_env_path(env, project)
    assert f"its marker .poorenv/marker.json is damaged ({problem}" in info.value.message
    assert info.value.hint is not None
    assert info.value.hint.endswith(f"rebuild it: rm -r '{env}' && poorenv sync")
    with pytest.raises(EnvError) as info:
        EnvDir(env).remove_env()
    assert f"refusing to remove it: its marker .poorenv/marker.json is damaged ({problem}" in (
        info.value.message
    )
    assert info.value.hint is not None
    assert info.value.hint.endswith(f"delete it by hand: rm -r '{env}'")
    assert tree(env) == before


def test_no_marker_file_is_not_damaged_but_foreign(tmp_path: Path) -> None:
    (tmp_path / "env" / "data").mkdir(parents=True)
    assert ownership.damaged_marker(tmp_path / "env") is None
    assert ownership.damaged_marker(made_env(tmp_path, "ours").path) is None
    with pytest.raises(EnvError, match="not made by poorenv"):
        check_env_path(tmp_path / "env", tmp_path / "project")


@pytest.mark.parametrize("where", ["", "lib", "lib/deeper"])
def test_remove_env_refuses_a_mount_point_and_deletes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    env = made_env(tmp_path)
    fill(env)
    (env.path / "lib" / "deeper").mkdir()
    before = tree(env.path)
    mount = os.path.realpath(env.path / where)
    monkeypatch.setattr(envdir, "_mount_points", lambda: ["/", mount])
    with pytest.raises(EnvError, match=f"{mount} is a mount point"):
        env.remove_env()
    assert tree(env.path) == before
    if where:
        with pytest.raises(EnvError, match="is a mount point"):
            env.remove(env.path / "lib")
        assert tree(env.path) == before


def test_remove_env_refuses_an_env_it_cannot_wholly_delete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = made_env(tmp_path)
    fill(env)
    before = tree(env.path)
    locked = str(env.state_dir)  # say: another user's directory, deleted last
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: p != locked and real_access(p, mode))
    with pytest.raises(EnvError, match=f"cannot remove {locked}: Permission denied"):
        env.remove_env()
    assert tree(env.path) == before


def test_mount_points_are_read_with_their_escapes(tmp_path: Path) -> None:
    table = tmp_path / "mountinfo"
    table.write_text(
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "90 22 0:50 / /mnt/my\\040env rw - tmpfs tmpfs rw\n"
    )
    assert envdir._mount_points(str(table)) == ["/", "/mnt/my env"]
    assert envdir._mount_points(str(tmp_path / "missing")) == []


def test_install_directories_leading_outside_are_refused(tmp_path: Path, outside: Path) -> None:
    env = made_env(tmp_path)
    (env.path / "lib").mkdir()
    (env.path / "bin").symlink_to(outside)
    (env.path / "local").symlink_to("lib")  # inside: fine
    env.refuse_links_out([env.path / "lib", env.path / "local", env.path / "new"])
    with pytest.raises(EnvError) as caught:
        env.refuse_links_out([env.path / "lib", env.path / "bin"])
    assert caught.value.message == (
        f"refusing to install into {env.path / 'bin'}: it leads outside the env (to {outside})"
    )
