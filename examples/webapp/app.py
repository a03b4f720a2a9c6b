"""A small Flask app that reports the Python home it runs in."""

from __future__ import annotations

import site
import sys
from importlib.metadata import version

from flask import Flask, jsonify

app = Flask("app")


@app.get("/")
def index():  # type: ignore[no-untyped-def]
    return jsonify(
        prefix=sys.prefix,
        base_prefix=sys.base_prefix,
        flask=version("flask"),
        user_site=site.ENABLE_USER_SITE,
        path=sys.path,
    )


application = app  # the name WSGI servers look for
