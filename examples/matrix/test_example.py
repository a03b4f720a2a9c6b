"""The project's own tests, run in the env by `poorenv run -- python -m pytest`."""

import sys


def test_runs_in_the_env() -> None:
    assert sys.prefix == sys.base_prefix
    assert sys.prefix.endswith(".poorenv")
