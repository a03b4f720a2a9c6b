"""poorenv._run: real tiny processes (sys.executable -c ...) and a replaced `_spawn`."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import pytest

from poorenv import _run
from poorenv._run import Result, TimedOut, ToolError, last_error_line, run

SECRET_URL = "https://alice:s3cret@example.invalid/simple"  # noqa: S105 - a fake one


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_tool_that_succeeds_gives_its_output() -> None:
    result = run(py("import sys; print('out'); print('err', file=sys.stderr)"), what="greeting")
    assert result.returncode == 0
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"
    assert result.argv[0] == sys.executable


def test_a_failing_tool_is_one_line_with_its_last_lines() -> None:
    code = (
        "import sys\n"
        "for i in range(30): print(f'noise {i}', file=sys.stderr)\n"
        "print('ERROR: No matching distribution found for alpha', file=sys.stderr)\n"
        "print('a closing remark', file=sys.stderr)\n"
        "sys.exit(3)"
    )
    with pytest.raises(ToolError) as info:
        run(py(code), what="resolving")
    error = info.value
    assert error.message == "resolving: No matching distribution found for alpha"
    assert "\n" not in error.message
    assert error.what == "resolving"
    assert error.returncode == 3
    assert not error.timed_out
    assert len(error.tail) == _run.TAIL_LINES
    assert error.tail[-1] == "a closing remark"
    assert error.tail[-2] == "ERROR: No matching distribution found for alpha"


def test_a_failing_tool_without_stderr_is_read_from_stdout() -> None:
    with pytest.raises(ToolError) as info:
        run(py("print('only this'); raise SystemExit(1)"), what="step")
    assert info.value.message == "step: only this"
    assert info.value.tail == ("only this",)


def test_check_false_hands_the_result_back() -> None:
    result = run(py("import sys; sys.stderr.write('bad'); sys.exit(5)"), what="x", check=False)
    assert result.returncode == 5
    assert result.stderr == "bad"


def test_a_timeout_is_a_tool_error() -> None:
    code = "import sys, time; print('started', flush=True); time.sleep(30)"
    with pytest.raises(ToolError) as info:
        run(py(code), what="slow step", timeout=0.5, check=False)
    error = info.value
    assert error.timed_out
    assert error.returncode is None
    assert error.message == "slow step: no answer within 0.5 s"
    assert error.tail == ("started",)


def test_a_tool_that_cannot_start_is_a_tool_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-tool"
    with pytest.raises(ToolError) as info:
        run([missing, "--version"], what="asking the tool", check=False)
    error = info.value
    assert error.returncode is None
    assert error.detail == "No such file or directory"
    assert error.message == "asking the tool: cannot run no-such-tool: No such file or directory"


def test_credentials_are_redacted_in_the_log_and_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    code = f"import sys; print('ERROR: 401 for {SECRET_URL}', file=sys.stderr); sys.exit(1)"
    caplog.set_level(logging.DEBUG, logger="poorenv._run")
    with pytest.raises(ToolError) as info:
        run([*py(code), "--index-url", SECRET_URL], what="pip")
    error = info.value
    assert error.message == "pip: 401 for https://***@example.invalid/simple"
    assert all("s3cret" not in line for line in error.tail)
    assert "***@example.invalid" in caplog.text  # the argv and the output were logged ...
    assert "401 for" in caplog.text
    assert "s3cret" not in caplog.text  # ... without the password


def test_the_result_argv_is_redacted() -> None:
    result = run([*py("pass"), SECRET_URL], what="x")
    assert result.argv[-1] == "https://***@example.invalid/simple"


def test_env_none_is_the_clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, str]] = []

    def fake(argv: list[str], env: dict[str, str], *rest: object) -> Result:
        seen.append(env)
        return Result(tuple(argv), 0, "", "")

    monkeypatch.setattr(_run, "_spawn", fake)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONHOME", "/somewhere")
        run(["tool"], what="x")
        run(["tool"], what="x", env={})
    assert "PYTHONHOME" not in seen[0]
    assert "PATH" in seen[0]
    assert seen[1] == {}


def test_input_and_cwd_reach_the_process(tmp_path: Path) -> None:
    code = "import os, sys; print(os.getcwd()); print(sys.stdin.read().upper())"
    result = run(py(code), what="x", input="hello", cwd=tmp_path)
    assert result.stdout.splitlines() == [str(tmp_path), "HELLO"]


def test_a_replaced_spawn_can_time_out(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(*args: object) -> Result:
        raise TimedOut(60, "", "Traceback ...\nKeyboardInterrupt")

    monkeypatch.setattr(_run, "_spawn", fake)
    with pytest.raises(ToolError, match="no answer within 60 s") as info:
        run(["tool"], what="probe", timeout=60)
    assert info.value.tail == ("Traceback ...", "KeyboardInterrupt")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("Collecting x\nERROR: first\nsome more\nERROR: the last one\nbye\n", "the last one"),
        ("error: uv says no\n", "uv says no"),
        ("Traceback (most recent call last):\n  File ...\n"
         "pip._internal.exceptions.DistributionNotFound: No matching distribution\n",
         "No matching distribution"),
        ("Traceback:\n  x\nValueError: bad value\nexit\n", "bad value"),
        ("just\nsome lines\n\n", "some lines"),
        ("", "no output"),
        (f"ERROR: cannot reach {SECRET_URL}\n", "cannot reach https://***@example.invalid/simple"),
    ],
)  # fmt: skip
def test_last_error_line(text: str, line: str) -> None:
    assert last_error_line(text) == line


def test_children_keep_sigxfsz_ignored() -> None:
    """Under a file-size limit a child's write fails with EFBIG instead of killing it: uv, a
    Rust program, would otherwise die without a word. (Python ignores SIGXFSZ itself.)"""
    result = run(["sh", "-c", "grep SigIgn /proc/$$/status"], what="reading signals")
    ignored = int(result.stdout.split()[1], 16)
    assert ignored & (1 << (signal.SIGXFSZ - 1))
