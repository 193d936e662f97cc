"""Config keys that never change a run's results (shared by resume checks and reports)."""

NON_RESULT_KEYS: frozenset[str] = frozenset({"progress", "resume"})
