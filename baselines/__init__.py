"""Baseline builds: the same components reading system time directly, as before the plan."""
