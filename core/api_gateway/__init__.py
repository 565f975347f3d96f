"""API gateway family, build-neutral part: rates, the GCRA arithmetic, budgets, headers, policies.

Both builds (``targets/api_gateway`` and ``baselines/api_gateway``) stand on this; nothing here
reads a clock: every function is handed the time it needs as an ``int`` of nanoseconds.
"""
