"""Load tests: running Locust headless, honest latency (HdrHistogram, corrected for coordinated
omission in the open-rate mode), validity rules, interleaved A/B and the capacity search."""
