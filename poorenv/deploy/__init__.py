"""Serving an env: Apache + mod_wsgi and uWSGI configuration, and the check of their Python."""
