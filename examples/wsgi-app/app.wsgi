# The file WSGIScriptAlias and uWSGI's wsgi-file point at: puts this folder on sys.path.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from app import application  # noqa: E402,F401
