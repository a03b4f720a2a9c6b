"""Discover: base interpreters, found for a request and known by a probe."""
