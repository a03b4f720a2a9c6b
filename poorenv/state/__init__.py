"""State: reading what is on disk (the env, its site-packages) and the no-op stamp."""
