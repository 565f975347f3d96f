"""clockbench: the harness that runs the benchmarks, load tests and report."""
