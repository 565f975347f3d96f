"""Progress lines stay whole when threads log at once (the websocket step logs from a thread per build)."""

from __future__ import annotations

import re
import threading
import time

from harness.progress import timed_log


def test_lines_logged_from_threads_at_once_stay_whole(capsys) -> None:
    log = timed_log(time.monotonic())
    start = threading.Barrier(4)

    def worker(k: int) -> None:
        start.wait()
        for i in range(300):
            log(f"build{k} line {i} " + "x" * 200)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1200
    assert all(re.fullmatch(r"\[ *\d+\.\ds\] build\d line \d+ x{200}", line) for line in lines)
