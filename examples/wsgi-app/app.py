"""A small Flask app that reports the Python home a WSGI server runs it in."""

from __future__ import annotations

import os
import site
import sys
from importlib.metadata import version

from flask import Flask, jsonify

app = Flask("wsgi-app")
# Where the env path led when this process loaded the app: with `poorenv deploy`, the generation.
STARTED_IN = os.path.realpath(sys.prefix)
FLASK = version("flask")


@app.get("/")
def index():  # type: ignore[no-untyped-def]
    user_site = site.getusersitepackages()
    return jsonify(
        prefix=sys.prefix,
        started_in=STARTED_IN,
        pid=os.getpid(),
        base_prefix=sys.base_prefix,
        version=sys.version.split()[0],
        flask=FLASK,
        user_site_enabled=bool(site.ENABLE_USER_SITE),
        user_site_on_path=user_site in sys.path,
        path=sys.path,
    )


application = app  # the name mod_wsgi and uWSGI look for
