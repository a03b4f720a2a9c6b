"""state.site: one scan of the site dirs -> installed distributions and broken leftovers."""

from __future__ import annotations

from pathlib import Path

import pytest

from poorenv.state.site import Distribution, SitePackages, split_dist_info


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
