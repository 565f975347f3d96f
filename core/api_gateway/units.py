"""Unit constants this family needs (until ``core/units.py`` arrives with the architecture work)."""

NS_PER_US = 1_000
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
