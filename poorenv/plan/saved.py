"""Plans as data: what `plan --json` and `sync --dry-run --json` print, and saved plan files.

`poorenv plan -o FILE` writes a preview with a fingerprint of what it was made from: the
bytes of poorenv.toml, the input hash of the requirements, the lock on disk (its content
hash), the base (`BaseFingerprint`) and the env (`env_digest`). When the plan needed a new
resolution, the file carries that lock in full, so that `apply` installs exactly it.

`poorenv apply FILE` trusts nothing in the file: each fingerprint is measured again and a
difference refuses, naming what changed; a lock it carries is parsed by the lock's grammar
and must match poorenv.toml; every path in its actions must lie inside the env and every
requirement line must be the one rebuilt from the lock. The actions carried out are then made
again by the planner from the validated lock and the env as it is now, and must equal the
file's, field by field: what runs is the plan that was reviewed, rebuilt from checked values.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poorenv import __version__
from poorenv.errors import LockError, PoorenvError
from poorenv.plan.actions import InstallPackages, Plan, RemovePackages

if TYPE_CHECKING:
    from poorenv.apply.installers import Installer
    from poorenv.lock.lockfile import Lock
    from poorenv.project import Preview, Project
    from poorenv.report import Reporter
    from poorenv.state.env import EnvState

SAVED_FORMAT = 1
JSON_VERSION = 1


class PlanFileError(PoorenvError):
    """A saved plan cannot be applied: it is malformed, or what it was made from changed."""


def package_changes(plan: Plan, installed: Mapping[str, str]) -> list[dict[str, Any]]:
    """Each package the plan adds, removes, upgrades, downgrades or reinstalls, with versions
    and the reason."""
    found: list[dict[str, Any]] = []
    for action in plan.actions:
        if isinstance(action, InstallPackages):
            for c in action.changes:
                change = "add" if c.old is None else c.why
                found.append(
                    {"name": c.name, "old": c.old, "new": c.new, "change": change, "reason": c.why}
                )
        elif isinstance(action, RemovePackages):
            for name in action.names:
                found.append(
                    {"name": name, "old": installed.get(name), "new": None, "change": "remove",
                     "reason": action.reason}
                )  # fmt: skip
    return found


def preview_json(preview: Preview) -> dict[str, Any]:
    """The plan's JSON, with the lock changes and the package changes."""
    from poorenv.lock.lockfile import lock_changes

    changes = lock_changes(preview.old_lock, preview.new_lock) if preview.resolved else []
    return {
        **preview.plan.to_json(),
        "lock_changes": changes,
        "package_changes": package_changes(preview.plan, preview.installed),
    }


def render_preview(preview: Preview) -> str:
    """The plan as text: lock changes (as `poorenv lock` prints them), then the actions."""
    from poorenv.cli.output import lock_change_lines

    lines = lock_change_lines(preview.old_lock, preview.new_lock) if preview.resolved else []
    return "\n".join([*lines, preview.plan.render()])


# --- fingerprints ----------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def env_digest(state: EnvState) -> str:
    """What makes "the env changed" cheap to see: poorenv's marker and record, the env's
    top-level entries (name, kind, size, mtime), and the installed distributions' versions."""
    top: list[list[Any]] = []
    if state.exists and state.is_dir:
        for entry in sorted(os.scandir(state.path), key=lambda e: e.name):
            st = entry.stat(follow_symlinks=False)
            top.append([entry.name, st.st_mode, st.st_size, st.st_mtime_ns])
    data = {
        "exists": state.exists,
        "marker": dict(state.marker) if state.marker is not None else None,
        "record": state.record.to_json() if state.record is not None else None,
        "top": top,
        "site": sorted(state.distributions.items()) if state.exists else [],
    }
    return _sha256(json.dumps(data, sort_keys=True, default=str).encode())


def fingerprint(project: Project, state: EnvState) -> dict[str, Any]:
    from poorenv.lock.inputs import input_hash
    from poorenv.lock.lockfile import read_lock
    from poorenv.state.record import BaseFingerprint

    lock = read_lock(project.lock_path)
    return {
        "config": _sha256(project.config.file.read_bytes()),
        "inputs": input_hash(project.config),
        "lock": lock.content_hash if lock is not None else None,
        "base": vars(BaseFingerprint.of(project.base)).copy(),
        "env": env_digest(state),
    }


_CHANGED = {
    "config": "poorenv.toml changed since the plan was made",
    "inputs": "a requirements or constraints file changed since the plan was made",
    "lock": "poorenv.lock changed since the plan was made",
    "base": "the base changed since the plan was made",
    "env": "the env changed since the plan was made",
}


def saved_plan(project: Project, preview: Preview) -> dict[str, Any]:
    """The plan file's content: the preview's JSON, its fingerprint, and a new lock if any."""
    return {
        "json-version": JSON_VERSION,
        "poorenv": __version__,
        "command": "plan",
        **preview_json(preview),
        "saved": {
            "format": SAVED_FORMAT,
            "fingerprint": fingerprint(project, project.read_state()),
            "new_lock": preview.new_lock.to_toml() if preview.resolved else None,
        },
    }


# --- apply -----------------------------------------------------------------------------------


def read_plan_file(path: Path) -> dict[str, Any]:
    from poorenv._fs import read_regular

    try:
        raw = read_regular(path)
        data = json.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise PlanFileError(f"{path}: not a plan file: {exc}") from None
    if not isinstance(data, dict) or data.get("command") != "plan":
        raise PlanFileError(f"{path}: not a plan file (made by `poorenv plan -o FILE`)")
    saved = data.get("saved")
    if not isinstance(saved, dict) or saved.get("format") != SAVED_FORMAT:
        raise PlanFileError(f"{path}: saved: missing or of another format")
    if not isinstance(saved.get("fingerprint"), dict):
        raise PlanFileError(f"{path}: saved: fingerprint missing")
    if not isinstance(data.get("actions"), list):
        raise PlanFileError(f"{path}: actions: missing or not a list")
    return data


def _carried_lock(project: Project, path: Path, saved: Mapping[str, Any]) -> Lock | None:
    """The lock the plan file carries, parsed by the lock's grammar; None if it carries none."""
    from poorenv.lock.inputs import stale_reason
    from poorenv.lock.lockfile import parse_lock
    from poorenv.paths import loads_toml

    text = saved.get("new_lock")
    if text is None:
        return None
    where = Path(f"{path}: saved.new_lock")
    if not isinstance(text, str):
        raise PlanFileError(f"{where}: not a string")
    try:
        lock = parse_lock(loads_toml(text), where)
    except (ValueError, LockError) as exc:
        raise PlanFileError(str(getattr(exc, "message", exc))) from None
    problem = stale_reason(lock, project.config, project.base)
    if problem:
        raise PlanFileError(f"{where}: {problem}")
    return lock


def _inside(env: Path, value: object) -> bool:
    if not isinstance(value, str) or not os.path.isabs(value):
        return False
    normal = os.path.normpath(value)
    return normal == str(env) or normal.startswith(str(env) + os.sep)


def check_actions(path: Path, env: Path, actions: list[Any], lock: Lock) -> None:
    """Each action's paths lie inside the env, and each requirement line is the lock's own."""
    for i, action in enumerate(actions):
        if not isinstance(action, dict) or not isinstance(action.get("action"), str):
            raise PlanFileError(f"{path}: actions[{i}]: not an action")
        where = f"{path}: actions[{i}] ({action['action']})"
        paths: list[object] = []
        for key in ("path", "dest"):
            # The project's directory lies outside the env: the re-plan's actions must equal
            # the file's (apply_plan_file), so its path is the lock's own.
            if key in action and action["action"] != "install-project":
                paths.append(action[key])
        paths += list(action.get("paths") or [])
        for pair in [*(action.get("links") or []), *(action.get("files") or [])]:
            paths.append(pair[0] if isinstance(pair, list) and pair else pair)
        for value in paths:
            if not _inside(env, value):
                raise PlanFileError(f"{where}: path {value!r} is not inside the env {env}")
        if action["action"] == "install-packages":
            for line in action.get("requirements") or []:
                name = line.split("==", 1)[0] if isinstance(line, str) else None
                pin = lock.package(name) if name else None
                if pin is None or line != pin.requirement():
                    shown = line if isinstance(line, str) else repr(line)
                    raise PlanFileError(
                        f"{where}: requirement {shown.splitlines()[0]!r} is not a line of the lock"
                    )


def apply_plan_file(
    project: Project, path: Path, installer: Installer, reporter: Reporter
) -> list[Any]:
    """Carry out the plan saved at `path`, or refuse naming what changed since it was made."""
    from poorenv.envlock import env_lock
    from poorenv.lock.lockfile import read_lock, write_lock
    from poorenv.plan import planner

    data = read_plan_file(path)
    saved = data["saved"]
    with env_lock(project.lock_key, reporter):
        state = project.read_state()
        now = fingerprint(project, state)
        for key, message in _CHANGED.items():
            if saved["fingerprint"].get(key) != now[key]:
                raise PlanFileError(message, hint="make the plan again: `poorenv plan -o FILE`")
        lock = _carried_lock(project, path, saved) or read_lock(project.lock_path)
        if lock is None:
            raise PlanFileError(f"{path}: the plan has no lock to install (poorenv.lock missing)")
        lock = lock.select(project.base) or lock  # the resolution for the env's Python
        if str(data.get("env")) != str(project.env):
            raise PlanFileError(f"{path}: env: the plan is for {data.get('env')!r}")
        check_actions(path, project.env, data["actions"], lock)
        plan = planner.plan(
            project.layout, project.base, state, lock, None, project.config.project_dir
        )
        if [a.to_json() for a in plan.actions] != data["actions"]:
            raise PlanFileError(
                f"{path}: its actions are not what the plan's inputs give now:"
                " the file was edited, or the env changed since the plan was made",
                hint="make the plan again: `poorenv plan -o FILE`",
            )
        if saved.get("new_lock") is not None:
            write_lock(project.lock_path, lock)
        return project.carry_out(plan, state, installer, reporter, fresh=True)
