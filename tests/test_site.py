"""state.site: one scan of the site dirs -> installed distributions and broken leftovers."""

from __future__ import annotations

from pathlib import Path

import pytest

from poorenv.state.scheme import Scheme
from poorenv.state.site import (
    Distribution,
    SitePackages,
    UnsafeDistribution,
    split_dist_info,
    split_egg_info,
)
from tests.fakes import fake_base


def dist_info(site: Path, name: str, record: str | None = "") -> Path:
    """A .dist-info directory in `site`, with a RECORD holding `record` (None: no RECORD)."""
    path = site / name
    path.mkdir(parents=True)
    if record is not None:
        (path / "RECORD").write_text(record, encoding="utf-8")
    return path


def test_a_normal_dist_info_is_a_distribution(tmp_path: Path) -> None:
    info = dist_info(tmp_path, "six-1.16.0.dist-info")
    (tmp_path / "six.py").write_text("", encoding="utf-8")
    site = SitePackages.read([tmp_path])
    assert site.dirs == (tmp_path,)
    assert site.distributions == {"six": Distribution("six", "1.16.0", info, tmp_path)}
    assert site.versions() == {"six": "1.16.0"}
    assert site.broken == ()


def test_names_are_normalised_and_found_in_any_spelling(tmp_path: Path) -> None:
    dist_info(tmp_path, "MarkupSafe-2.1.5.dist-info")
    dist_info(tmp_path, "zope.interface-6.0.dist-info")
    dist_info(tmp_path, "typing_extensions-4.9.0.dist-info")
    site = SitePackages.read([tmp_path])
    assert site.versions() == {
        "markupsafe": "2.1.5",
        "zope-interface": "6.0",
        "typing-extensions": "4.9.0",
    }
    markupsafe = site.get("MarkupSafe")
    assert markupsafe is not None and markupsafe.dist_info.name == "MarkupSafe-2.1.5.dist-info"
    assert site.get("Zope_Interface") is site.distributions["zope-interface"]
    assert [d.name for d in site.select(["Typing.Extensions", "absent", "markupsafe"])] == [
        "typing-extensions",
        "markupsafe",
    ]
    assert [d.name for d in site] == ["markupsafe", "typing-extensions", "zope-interface"]


def test_odd_names_are_skipped_without_a_crash(tmp_path: Path) -> None:
    dist_info(tmp_path, "nodash.dist-info")
    dist_info(tmp_path, "-1.0.dist-info")
    dist_info(tmp_path, "-1.0.egg-info")  # egg-info: see test_legacy_egg_info_...
    dist_info(tmp_path, "noversion.egg-info")  # no version, no PKG-INFO to read it from
    (tmp_path / "notes-1.0.txt").write_text("", encoding="utf-8")
    dist_info(tmp_path, "legacy-1.0-beta.dist-info")  # the first "-" ends the name
    site = SitePackages.read([tmp_path])
    assert site.versions() == {"legacy": "1.0-beta"}
    assert site.broken == ()


def test_split_dist_info() -> None:
    assert split_dist_info("Foo_Bar-1.0.dist-info") == ("foo-bar", "1.0")
    assert split_dist_info("foo-1.0+local.dist-info") == ("foo", "1.0+local")
    assert split_dist_info("foo.dist-info") is None
    assert split_dist_info("foo-1.0.egg-info") is None


def test_a_dist_info_without_record_is_broken(tmp_path: Path) -> None:
    half = dist_info(tmp_path, "alpha-1.0.dist-info", record=None)
    dist_info(tmp_path, "beta-2.0.dist-info")
    site = SitePackages.read([tmp_path])
    assert site.versions() == {"beta": "2.0"}
    assert site.broken == (half,)


def test_a_pip_stash_is_broken(tmp_path: Path) -> None:
    stash = tmp_path / "~ix-1.16.0.dist-info"
    stash.mkdir()
    (stash / "RECORD").write_text("", encoding="utf-8")
    (tmp_path / "~ix.py").write_text("", encoding="utf-8")
    site = SitePackages.read([tmp_path])
    assert site.distributions == {}
    assert site.broken == (stash, tmp_path / "~ix.py")


def test_two_site_dirs_in_one_scan(tmp_path: Path) -> None:
    pure, plat = tmp_path / "lib", tmp_path / "lib64"
    dist_info(pure, "six-1.16.0.dist-info")
    dist_info(plat, "greenlet-3.0.3.dist-info")
    dist_info(plat, "six-1.0.dist-info")  # also in the first dir: the first one counts
    broken = dist_info(plat, "half-1.0.dist-info", record=None)
    site = SitePackages.read([pure, plat, pure, tmp_path / "missing"])
    assert site.dirs == (pure, plat, tmp_path / "missing")
    assert site.versions() == {"six": "1.16.0", "greenlet": "3.0.3"}
    assert site.distributions["greenlet"].site == plat
    assert site.distributions["six"].site == pure
    assert site.broken == (broken,)


def test_no_dirs_or_missing_dirs_hold_nothing(tmp_path: Path) -> None:
    assert SitePackages.read([]) == SitePackages()
    assert SitePackages.read([tmp_path / "missing"]).versions() == {}


def test_record_rows_are_read_as_csv(tmp_path: Path) -> None:
    record = (
        "six.py,sha256=abc,100\n"
        '"odd, name.py",sha256=def,7\n'
        '"quo""ted.py",,\n'
        "six-1.16.0.dist-info/RECORD,,\n"
    )
    dist_info(tmp_path, "six-1.16.0.dist-info", record=record)
    six = SitePackages.read([tmp_path]).distributions["six"]
    assert six.record == tmp_path / "six-1.16.0.dist-info" / "RECORD"
    assert six.record_rows() == [
        ["six.py", "sha256=abc", "100"],
        ["odd, name.py", "sha256=def", "7"],
        ['quo"ted.py', "", ""],
        ["six-1.16.0.dist-info/RECORD", "", ""],
    ]


@pytest.mark.parametrize("damage", ["missing", "not-utf8", "a-directory"])
def test_record_rows_of_a_missing_or_unreadable_record_are_empty(
    tmp_path: Path, damage: str
) -> None:
    dist_info(tmp_path, "six-1.16.0.dist-info", record="six.py,sha256=abc,100\n")
    six = SitePackages.read([tmp_path]).distributions["six"]
    six.record.unlink()
    if damage == "not-utf8":
        six.record.write_bytes(b"\xff\xfe six.py,,\n")
    elif damage == "a-directory":
        six.record.mkdir()
    assert six.record_rows() == []


# --- legacy egg-info -----------------------------------------------------------------------------


def egg_info(site: Path, name: str, files: dict[str, str] | None = None) -> Path:
    info = site / name
    info.mkdir(parents=True)
    for rel, text in (files or {}).items():
        (info / rel).write_text(text, encoding="utf-8")
    return info


def test_legacy_egg_info_directories_and_files_are_distributions(tmp_path: Path) -> None:
    egg_info(tmp_path, "Old_Pkg-1.2-py3.12.egg-info")
    egg_info(tmp_path, "plain-0.5.egg-info")
    egg_info(tmp_path, "noversion.egg-info", {"PKG-INFO": "Name: noversion\nVersion: 3.0\n"})
    (tmp_path / "distutils_made-2.0-py3.12.egg-info").write_text("Version: 2.0\n")
    dist_info(tmp_path, "both-2.0.dist-info")
    egg_info(tmp_path, "both-1.0-py3.12.egg-info")  # the .dist-info of the same name wins
    site = SitePackages.read([tmp_path])
    assert site.versions() == {
        "old-pkg": "1.2", "plain": "0.5", "noversion": "3.0", "distutils-made": "2.0",
        "both": "2.0",
    }  # fmt: skip
    assert [d.legacy for d in site] == [False, True, True, True, True]
    assert site.broken == ()
    assert split_egg_info(tmp_path / "x.dist-info") is None


# --- a distribution's files, checked ----------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path) -> Path:
    root = tmp_path / "env"
    (site_of(root) / "pkg").mkdir(parents=True)
    (root / "bin").mkdir()
    (tmp_path / "outside").mkdir()
    return root


def site_of(env: Path) -> Path:
    return env / "lib" / "python3.12" / "site-packages"


def scheme_of(env: Path) -> Scheme:
    return Scheme.of(env, fake_base().env_paths(env))


def test_the_files_of_a_sound_distribution(env: Path) -> None:
    site = site_of(env)
    dist_info(site, "pkg-1.0.dist-info", "pkg/__init__.py,sha256=x,1\n../../../bin/pkg,,\n")
    pkg = SitePackages.read([site]).distributions["pkg"]
    assert pkg.files(scheme_of(env)) == (
        str(site / "pkg" / "__init__.py"),
        str(env / "bin" / "pkg"),
        str(site / "pkg-1.0.dist-info"),
    )
    assert pkg.problems(scheme_of(env)) == []


def test_an_escaping_record_is_refused_naming_the_package_and_the_path(
    env: Path, tmp_path: Path
) -> None:
    site = site_of(env)
    outside = tmp_path / "outside"
    record = f"pkg/__init__.py,,\n../../../../outside/a.py,,\n{outside}/b.txt,,\n"
    dist_info(site, "Pkg-1.0.dist-info", record)
    pkg = SitePackages.read([site]).distributions["pkg"]
    with pytest.raises(UnsafeDistribution) as caught:
        pkg.files(scheme_of(env))
    assert caught.value.message == (
        f"pkg 1.0: RECORD entry ../../../../outside/a.py leads outside the env ({outside}/a.py):"
        " refusing to remove, upgrade or compile it"
    )
    assert "poorenv remove" in str(caught.value.hint)
    assert [(p.path, p.where) for p in pkg.problems(scheme_of(env))] == [
        ("../../../../outside/a.py", f"{outside}/a.py"),
        (f"{outside}/b.txt", f"{outside}/b.txt"),
    ]


def test_an_unreadable_record_is_refused_rather_than_guessed(env: Path) -> None:
    site = site_of(env)
    info = dist_info(site, "pkg-1.0.dist-info", "x")
    (info / "RECORD").write_bytes(b"\xff\xfe")
    pkg = SitePackages.read([site]).distributions["pkg"]
    with pytest.raises(UnsafeDistribution, match="RECORD cannot be read"):
        pkg.files(scheme_of(env))


def test_an_egg_info_lists_installed_files_and_top_level_names(env: Path) -> None:
    site = site_of(env)
    info = egg_info(
        site,
        "old-1.0-py3.12.egg-info",
        {"installed-files.txt": "../old/__init__.py\nPKG-INFO\n", "top_level.txt": "old\n"},
    )
    old = SitePackages.read([site]).distributions["old"]
    assert old.files(scheme_of(env)) == (
        str(site / "old" / "__init__.py"), str(info / "PKG-INFO"),
        str(site / "old"), str(site / "old.py"), str(site / "old.pyc"), str(site / "old.pyo"),
        str(info),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ({}, "lists no files (no installed-files.txt, empty top_level.txt)"),
        ({"top_level.txt": "\n  \n"}, "lists no files"),
        ({"installed-files.txt": "", "top_level.txt": ""}, "lists no files"),
        ({"top_level.txt": ".\n"}, "top_level.txt entry . is a directory of the env itself"),
        ({"top_level.txt": "..\n"}, "top_level.txt entry .. is a directory of the env itself"),
        ({"installed-files.txt": "../../../../../outside/x\n"}, "leads outside the env"),
    ],
)
def test_an_egg_info_that_cannot_be_listed_safely_is_refused(
    env: Path, files: dict[str, str], words: str
) -> None:
    site = site_of(env)
    egg_info(site, "old-1.0-py3.12.egg-info", files)
    old = SitePackages.read([site]).distributions["old"]
    with pytest.raises(UnsafeDistribution) as caught:
        old.files(scheme_of(env))
    assert caught.value.message.startswith("old 1.0: ")
    assert words in caught.value.message


def test_an_egg_info_file_lists_nothing(env: Path) -> None:
    site = site_of(env)
    (site / "old-1.0-py3.12.egg-info").write_text("Version: 1.0\n")
    old = SitePackages.read([site]).distributions["old"]
    [problem] = old.problems(scheme_of(env))
    assert not problem.sealing
    assert problem.describe() == (
        "old 1.0: old-1.0-py3.12.egg-info is a file, not a directory: it lists no files"
    )


def test_unsafe_gathers_every_distribution_and_every_link_leading_out(
    env: Path, tmp_path: Path
) -> None:
    site = site_of(env)
    dist_info(site, "good-1.0.dist-info", "pkg/__init__.py,,\n")
    dist_info(site, "bad-1.0.dist-info", "../../../../outside/a,,\n")
    egg_info(site, "old-1.0.egg-info")
    (env / "bin" / "tool").symlink_to(tmp_path / "outside" / "tool")
    found = SitePackages.read([site]).unsafe(scheme_of(env))
    assert [(u.name, u.sealing) for u in found] == [
        ("bad", True), ("old", False), (None, True),
    ]  # fmt: skip
    assert found[2].path == str(env / "bin" / "tool")
