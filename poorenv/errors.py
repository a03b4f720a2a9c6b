"""The one exception root. The CLI turns these into an `error:` line, a `hint:` and an exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_DRIFT = 1  # `check`: the env does not match
EXIT_ERROR = 2  # bad input, refused operation, failed step


class PoorenvError(Exception):
    """An error meant for the user: a one-line message, an optional hint, and optional
    `details`: lines a tool wrote (already redacted), shown indented after the hint."""

    exit_code = EXIT_ERROR

    def __init__(
        self, message: str, hint: str | None = None, details: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details


class ConfigError(PoorenvError):
    """poorenv.toml is missing, unparsable or invalid."""


class InterpreterError(PoorenvError):
    """No interpreter matches the request, or the one named is unusable."""


class EnvError(PoorenvError):
    """The env directory cannot be used, or poorenv refuses to touch it."""

    @classmethod
    def not_ours(cls, env: object) -> EnvError:
        return cls(
            f"env path {env}: not empty and not made by poorenv (no .poorenv/marker.json)",
            hint="poorenv builds only in an empty directory or one it made;"
            " set [env] path elsewhere",
        )


class ApplyError(PoorenvError):
    """A step of `sync` failed."""


class LockError(PoorenvError):
    """poorenv.lock is missing, stale, damaged, or cannot be made."""


def os_hint(exc: OSError, what: str = "the env directory") -> str | None:
    """What to do about a failed write to `what`: a hint for the errors the user can fix."""
    import errno

    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{what} must be writable by you"
    if exc.errno == errno.ENOSPC:
        return "free some disk space, then run `poorenv sync` again"
    return None
