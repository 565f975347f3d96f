"""The pgbench / redis-benchmark command lines used for the benchmarks' C-client ceiling."""

from pathlib import Path

import pytest

from harness import dbceiling


def test_pgbench_command():
    assert dbceiling.pgbench_command("postgresql://u@h:5432/d", Path("/x.sql"), 10) == [
        "pgbench", "-n", "-c", "1", "-t", "10", "-f", "/x.sql", "postgresql://u@h:5432/d",
    ]
    with pytest.raises(ValueError, match="transactions"):
        dbceiling.pgbench_command("postgresql://h/d", Path("/x.sql"), 0)


def test_redis_benchmark_command():
    cmd = dbceiling.redis_benchmark_command("redis://127.0.0.1:6380/3", 100, 50, "GET", "k__rand_int__")
    assert cmd == ["redis-benchmark", "-h", "127.0.0.1", "-p", "6380", "--dbnum", "3", "-c", "1", "-n", "100",
                   "-r", "50", "-q", "GET", "k__rand_int__"]
    assert dbceiling.redis_benchmark_command("redis://h", 1, 1, "PING")[2:7] == ["h", "-p", "6379", "--dbnum", "0"]
    with pytest.raises(ValueError, match="redis://"):
        dbceiling.redis_benchmark_command("http://h", 1, 1, "PING")


def test_run_reports_a_failing_tool():
    with pytest.raises(RuntimeError, match="failed"):
        dbceiling.run(["python3", "-c", "import sys; sys.exit(3)"])
