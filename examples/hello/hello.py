"""Run with `poorenv run -- python hello.py`: shows that the env is its own Python home."""

import site
import sys

print(f"prefix:      {sys.prefix}")
print(f"base prefix: {sys.base_prefix}")
print(f"user site:   {'on' if site.ENABLE_USER_SITE else 'off'}")
print(f"site dirs:   {site.getsitepackages()}")
