"""The stack under test: uvicorn workers running harness.app, behind the run's own nginx.

Public API::

    from harness.stack import running, start, StackSpec, Stack, StackError
    with running(build="clocked", workers=2, nginx=True) as s:
        s.url          # nginx's URL (or worker 0's with nginx=False)
        s.worker_urls  # each uvicorn worker
        s.access_log   # nginx's access log (request_time / upstream_response_time)
        s.build_map    # {"oms": "clocked", ...}
        s.notes        # e.g. "--clock test runs a single worker"
"""

from .errors import StackError
from .manager import Stack, StackSpec, running, start, status, stop_recorded, wait_healthy

__all__ = ["Stack", "StackError", "StackSpec", "running", "start", "status", "stop_recorded", "wait_healthy"]
