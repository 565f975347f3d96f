"""``clockbench db-skew`` against the real servers, and its refusal of bad input."""

import json

from harness.cli import main


def test_db_skew_json(postgres_url, redis_url, capsys):
    assert main(["db-skew", "--samples", "2", "--json", "--postgres-url", postgres_url, "--redis-url", redis_url]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"clocked", "baseline"}
    assert out["clocked"]["app_clock"] == "live" and out["baseline"]["app_clock"] == "system"
    for report in out.values():
        for server in ("postgres", "redis"):
            assert report[server]["samples"] == 2 and report[server]["uncertainty_ns"] >= 0
            assert abs(report[server]["offset_ns"]) < 5_000_000_000


def test_db_skew_text_one_build(postgres_url, redis_url, capsys):
    assert main(["db-skew", "--samples", "1", "--build", "baseline", "--postgres-url", postgres_url, "--redis-url", redis_url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("baseline build (application clock: system)") and "postgres - redis" in out


def test_db_skew_bad_input(capsys):
    assert main(["db-skew", "--samples", "0"]) == 2
    assert "--samples must be at least 1" in capsys.readouterr().err
    assert main(["db-skew", "--postgres-url", "mysql://x"]) == 2
    assert "postgres" in capsys.readouterr().err
