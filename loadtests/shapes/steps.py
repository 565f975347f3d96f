"""Steps: ``--cb-steps`` equal steps up to ``--cb-users``, over ``--cb-duration`` seconds."""

from __future__ import annotations

import math

from locust import LoadTestShape


class Steps(LoadTestShape):
    def tick(self):
        o = self.runner.environment.parsed_options
        t = self.get_run_time()
        if t >= o.cb_duration:
            return None
        steps = max(1, o.cb_steps)
        i = min(steps, int(t // (o.cb_duration / steps)) + 1)
        return math.ceil(o.cb_users * i / steps), o.cb_spawn_rate
