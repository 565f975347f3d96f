"""Load shapes (Locust ``LoadTestShape``), one per file so a run picks exactly one."""
