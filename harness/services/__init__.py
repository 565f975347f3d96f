"""Finding the services a run needs: PostgreSQL, Redis, and the tools (nginx, Prometheus, ...).

Order of preference for a server: an explicit URL (flag or environment variable), a server
answering on its default local port, an embedded server started for the run. Where none can be
had, the finding says why, and the parts that need it are reported as not measured.
"""

from .discovery import Found, find_postgres, find_redis

__all__ = ["Found", "find_postgres", "find_redis"]
