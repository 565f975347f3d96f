"""Judging the plan's criteria against measured records, and rendering the report.

``criteria`` reads reports/criteria.toml; ``verdict`` holds the pure verdict logic (PASS / FAIL /
INCONCLUSIVE / INVALID / NOT MEASURED, always from a 95% CI); ``render`` writes report.html and
report.json; ``environment`` describes the machine a run was made on.
"""
