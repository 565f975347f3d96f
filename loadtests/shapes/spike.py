"""Spike: a fifth of ``--cb-users`` for 40% of the time, all of them at once for 20%, then back."""

from __future__ import annotations

from locust import LoadTestShape


class Spike(LoadTestShape):
    def tick(self):
        o = self.runner.environment.parsed_options
        t = self.get_run_time()
        if t >= o.cb_duration:
            return None
        base = max(1, o.cb_users // 5)
        if 0.4 * o.cb_duration <= t < 0.6 * o.cb_duration:
            return o.cb_users, max(o.cb_spawn_rate, float(o.cb_users))  # the spike arrives in about a second
        return base, max(o.cb_spawn_rate, float(o.cb_users))
