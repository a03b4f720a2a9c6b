"""The plan is the whole truth: `plan` resolves in memory, its actions are the sync's, and a
saved plan is applied only when nothing it was made from changed (issue 14, items 1 and 2).

Offline, with real envs from the local wheelhouse (tests/offline.py), seed = [].
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import manifest, ok
from tests.offline import offline_project, run
from tests.wheels import make_wheel

pytestmark = pytest.mark.slow


def _json(project: Path, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ok(run(project, *args, "--json")).stdout)
    return data


def _edit(project: Path, old: str, new: str) -> None:
    config = project / "poorenv.toml"
    config.write_text(config.read_text().replace(old, new))


def _same_as_sync(project: Path, *options: str) -> dict[str, Any]:
    """`plan` (or `sync --dry-run` with options) changes nothing, and the sync that follows
    does exactly its actions and lock changes."""
    before = manifest(project)
    if options:
        plan = _json(project, "sync", "--dry-run", *options)
    else:
        plan = _json(project, "plan")
        assert _json(project, "sync", "--dry-run")["actions"] == plan["actions"]
    assert manifest(project) == before  # poorenv.lock not written, the env untouched
    done = _json(project, "sync", *options)
    assert done["actions"] == plan["actions"]
    assert done["lock_changes"] == plan["lock_changes"]
    assert ok(run(project, "check")).returncode == 0
    return plan


def _changes(plan: dict[str, Any]) -> set[tuple[str, Any, Any, str]]:
    return {(c["name"], c["old"], c["new"], c["change"]) for c in plan["package_changes"]}


def test_plan_resolves_in_memory_and_the_sync_does_exactly_its_actions(tmp_path: Path) -> None:
    project = offline_project(tmp_path / "project", seed="[]")
    plan = _same_as_sync(project)  # a new env and a missing lock
    assert plan["lock_problem"] == "poorenv.lock is missing" and not plan["in_sync"]
    assert "create-env" in [a["action"] for a in plan["actions"]]
    assert _changes(plan) == {
        ("alpha", None, "1.0", "add"), ("beta", None, "1.0", "add"),
        ("gamma", None, "1.0", "add"),
    }  # fmt: skip

    _edit(project, '"gamma"', '"gamma", "extra-thing"')  # a package added: a stale lock
    plan = _same_as_sync(project)
    assert "stale" in plan["lock_problem"]
    assert _changes(plan) == {("extra-thing", None, "1.0", "add")}
    assert plan["lock_changes"] == [{"name": "extra-thing", "old": None, "new": "1.0"}]

    _edit(project, "alpha==1.0", "alpha==2.0")
    assert _changes(_same_as_sync(project)) == {("alpha", "1.0", "2.0", "upgrade")}
    _edit(project, "alpha==2.0", "alpha==1.0")
    assert _changes(_same_as_sync(project)) == {("alpha", "2.0", "1.0", "downgrade")}

    _edit(project, ', "extra-thing"', "")  # removed
    plan = _same_as_sync(project)
    assert _changes(plan) == {("extra-thing", "1.0", None, "remove")}
    assert plan["package_changes"][0]["reason"] == "not in the lock"

    # The same version with other artifacts: hashes changed, seen by a dry run with -U.
    for wheel in (project / "wheels").glob("gamma-*"):
        wheel.unlink()
    make_wheel(project / "wheels", "gamma", "1.0", body="changed = True\n")
    plan = _same_as_sync(project, "--upgrade")
    assert _changes(plan) == {("gamma", "1.0", "1.0", "hashes changed")}

    (project / "poorenv.lock").unlink()  # a missing lock, the env in sync with it
    plan = _same_as_sync(project)
    assert plan["lock_problem"] == "poorenv.lock is missing" and plan["package_changes"] == []


def test_dry_run_locked_shows_the_refusal_and_check_stays_cheap(tmp_path: Path) -> None:
    project = offline_project(tmp_path / "project", seed="[]")
    ok(run(project, "sync"))
    _edit(project, '"gamma"', '"gamma", "extra-thing"')
    refused, dry = run(project, "sync", "--locked"), run(project, "sync", "--dry-run", "--locked")
    assert refused.returncode == dry.returncode == 2
    assert dry.stderr == refused.stderr and dry.stderr.startswith("error: ")
    text = ok(run(project, "plan")).stdout
    assert "+ extra-thing 1.0" in text and "install extra-thing 1.0" in text
    check = run(project, "check", "-v")
    assert check.returncode == 1 and "stale" in check.stderr
    assert "pip-compile" not in check.stderr  # check reports the stale lock without resolving


# --- saved plans -------------------------------------------------------------------------------


def test_a_saved_plan_applies_and_then_check_is_clean(tmp_path: Path) -> None:
    project = offline_project(tmp_path / "project", seed="[]")
    ok(run(project, "plan", "-o", "plan.json"))
    assert not (project / "poorenv.lock").exists() and not (project / ".poorenv").exists()
    ok(run(project, "apply", "plan.json"))
    assert ok(run(project, "check")).returncode == 0
    _edit(project, "alpha==1.0", "alpha==2.0")  # an update of a built env
    ok(run(project, "plan", "-o", "plan.json"))
    done = _json(project, "apply", "plan.json")
    assert [a["action"] for a in done["actions"]] == ["install-packages", "write-state"]
    assert ok(run(project, "check")).returncode == 0


@pytest.mark.parametrize("change", ["config", "env", "lock", "base"])
def test_a_saved_plan_is_refused_when_its_inputs_changed(tmp_path: Path, change: str) -> None:
    project = offline_project(tmp_path / "project", seed="[]")
    ok(run(project, "sync"))
    _edit(project, '"gamma"', '"gamma", "extra-thing"')
    ok(run(project, "plan", "-o", str(tmp_path / "plan.json")))
    expected = {
        "config": "poorenv.toml changed since the plan was made",
        "env": "the env changed since the plan was made",
        "lock": "poorenv.lock changed since the plan was made",
        "base": "the base changed since the plan was made",
    }[change]
    if change == "config":
        _edit(project, "alpha==1.0", "alpha==2.0")
    elif change == "env":
        (project / ".poorenv" / "stray.txt").write_text("x")
    elif change == "lock":
        ok(run(project, "lock"))
    else:  # the base's fingerprint as measured then: another mtime
        saved = json.loads((tmp_path / "plan.json").read_text())
        saved["saved"]["fingerprint"]["base"]["mtime_ns"] += 1
        (tmp_path / "plan.json").write_text(json.dumps(saved))
    before = manifest(project)
    result = run(project, "apply", str(tmp_path / "plan.json"))
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == f"error: {expected}"
    assert manifest(project) == before


def _hand_edited(tmp_path: Path, edit: str) -> tuple[Path, Path]:
    project = offline_project(tmp_path / "project", seed="[]")
    ok(run(project, "sync"))
    _edit(project, '"gamma"', '"gamma", "extra-thing"')
    ok(run(project, "plan", "-o", str(tmp_path / "plan.json")))
    saved = json.loads((tmp_path / "plan.json").read_text())
    install = next(a for a in saved["actions"] if a["action"] == "install-packages")
    if edit == "path":
        saved["actions"].insert(0, {**install, "action": "make-dirs", "paths": ["/tmp/elsewhere"]})
    else:
        install["requirements"][0] += " --index-url http://example.invalid/simple"
    (tmp_path / "plan.json").write_text(json.dumps(saved))
    return project, tmp_path / "plan.json"


@pytest.mark.parametrize("edit", ["path", "option"])
def test_a_hand_edited_plan_is_refused(tmp_path: Path, edit: str) -> None:
    project, plan = _hand_edited(tmp_path, edit)
    before = manifest(project)
    result = run(project, "apply", str(plan))
    assert result.returncode == 2
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"error: {plan}: actions[")
    assert ("is not inside the env" if edit == "path" else "is not a line of the lock") in first
    assert manifest(project) == before
