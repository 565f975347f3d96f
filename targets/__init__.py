"""Clocked reference implementations of every component the plan names."""
