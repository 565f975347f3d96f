"""loadtests/wrk_paired.py: its inputs and the CPU reading it pairs (the wrk runs themselves are
covered by test_load_wrk.py)."""

from __future__ import annotations

import argparse
import json
import os

import pytest

from loadtests import wrk_paired


def test_named_url_and_stack_dir(tmp_path):
    assert wrk_paired._named_url("a=http://127.0.0.1:1") == ("a", "http://127.0.0.1:1")
    with pytest.raises(argparse.ArgumentTypeError):
        wrk_paired._named_url("http://127.0.0.1:1")
    cur = tmp_path / "reports" / "stack" / "current.json"
    cur.parent.mkdir(parents=True)
    cur.write_text(json.dumps({"nginx_url": "http://127.0.0.1:9", "url": "x", "processes": [
        {"role": "worker-0", "pid": 11}, {"role": "nginx", "pid": 12}, {"role": "worker-1", "pid": 13}]}))
    assert wrk_paired._stack(f"b={tmp_path}") == ("b", "http://127.0.0.1:9", [11, 13])


def test_cpu_ticks_grow_with_work():
    before = wrk_paired.cpu_ticks([os.getpid()])
    x = 0
    for i in range(3_000_000):
        x += i * i
    assert wrk_paired.cpu_ticks([os.getpid()]) > before


def test_needs_two_targets(capsys):
    with pytest.raises(SystemExit):
        wrk_paired.main(["--url", "a=http://127.0.0.1:1", "--out", "/tmp/x"])
    assert "at least two" in capsys.readouterr().err


@pytest.mark.parametrize("together", [True, False])
def test_together_runs_every_stack_of_a_round_at_once(monkeypatch, tmp_path, together):
    """--together: each round's wrk runs overlap (a barrier both must reach); without it they never do."""
    import threading

    barrier = threading.Barrier(2, timeout=2)
    met: list[bool] = []

    def fake_run(url, route, out, **kw):  # type: ignore[no-untyped-def]
        try:
            barrier.wait()
            met.append(True)
        except threading.BrokenBarrierError:
            met.append(False)
            barrier.reset()
        return {"requests": 100, "errors": {"status": 0}, "duration_ns": 1_000_000_000}

    monkeypatch.setattr(wrk_paired.wrk, "run", fake_run)
    argv = ["--url", "a=http://127.0.0.1:1", "--url", "b=http://127.0.0.1:2", "--rounds", "2", "--out", str(tmp_path)]
    assert wrk_paired.main(argv + (["--together"] if together else [])) == 0
    assert met == [together] * 4
    assert json.loads((tmp_path / "summary.json").read_text())["together"] is together
