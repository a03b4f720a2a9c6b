"""greeter: says hello, in colour when colorama (the `color` extra) is installed."""

from __future__ import annotations

import sys

from packaging.version import Version

__version__ = "0.1.0"


def greeting(name: str) -> str:
    return f"hello, {name} (greeter {Version(__version__)})"


def main() -> None:
    text = greeting(sys.argv[1] if len(sys.argv) > 1 else "world")
    try:
        import colorama
    except ImportError:
        print(text)
    else:
        print(colorama.Fore.GREEN + text + colorama.Style.RESET_ALL)
