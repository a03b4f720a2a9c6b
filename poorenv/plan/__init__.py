"""Plan: what an env must contain (layout) and the pure diff against the state (planner)."""
