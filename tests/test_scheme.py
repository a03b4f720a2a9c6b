"""state.scheme: whether a path that package metadata names really lies inside the env."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from poorenv.state.scheme import ENV_DIR, OUTSIDE, PRIVATE, Bounds, Scheme, Unsafe
from tests.fakes import fake_base


@pytest.fixture
def env(tmp_path: Path) -> Path:
    """An env with bin, site-packages, include and poorenv's own directory; `outside` beside."""
    root = tmp_path / "env"
    for rel in ("bin", "lib/python3.12/site-packages/pkg", "include/python3.12", ".poorenv"):
        (root / rel).mkdir(parents=True)
    (root / "lib/python3.12/site-packages/pkg/__init__.py").write_text("")
    (tmp_path / "outside" / "dir").mkdir(parents=True)
    (tmp_path / "outside" / "file.py").write_text("precious")
    return root


def scheme_of(env: Path) -> Scheme:
    return Scheme.of(env, fake_base().env_paths(env))


def site(env: Path) -> Path:
    return env / "lib" / "python3.12" / "site-packages"


def test_scheme_of_the_interpreter_paths() -> None:
    env = Path("/e")
    scheme = scheme_of(env)
    assert scheme.site_dirs == (env / "lib/python3.12/site-packages",)
    assert scheme.scripts == (env / "bin",)
    assert scheme.include == (env / "include/python3.12",)
    assert scheme.targets == (*scheme.site_dirs, env / "bin", env / "include/python3.12")
    assert scheme.guarded == (*scheme.site_dirs, env / "bin")  # include links to the base
    assert env in scheme.dirs  # data: the env itself


def test_files_inside_the_env_pass_scripts_included(env: Path) -> None:
    bounds = Bounds(scheme_of(env))
    sp = str(site(env))
    for entry in ("pkg/__init__.py", "pkg/__pycache__/x.pyc", "../../../bin/tool", "new.py",
                  "../../../share/doc/x.txt", "../../../include/python3.12/pkg/x.h"):  # fmt: skip
        assert bounds.check(os.path.join(sp, entry)) is None, entry


@pytest.mark.parametrize(
    ("entry", "why", "where"),
    [
        ("../../../../outside/file.py", OUTSIDE, "outside/file.py"),
        ("{tmp}/outside/file.py", OUTSIDE, "outside/file.py"),  # absolute
        ("../../../../../../../../../../etc/passwd", OUTSIDE, "/etc/passwd"),
        ("../../../.poorenv/marker.json", PRIVATE, "env/.poorenv/marker.json"),
        ("../../../.poorenv", PRIVATE, "env/.poorenv"),
        ("", ENV_DIR, "env/lib/python3.12/site-packages"),  # an empty RECORD path
        (".", ENV_DIR, "env/lib/python3.12/site-packages"),
        ("..", ENV_DIR, "env/lib/python3.12"),
        ("../../../bin", ENV_DIR, "env/bin"),
        ("../../..", ENV_DIR, "env"),
        ("../../../include/python3.12", ENV_DIR, "env/include/python3.12"),
    ],
)
def test_paths_that_may_not_be_a_packages_file(
    env: Path, tmp_path: Path, entry: str, why: str, where: str
) -> None:
    bounds = Bounds(scheme_of(env))
    path = os.path.join(site(env), entry.format(tmp=tmp_path))
    expected = where if where.startswith("/") else str(tmp_path / where)
    assert bounds.check(path) == (why, expected)


def test_a_package_directory_linked_outside_leads_outside(env: Path, tmp_path: Path) -> None:
    (site(env) / "evil").symlink_to(tmp_path / "outside" / "dir")
    (site(env) / "evil.py").symlink_to(tmp_path / "outside" / "file.py")
    (site(env) / "dangling").symlink_to(tmp_path / "outside" / "gone")
    bounds = Bounds(scheme_of(env))
    outside = tmp_path / "outside"
    assert bounds.check(f"{site(env)}/evil/__init__.py") == (OUTSIDE, f"{outside}/dir/__init__.py")
    assert bounds.check(f"{site(env)}/evil/sub/x.py") == (OUTSIDE, f"{outside}/dir/sub/x.py")
    assert bounds.check(f"{site(env)}/evil.py") == (OUTSIDE, f"{outside}/file.py")
    assert bounds.check(f"{site(env)}/dangling/x.py") == (OUTSIDE, f"{outside}/gone/x.py")


def test_dot_dot_after_a_link_is_taken_both_ways(env: Path, tmp_path: Path) -> None:
    """`evil/../x` is site-packages/x as written and normalised (uv), but outside/x as the OS
    walks it (pip resolves the directory first): both must pass."""
    deep = tmp_path / "outside" / "dir" / "deeper"
    deep.mkdir()
    (site(env) / "evil").symlink_to(deep)
    bounds = Bounds(scheme_of(env))
    assert bounds.check(f"{site(env)}/evil/../x.py") == (OUTSIDE, f"{deep.parent}/x.py")


def test_links_inside_the_env_are_followed_and_allowed(env: Path) -> None:
    """Debian's ENV/local/bin -> ../bin: scripts reached through it stay inside."""
    (env / "local").mkdir()
    (env / "local" / "bin").symlink_to("../bin")
    paths = {**fake_base().env_paths(env), "scripts": str(env / "local" / "bin")}
    bounds = Bounds(Scheme.of(env, paths))
    assert bounds.check(f"{env}/local/bin/tool") is None
    assert bounds.check(f"{env}/local/bin") == (ENV_DIR, f"{env}/bin")


def test_an_env_reached_through_a_link_is_judged_by_its_real_path(
    tmp_path: Path, env: Path
) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(env)
    bounds = Bounds(scheme_of(alias))
    assert bounds.check(f"{site(alias)}/pkg/__init__.py") is None
    assert bounds.check(f"{site(alias)}/../../../../outside/file.py") == (
        OUTSIDE,
        str(tmp_path / "outside" / "file.py"),
    )


def test_real_is_os_realpath(env: Path, tmp_path: Path) -> None:
    (site(env) / "evil").symlink_to(tmp_path / "outside" / "dir")
    (site(env) / "chain").symlink_to("evil")
    (site(env) / "pkg" / "up").symlink_to("..")
    bounds = Bounds(scheme_of(env))
    for rel in ("pkg/__init__.py", "evil/x", "chain/x", "pkg/up/pkg/__init__.py", "missing/a/b",
                "pkg/../evil/y", "/", "/etc"):  # fmt: skip
        path = os.path.join(site(env), rel)
        assert bounds.real(path) == os.path.realpath(path), rel


def test_links_out_finds_every_link_leading_outside(env: Path, tmp_path: Path) -> None:
    sp = site(env)
    (sp / "evil").symlink_to(tmp_path / "outside" / "dir")
    (sp / "pkg" / "deep.py").symlink_to(tmp_path / "outside" / "file.py")
    (sp / "fine").symlink_to("pkg")  # inside: allowed
    (env / "bin" / "python3").symlink_to("python3.12")  # dangling but inside
    bounds = Bounds(scheme_of(env))
    found = bounds.links_out([sp, env / "bin"])
    assert sorted(found) == [
        (str(sp / "evil"), str(tmp_path / "outside" / "dir")),
        (str(sp / "pkg" / "deep.py"), str(tmp_path / "outside" / "file.py")),
    ]
    # Checks afterwards use what the walk listed, and still see the links.
    assert bounds.check(f"{sp}/evil/x.py") == (OUTSIDE, f"{tmp_path}/outside/dir/x.py")


def test_links_out_does_not_walk_a_directory_that_itself_leads_outside(
    env: Path, tmp_path: Path
) -> None:
    (tmp_path / "outside" / "dir" / "loop").symlink_to("/")
    linked = env / "lib" / "python3.13"
    linked.symlink_to(tmp_path / "outside" / "dir")
    assert Bounds(scheme_of(env)).links_out([linked]) == []


def test_unsafe_lines() -> None:
    escape = Unsafe("evil 1.0", "../../x", "/x", OUTSIDE, "evil")
    assert escape.sealing
    assert escape.describe() == "evil 1.0: RECORD entry ../../x leads outside the env (/x)"
    same = Unsafe("evil 1.0", "/x", "/x", OUTSIDE, "evil")
    assert same.describe() == "evil 1.0: RECORD entry /x leads outside the env"
    unlisted = Unsafe("old 1.0", "/s/old.egg-info", "", "old.egg-info lists no files", "old")
    assert not unlisted.sealing
    assert unlisted.describe() == "old 1.0: old.egg-info lists no files"
    link = Unsafe("/s/evil", "/s/evil", "/o", OUTSIDE)
    assert link.describe() == "/s/evil is a link that leads outside the env (to /o)"
