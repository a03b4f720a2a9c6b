"""lock.reqfile: requirements and constraints files read as pip reads them, includes followed,
and every line poorenv cannot lock refused by file:line, never dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from poorenv.errors import ConfigError
from poorenv.lock.reqfile import Refusal, logical_lines, read_inputs, requirement

CONFIG = Path("/project/poorenv.toml")


def read(tmp_path: Path, text: str, constraint: bool = False) -> list[str]:
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    files = read_inputs(CONFIG, [] if constraint else [path], [path] if constraint else [])
    return [spec for f in files for spec in f.requirements]


def refusal(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        read(tmp_path, text)
    return info.value


def test_comments_blanks_continuations_and_requirements(tmp_path: Path) -> None:
    text = (
        "# a comment\n"
        "\n"
        "flask >= 3  # trailing comment\n"
        "requests[socks] \\\n"
        "    >=2.31 ; python_version < '4'\n"
        "\tattrs\t\n"
        "zope.interface==6.0 ;sys_platform=='linux'\n"
    )
    assert read(tmp_path, text) == [
        "flask>=3",
        'requests[socks]>=2.31; python_version < "4"',
        "attrs",
        'zope.interface==6.0; sys_platform == "linux"',
    ]


def test_logical_lines_follow_pip() -> None:
    text = "a \\\n  b\n# c \\\nd \\\n# e\nf#g\n  # h\ni \\"
    assert list(logical_lines(text)) == [(1, "a   b"), (4, "d"), (6, "f#g"), (8, "i")]


@pytest.mark.parametrize(
    ("line", "words", "hint"),
    [
        ("-e .", "'-e .': editable requirements are not supported", "project = \".\""),
        ("--editable=./pkg", "editable requirements are not supported", "name the package"),
        ("-e.", "editable", "project"),
        (".", "'.': a path or URL, not a requirement by name", "project = \".\""),
        ("./pkg", "a path or URL", "find-links"),
        ("dist/alpha-1.0-py3-none-any.whl", "a path or URL", "find-links"),
        ("https://example.invalid/alpha-1.0.tar.gz", "a path or URL", "find-links"),
        ("alpha @ https://example.invalid/alpha-1.0.tar.gz",
         "alpha @ URL: poorenv.lock pins packages by name", "find-links"),
        ("alpha @ file:///tmp/alpha-1.0-py3-none-any.whl", "alpha @ URL", "find-links"),
        ("--index-url https://example.invalid/simple", "sets where packages come from",
         "[index] url"),
        ("-i https://example.invalid/simple", "where packages come from", "[index] url"),
        ("--extra-index-url=https://example.invalid/simple", "where packages come from",
         "[index] extra-urls"),
        ("--find-links /tmp/wheels", "where packages come from", "[index] find-links"),
        ("-f/tmp/wheels", "where packages come from", "[index] find-links"),
        ("--no-index", "where packages come from", "[index] no-index"),
        ("--trusted-host example.invalid", "how the index is trusted", "https"),
        ("--pre", "pre-releases of every package", "name>=2.0b1"),
        ("--no-binary :all:", "how packages are installed", "remove it"),
        ("--only-binary=:all:", "how packages are installed", "remove it"),
        ("--prefer-binary", "how packages are installed", "remove it"),
        ("--require-hashes", "always on", "remove it"),
        ("--hash=sha256:" + "a" * 64, "records the hashes", "remove it"),
        ("alpha==1.0 --hash=sha256:" + "a" * 64, "--hash after a requirement", "remove it"),
        ("alpha -e .", "-e after a requirement: editable", "project"),
        ("alpha --config-settings=x=y", "--config-settings after a requirement", None),
        ("--use-feature=truststore", "not an option poorenv passes on", "remove it"),
        ("-x", "not an option poorenv passes on", None),
        ("alpha==${VERSION}", "pip would expand ${...}", "write the value"),
        ("${REQS}", "pip would expand ${...}", "write the value"),
        ("-r ${DIR}/base.txt", "pip would expand ${...}", "write the value"),
        ("alpha; os_name == \"a#b\"", "holds '#'", None),
        ("alpha >>= 1", "'alpha >>= 1': not a PEP 508 requirement", None),
        ("alpha==1.0 extra", "not a PEP 508 requirement", None),
        ("-r", "-r names no file", None),
        ("-r a.txt -r b.txt", "one option per line", None),
        ("-r https://example.invalid/requirements.txt", "from a URL is not read", "save the file"),
        ('-r "unclosed', "cannot split", None),
    ],
)  # fmt: skip
def test_lines_that_cannot_be_locked_are_refused_by_file_and_line(
    tmp_path: Path, line: str, words: str, hint: str | None
) -> None:
    error = refusal(tmp_path, f"# first line\nbeta\n{line}\ngamma\n")
    assert error.message.startswith(f"{tmp_path / 'requirements.txt'}:3: ")
    assert words in error.message
    assert "\n" not in error.message
    if hint:
        assert hint in (error.hint or "")


def test_includes_are_read_relative_to_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "reqs").mkdir()
    (tmp_path / "reqs" / "base.txt").write_text("alpha\n-c pins.txt\n")
    (tmp_path / "reqs" / "pins.txt").write_text("alpha<2\n-r extra.txt\n")
    (tmp_path / "reqs" / "extra.txt").write_text("gamma\n")
    top = tmp_path / "requirements.txt"
    top.write_text("-r reqs/base.txt\n--requirement=reqs/base.txt\nbeta\n")
    files = read_inputs(CONFIG, [top], [])
    found = {(f.path.name, f.constraint, f.listed): f.requirements for f in files}
    assert found == {
        ("requirements.txt", False, True): ("beta",),
        ("base.txt", False, False): ("alpha",),  # read once, though included twice
        ("pins.txt", True, False): ("alpha<2",),
        ("extra.txt", False, False): ("gamma",),  # -r in a constraints file: requirements (pip)
    }
    assert files[-1].path == top and files[-1].content == top.read_bytes()


def test_a_refused_line_in_an_included_file_is_named_there(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("alpha\n\n-e .\n")
    error = refusal(tmp_path, "-r base.txt\n")
    assert error.message.startswith(f"{tmp_path / 'base.txt'}:3: '-e .': editable")


def test_a_missing_include_is_named_where_it_is_included(tmp_path: Path) -> None:
    error = refusal(tmp_path, "alpha\n-c missing.txt\n")
    assert error.message.startswith(f"{tmp_path / 'requirements.txt'}:2: cannot read ")
    assert "missing.txt" in error.message


def test_a_missing_listed_file_is_named_with_poorenv_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"poorenv\.toml: \[requirements\]: cannot read .*x\.txt"):
        read_inputs(CONFIG, [tmp_path / "x.txt"], [])


def test_a_circle_of_includes_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("alpha\n-r b.txt\n")
    (tmp_path / "b.txt").write_text("-r a.txt\n")
    with pytest.raises(ConfigError) as info:
        read_inputs(CONFIG, [tmp_path / "a.txt"], [])
    assert info.value.message == f"{tmp_path / 'b.txt'}:1: includes {tmp_path / 'a.txt'} again:" \
        " a circle of includes"  # fmt: skip


def test_a_file_including_itself_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, "alpha\n-r ./requirements.txt\n")
    assert "a circle of includes" in error.message


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_bytes(b"alpha\n\xff\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        read_inputs(CONFIG, [path], [])


def test_constraints_files_have_the_same_grammar(tmp_path: Path) -> None:
    assert read(tmp_path, "alpha<2\n", constraint=True) == ["alpha<2"]
    with pytest.raises(ConfigError, match="editable"):
        read(tmp_path, "-e .\n", constraint=True)


def test_requirement_checks_one_string() -> None:
    assert requirement(" Flask >= 3 ") == "Flask>=3"
    with pytest.raises(Refusal, match="URL"):
        requirement("alpha @ https://example.invalid/alpha.whl")
    with pytest.raises(Refusal, match=r"holds '\\n', which a requirement may not hold"):
        requirement("alpha\n-e .")
