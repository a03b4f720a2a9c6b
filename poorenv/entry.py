"""The `poorenv` command. A plain no-op `sync` or `check` is answered here, from the stat stamp,
before argparse, the TOML parser or anything else is imported: that path is what users wait on
at every shell start and CI step. Everything else goes to `poorenv.cli`.
"""

from __future__ import annotations

import os
import sys

from poorenv.state.fastpath import ANSWERS

_QUIET = ("-q", "--quiet")


def main() -> int:
    argv = sys.argv[1:]
    words = [a for a in argv if a not in _QUIET]
    simple = len(words) == 1 and words[0] in ANSWERS and len(argv) - len(words) <= 1
    # POORENV_LOCK_TIMEOUT is validated by the full command line, even when in sync.
    stamp_checked = False
    if simple and "POORENV_LOCK_TIMEOUT" not in os.environ:
        from poorenv.state.fastpath import quick_check

        try:
            env = quick_check(os.getcwd(), for_sync=words[0] == "sync")
        except Exception:  # any doubt: the full command line looks again, and reports a bug
            env = None
        if env is not None:
            if len(words) == len(argv):
                print(f"{env}: {ANSWERS[words[0]]}")
            return 0
        stamp_checked = True  # not in sync: the full command line need not look again
    from poorenv.cli.main import main as full

    return full(argv, stamp_checked=stamp_checked)
