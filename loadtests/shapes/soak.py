"""Soak: ramp to ``--cb-users`` at ``--cb-spawn-rate`` and hold them for ``--cb-duration`` seconds."""

from __future__ import annotations

from locust import LoadTestShape


class Soak(LoadTestShape):
    def tick(self):
        o = self.runner.environment.parsed_options
        ramp = o.cb_users / max(o.cb_spawn_rate, 1e-9)
        if self.get_run_time() >= ramp + o.cb_duration:
            return None
        return o.cb_users, o.cb_spawn_rate
