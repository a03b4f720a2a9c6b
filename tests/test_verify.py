"""state/verify.py: every installed file against its RECORD hash (check --verify, doctor)."""

from __future__ import annotations

from pathlib import Path

from poorenv.state.scheme import Scheme
from poorenv.state.site import SitePackages, record_hash
from poorenv.state.verify import verify


def a_dist(site: Path, name: str, files: dict[str, bytes], extra: str = "") -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    lines = []
    for rel, data in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(data)
        found = record_hash(site / rel)
        assert found is not None
        lines.append(f"{rel},{found[0]},{found[1]}")
    lines += [f"{info.name}/RECORD,,", extra]
    (info / "RECORD").write_text("\n".join(lines) + "\n")


def test_verify_counts_names_and_reports_every_kind(tmp_path: Path) -> None:
    env = tmp_path / "env"
    site = env / "site"
    (tmp_path / "outside.py").write_text("")
    a_dist(site, "good", {"good/__init__.py": b"x = 1\n", "good/data.bin": b"\0" * 10})
    a_dist(site, "bad", {"bad/a.py": b"a = 1\n", "bad/b.py": b"b = 1\n"},
           extra="bad/unhashed.py,,\n../../outside.py,sha256=x,0\nbad/odd.py,md99=x,1")  # fmt: skip
    (site / "bad" / "a.py").write_bytes(b"a = 2\n")
    (site / "bad" / "b.py").unlink()
    (site / "planted.py").write_text("import os\n")  # listed by no distribution
    egg = site / "legacy-1.0.egg-info"  # an egg-info's top-level package covers what is below
    egg.mkdir()
    (egg / "top_level.txt").write_text("legacy\n")
    (site / "legacy" / "sub").mkdir(parents=True)
    (site / "legacy" / "sub" / "x.py").write_text("")
    scheme = Scheme.of(env, {"purelib": str(site)})
    found = verify(SitePackages.read([site]), scheme)
    assert not found.ok
    kinds = [(m.kind, Path(m.path).name) for m in found.mismatches]
    assert kinds == [
        ("unsafe", "outside.py"), ("modified", "a.py"), ("missing", "b.py"),
        ("unlisted", "planted.py"),
    ]  # fmt: skip
    assert found.checked == 3  # good's two and bad/a.py (b.py is missing, outside.py not read)
    assert found.unhashed == 2  # bad/unhashed.py and a hash this Python does not know
    assert "../../outside.py" in found.mismatches[0].describe()
    assert found.mismatches[1].describe() == f"{site / 'bad' / 'a.py'} of bad-1.0 does not match" \
        " its RECORD hash"  # fmt: skip
    assert found.to_json()["mismatches"][2] == {
        "kind": "missing", "path": str(site / "bad" / "b.py"), "distribution": "bad-1.0",
    }  # fmt: skip
    rendered = found.render(shown=1).splitlines()
    assert found.mismatches[3].describe() == f"{site / 'planted.py'} is listed by no installed" \
        " distribution"  # fmt: skip
    assert rendered[0] == "4 installed file(s) differ (3 file(s) checked, 2 listed without a hash)"
    assert rendered[-1] == "  ... and 3 more"
    (site / "bad-1.0.dist-info" / "RECORD").unlink()
    (site / "bad").rename(tmp_path / "gone")
    (site / "planted.py").unlink()
    assert verify(SitePackages.read([site]), scheme).ok
