"""Lock: poorenv.lock, resolving it, and exporting it."""
