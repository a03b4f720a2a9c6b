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


def test_redact_masks_up_to_the_last_at_of_the_authority() -> None:
    """A password with an unencoded `@` leaves no tail behind."""
    out = redact("url = 'https://user:pa@ss@example.invalid/simple'")
    assert out == "url = 'https://***@example.invalid/simple'"


def test_redact_stops_at_the_authority() -> None:
    """An `@` in a path, a query or the next word is no credential."""
    text = "https://example.invalid/~me@home/x?to=a@b and file:///srv/@wheels user@host"
    assert redact(text) == text


def test_redact_in_toml_and_json_text() -> None:
    toml = 'url = "https://u:s3cret@example.invalid/simple"\nextra-urls = ["http://t@e.invalid"]'
    assert redact(toml) == (
        'url = "https://***@example.invalid/simple"\nextra-urls = ["http://***@e.invalid"]'
    )
    assert (
        redact('{"url":"https://u:s3cret@example.invalid"}')
        == '{"url":"https://***@example.invalid"}'
    )
