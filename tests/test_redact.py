"""poorenv.redact: credentials never leave in text, argv or shared URLs."""

from __future__ import annotations

from pathlib import Path

from poorenv.redact import redact, redact_argv, strip_credentials


def test_redact_masks_every_url_in_text() -> None:
    text = "from https://user:s3cret@example.invalid/simple and http://token@example.invalid/x"
    out = redact(text)
    assert "s3cret" not in out and "token@" not in out and "user" not in out
    assert out.count("***@example.invalid") == 2


def test_redact_leaves_plain_text() -> None:
    assert redact("pip install flask==3.0 (user@host is no URL)") == (
        "pip install flask==3.0 (user@host is no URL)"
    )


def test_redact_argv_words() -> None:
    argv = ["pip", "--index-url", "https://u:p@example.invalid/simple", Path("/x")]
    assert redact_argv(argv) == ["pip", "--index-url", "https://***@example.invalid/simple", "/x"]


def test_strip_credentials_removes_userinfo_only() -> None:
    url = "https://u:p@example.invalid:8443/simple/flask/flask-3.0.whl#sha256=ab"
    assert (
        strip_credentials(url)
        == "https://example.invalid:8443/simple/flask/flask-3.0.whl#sha256=ab"
    )
    assert strip_credentials("file:///tmp/a.whl") == "file:///tmp/a.whl"
