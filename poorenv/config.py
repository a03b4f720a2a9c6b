"""poorenv.toml: finding it, and turning its mapping into a typed, validated `Config`."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poorenv.errors import ConfigError, os_hint
from poorenv.paths import CONFIG_NAME, DEFAULT_ENV_PATH, loads_toml, resolve
from poorenv.tomlcheck import Where as _Where

__all__ = [
    "CONFIG_NAME",
    "DEFAULT_ENV_PATH",
    "Config",
    "DeployConfig",
    "IndexConfig",
    "find_config",
    "init_config",
    "load_config",
    "load_project_config",
    "loads_toml",
    "parse_config",
    "render_config",
]


DEFAULT_SEED = ("pip", "setuptools")
INSTALLERS = ("pip", "uv")
RESOLVERS = ("pip-tools", "uv")  # `[env] resolver`, `lock --resolver`
KNOWN_SEED = frozenset(DEFAULT_SEED)
SCHEMA_URL = "https://poorenv.example.invalid/schemas/poorenv.schema.json"


@dataclass(frozen=True)
class IndexConfig:
    """`[index]`: where packages come from. Empty means pip's own configuration applies."""

    url: str | None = None
    extra_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False


@dataclass(frozen=True)
class DeployConfig:
    """`[deploy]`: the env is served, and changes only by whole generations (`poorenv deploy`)."""

    keep: int = 3  # generations kept on disk, the current one and the one it replaced included
    smoke: tuple[str, ...] = ()  # run in a new generation before it serves; non-zero aborts
    reload: tuple[str, ...] = ()  # run after the env path points at a new generation
    user: str | None = None  # the server's user, who must be able to read the env
    app: Path | None = None  # the WSGI file the server loads (absolute)


@dataclass(frozen=True)
class Config:
    """A validated poorenv.toml. Paths are absolute."""

    file: Path
    python: str
    env_path: Path
    seed: tuple[str, ...] = DEFAULT_SEED
    installer: str = "pip"
    packages: tuple[str, ...] = ()
    requirement_files: tuple[Path, ...] = ()
    constraint_files: tuple[Path, ...] = ()
    index: IndexConfig = field(default_factory=IndexConfig)
    prompt: str | None = None  # `[env] prompt`
    # `[requirements] project`: the directory of a pyproject.toml (lock/pyproject.py), absolute
    project: Path | None = None
    extras: tuple[str, ...] = ()  # `[requirements] extras`: the project's optional dependencies
    groups: tuple[str, ...] = ()  # `[requirements] groups`: its PEP 735 dependency groups
    # `[env] resolver` and `[lock] pythons` (the X.Y a lock holds a resolution for, besides the
    # env's own): see lock/resolver.py and lock/pythons.py
    resolver: str = "pip-tools"
    lock_pythons: tuple[str, ...] = ()
    deploy: DeployConfig | None = None  # `[deploy]`
    env_link: Path | None = None  # with `[deploy]`: the env path itself, its last link unfollowed

    @property
    def served_path(self) -> Path:
        """The env path a server and `run` name: with `[deploy]` the link to the current
        generation (`env_path` is where it leads), else `env_path`."""
        return self.env_link or self.env_path

    @property
    def project_dir(self) -> Path:
        return self.file.parent

    @property
    def env_prompt(self) -> str:
        """The name an activated env shows: `[env] prompt`, else the project directory's."""
        return self.prompt or self.project_dir.name or self.env_path.name


def find_config(start: Path) -> Path:
    """Return poorenv.toml in `start` or its nearest parent that has one.

    A poorenv.toml that cannot be read as a file (a link to nothing or a loop, a directory, a
    directory that cannot be searched) stops the search with an error naming it: skipping it
    would silently pick up a parent's project instead.
    """
    start = Path(os.path.realpath(start))
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_NAME
        try:
            mode = os.stat(candidate).st_mode
        except (FileNotFoundError, NotADirectoryError):
            if os.path.islink(candidate):
                raise ConfigError(f"{candidate}: a symbolic link to nothing") from None
            continue
        except OSError as exc:
            raise ConfigError(f"{candidate}: cannot read: {exc.strerror}") from None
        if not stat.S_ISREG(mode):
            raise ConfigError(f"{candidate}: not a regular file")
        return candidate
    raise ConfigError(
        f"no {CONFIG_NAME} in {start} or any parent directory",
        hint="run `poorenv init` to write one, or pass -C DIR",
    )


def load_config(path: Path) -> Config:
    """Read and validate a poorenv.toml."""
    require_utf8(path.parent, "project directory")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        data = loads_toml(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return parse_config(data, path.resolve())


_TOP_KEYS = ("env", "requirements", "index", "lock", "deploy")
_ENV_KEYS = ("python", "path", "seed", "installer", "prompt", "resolver")
_REQ_KEYS = ("packages", "files", "constraints", "project", "extras", "groups")
_INDEX_KEYS = ("url", "extra-urls", "find-links", "no-index")
_DEPLOY_KEYS = ("keep", "smoke", "reload", "user", "app")


def parse_config(data: Mapping[str, Any], file: Path) -> Config:
    """Validate the parsed TOML `data` of `file`: a pure Mapping -> Config function."""
    where = _Where(file)
    where.keys(data, _TOP_KEYS, "")
    env = where.table(data, "env", required=True)
    where.keys(env, _ENV_KEYS, "env")
    python = where.string(env, "python", "env", required=True, text=True)
    if not python or not python.strip():
        raise where.error("env", "python", "must not be empty", hint='for example python = "3.12"')
    env_path_text = where.string(env, "path", "env", text=True)
    if env_path_text is not None and not env_path_text.strip():
        hint = f'the default is "{DEFAULT_ENV_PATH}"'
        raise where.error("env", "path", "must not be empty", hint=hint)
    seed = where.strings(env, "seed", "env", default=DEFAULT_SEED)
    for i, tool in enumerate(seed):
        if tool not in KNOWN_SEED:
            hint = "seed may name pip and setuptools"
            raise where.error("env", "seed", f"unknown seed tool {tool!r}", hint=hint)
        if tool in seed[:i]:
            raise where.error("env", "seed", f"{tool!r} is listed twice")
    installer = where.string(env, "installer", "env") or "pip"
    if installer not in INSTALLERS:
        raise where.error(
            "env", "installer", f"unknown installer {installer!r}", hint='use "pip" or "uv"'
        )
    prompt = where.string(env, "prompt", "env")
    if prompt is not None:
        _check_prompt(prompt, where)
    resolver, lock_pythons = _resolving(data, env, where)

    req = where.table(data, "requirements")
    where.keys(req, _REQ_KEYS, "requirements")
    packages = where.strings(req, "packages", "requirements")
    for spec in packages:
        _check_requirement(spec, where)
    project = file.parent
    files = tuple(project / p for p in where.strings(req, "files", "requirements"))
    constraints = tuple(project / p for p in where.strings(req, "constraints", "requirements"))
    local, extras, groups = _project(req, project, where)

    idx = where.table(data, "index")
    where.keys(idx, _INDEX_KEYS, "index")
    index = IndexConfig(
        url=where.string(idx, "url", "index", text=True),
        extra_urls=where.strings(idx, "extra-urls", "index"),
        find_links=where.strings(idx, "find-links", "index"),
        no_index=where.boolean(idx, "no-index", "index"),
    )
    try:
        env_path = resolve(project / Path(env_path_text or DEFAULT_ENV_PATH).expanduser())
    except OSError as exc:
        raise where.error("env", "path", f"{exc.filename}: {exc.strerror}") from None
    require_utf8(env_path, "env path")
    deploy, env_link = _deploy(data, where, project, env_path_text or DEFAULT_ENV_PATH)
    return Config(
        file=file,
        python=python.strip(),
        env_path=env_path,
        seed=seed,
        installer=installer,
        packages=packages,
        requirement_files=files,
        constraint_files=constraints,
        index=index,
        prompt=prompt,
        project=local,
        extras=extras,
        groups=groups,
        resolver=resolver,
        lock_pythons=lock_pythons,
        deploy=deploy,
        env_link=env_link,
    )


def _resolving(
    data: Mapping[str, Any], env: Mapping[str, Any], where: _Where
) -> tuple[str, tuple[str, ...]]:
    """`[env] resolver` and `[lock] pythons`."""
    import re

    resolver = where.string(env, "resolver", "env") or "pip-tools"
    if resolver not in RESOLVERS:
        hint = 'use "pip-tools" or "uv"'
        raise where.error("env", "resolver", f"unknown resolver {resolver!r}", hint=hint)
    lock = where.table(data, "lock")
    where.keys(lock, ("pythons",), "lock")
    pythons = where.strings(lock, "pythons", "lock")
    hint = 'X.Y versions of CPython, for example pythons = ["3.9", "3.13"]'
    for i, xy in enumerate(pythons):
        if re.fullmatch(r"3\.([89]|[1-9][0-9]+)", xy) is None:  # as the schema says
            message = f"{xy!r} is not an X.Y version of CPython 3.8 or newer"
            raise where.error("lock", "pythons", message, hint=hint)
        if xy in pythons[:i]:
            raise where.error("lock", "pythons", f"{xy!r} is listed twice")
    return resolver, pythons


def _project(
    req: Mapping[str, Any], directory: Path, where: _Where
) -> tuple[Path | None, tuple[str, ...], tuple[str, ...]]:
    """`[requirements] project`, `extras` and `groups`: the names normalised (PEP 685, PEP 735),
    each listed once; extras and groups only with a project. Whether they exist is read from
    the pyproject.toml (lock/pyproject.py), when a lock is made or judged."""
    import re

    text = where.string(req, "project", "requirements", text=True)
    if text is not None and not text.strip():
        raise where.error("requirements", "project", "must not be empty", hint='project = "."')
    named: dict[str, tuple[str, ...]] = {}
    for key in ("extras", "groups"):
        names = where.strings(req, key, "requirements")
        if names and text is None:
            hint = 'name the project too: project = "."'
            raise where.error("requirements", key, "needs [requirements] project", hint=hint)
        seen: list[str] = []
        for name in names:
            if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", name):
                raise where.error("requirements", key, f"{name!r} is not a valid name")
            normal = re.sub(r"[-_.]+", "-", name).lower()
            if normal in seen:
                raise where.error("requirements", key, f"{name!r} is listed twice")
            seen.append(normal)
        named[key] = tuple(seen)
    local = None if text is None else Path(os.path.normpath(directory / Path(text).expanduser()))
    return local, named["extras"], named["groups"]


def _deploy(
    data: Mapping[str, Any], where: _Where, project: Path, env_text: str
) -> tuple[DeployConfig | None, Path | None]:
    """`[deploy]`, and the env path with its last component kept as a name (the link that
    points at the current generation); (None, None) without the table."""
    if "deploy" not in data:
        return None, None
    table = where.table(data, "deploy")
    where.keys(table, _DEPLOY_KEYS, "deploy")
    keep = table.get("keep", DeployConfig.keep)
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 2:
        hint = "keep counts the current generation and the one it replaced: at least 2"
        raise where.error("deploy", "keep", f"expected an integer >= 2, got {keep!r}", hint=hint)
    commands = {}
    for key in ("smoke", "reload"):
        commands[key] = where.strings(table, key, "deploy")
    user = where.string(table, "user", "deploy", text=True)
    if user is not None and not user.strip():
        raise where.error("deploy", "user", "must not be empty", hint='for example "www-data"')
    app_text = where.string(table, "app", "deploy", text=True)
    if app_text is not None and not app_text.strip():
        raise where.error("deploy", "app", "must not be empty", hint='for example "app.wsgi"')
    app = project / Path(app_text).expanduser() if app_text else None
    unresolved = project / Path(env_text).expanduser()
    if unresolved.name in ("", ".", ".."):
        raise where.error("env", "path", "with [deploy], the env path must end in a name")
    try:
        link = resolve(unresolved.parent) / unresolved.name
    except OSError as exc:
        raise where.error("env", "path", f"{exc.filename}: {exc.strerror}") from None
    deploy = DeployConfig(keep, commands["smoke"], commands["reload"], user, app)
    return deploy, link


def _check_requirement(spec: str, where: _Where) -> None:
    """A requirement poorenv can lock, by the rules of requirements files (lock/reqfile.py)."""
    from poorenv.lock.reqfile import Refusal, requirement

    try:
        requirement(spec)
    except Refusal as exc:
        raise where.error(
            "requirements", "packages", f"invalid requirement {spec!r}: {exc.problem}", exc.hint
        ) from None


def _check_prompt(prompt: str, where: _Where) -> None:
    import unicodedata

    hint = 'for example prompt = "myapp"'
    if not prompt.strip():
        raise where.error("env", "prompt", "must not be empty", hint=hint)
    for char in prompt:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            message = f"contains {char!r}: a prompt is one line, without control characters"
            raise where.error("env", "prompt", message, hint=hint)


def init_config(directory: Path, python: str, packages: tuple[str, ...] = ()) -> Path:
    """Write a new poorenv.toml in `directory` (`poorenv init`); never over an existing one.
    Beside a pyproject.toml it names that project (`project = "."`)."""
    target = directory / CONFIG_NAME
    text = render_config(python, packages, project=(directory / "pyproject.toml").is_file())
    parse_config(loads_toml(text), target)  # the same checks as on every later load
    try:
        with open(target, "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise ConfigError(f"{target}: already exists", hint="edit it, or delete it first") from None
    except OSError as exc:
        hint = os_hint(exc, "the project directory")
        raise ConfigError(f"{target}: cannot write: {exc.strerror}", hint=hint) from None
    return target


def require_utf8(path: Path, what: str) -> None:
    """Refuse a path whose name is not UTF-8: poorenv writes paths into UTF-8 text (the
    activation scripts, state.json, the lock's inputs)."""
    try:
        os.fsdecode(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        raise ConfigError(
            f"{what} {shown}: its name is not valid UTF-8",
            hint="poorenv writes this path into UTF-8 text files; rename the directory",
        ) from None


def load_project_config(start: Path) -> Config:
    """The validated poorenv.toml that governs `start` (it or its nearest parent)."""
    return load_config(find_config(start))


def render_config(python: str, packages: tuple[str, ...] = (), project: bool = False) -> str:
    """The text `poorenv init` writes; `project`: with `project = "."`."""
    import tomli_w

    requirements: dict[str, Any] = {"project": "."} if project else {}
    requirements.update(packages=list(packages), files=[])
    body = tomli_w.dumps(
        {
            "env": {"python": python, "path": DEFAULT_ENV_PATH, "seed": list(DEFAULT_SEED)},
            "requirements": requirements,
        }
    )
    return f"#:schema {SCHEMA_URL}\n{body}"
