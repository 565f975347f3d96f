"""Rate limiters on the clock: GCRA in exact integer ticks, in process or shared through Redis.

The plan's ``backend/api_gateway/rate_limiter_clock.py``. One theoretical arrival time (TAT) per
key; the arithmetic is ``core.api_gateway.rates`` (ticks of 1/limit ns, so nothing rounds).

``RedisRateLimiter`` runs the same step inside Redis as one Lua script (EVALSHA, loaded once), so
every worker of the service enforces *one* limit per key, atomically. The script never reads Redis's
own clock: ``now`` is the service Clock's, passed as an argument, so a ``TestClock`` drives the
shared limiter exactly as it drives the in-process one. Lua numbers are doubles, exact only below
2**53, and an absolute time in ticks is far larger; so ``now`` travels as (whole seconds, ticks
within the second), the TAT is stored the same way, and the script only ever computes the small
``TAT - now`` (``Rate`` refuses rates that would push it past 2**53).

Key expiry (PEXPIRE) is garbage collection only: a key expires, in Redis's real time, ``slack``
after its bucket would be full again anyway. Under a ``TestClock`` that runs *slower* than real
time by more than the slack, a key could vanish early (the client would get its burst back early);
raise ``expiry_slack_ns`` for such tests.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.api_gateway.errors import LimiterUnavailable
from core.api_gateway.rates import Decision, Rate, check_cost, decide, decision
from core.api_gateway.units import NS_PER_MS, NS_PER_S
from targets.clock import Clock

# KEYS[1]: the key's hash {s: whole seconds of the TAT, t: ticks within that second}.
# ARGV: now_s, now_t, ticks per second, increment (period_ns * cost), tolerance, ticks per ms, slack ms.
# Returns {allowed 0|1, TAT - now after the step (ticks, as a decimal string: no float formatting)}.
GCRA_LUA = """
local now_s = tonumber(ARGV[1])
local now_t = tonumber(ARGV[2])
local S = tonumber(ARGV[3])
local inc = tonumber(ARGV[4])
local dvt = tonumber(ARGV[5])
local v = redis.call('HMGET', KEYS[1], 's', 't')
local diff = 0
if v[1] then
  diff = (tonumber(v[1]) - now_s) * S + (tonumber(v[2]) - now_t)
  if diff < 0 then diff = 0 end
end
local new = diff + inc
if new > dvt then
  return {0, string.format('%.0f', diff)}
end
local a = now_t + new
local q = math.floor(a / S)
local r = a - q * S
if r < 0 then q = q - 1; r = r + S elseif r >= S then q = q + 1; r = r - S end
redis.call('HSET', KEYS[1], 's', string.format('%.0f', now_s + q), 't', string.format('%.0f', r))
redis.call('PEXPIRE', KEYS[1], math.floor(new / tonumber(ARGV[6])) + 1 + tonumber(ARGV[7]))
return {1, string.format('%.0f', new)}
"""


class LocalRateLimiter:
    """GCRA for one process: a dict of TATs (absolute, in ticks; Python ints are exact)."""

    def __init__(self, rate: Rate, *, clock: Clock, max_keys: int = 100_000) -> None:
        self.rate = rate
        self._clock = clock
        self._tat: dict[str, int] = {}
        self._max_keys = max_keys

    def check_now(self, key: str, cost: int = 1) -> Decision:
        """The decision, synchronously (no I/O): what ``check`` awaits."""
        rate = self.rate
        if cost != 1:
            check_cost(rate, cost)
        now = self._clock.timestamp_ns()
        now_t = now * rate.limit
        tat = self._tat.get(key, 0)
        allowed, after = decide(tat - now_t if tat > now_t else 0, rate, cost)
        if allowed:
            if len(self._tat) >= self._max_keys and key not in self._tat:
                self._prune(now_t)
            self._tat[key] = now_t + after
        return decision(rate, allowed, after, now, cost)

    async def check(self, key: str, cost: int = 1) -> Decision:
        return self.check_now(key, cost)

    def _prune(self, now_t: int) -> None:
        """Forget keys whose bucket is full again (TAT in the past): they behave as unseen keys."""
        for k in [k for k, tat in self._tat.items() if tat <= now_t]:
            del self._tat[k]


class RedisRateLimiter:
    """GCRA shared by every worker through Redis: one Lua script per decision, ``now`` from the Clock."""

    def __init__(
        self,
        rate: Rate,
        redis: Redis,
        *,
        clock: Clock,
        prefix: str = "clockbench:gateway:",
        expiry_slack_ns: int = 60 * NS_PER_S,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._redis = redis
        self.prefix = prefix
        self._script = redis.register_script(GCRA_LUA)  # EVALSHA, loading the script on NOSCRIPT
        self._ticks_per_s = NS_PER_S * rate.limit
        self._ticks_per_ms = NS_PER_MS * rate.limit
        self._slack_ms = -(-expiry_slack_ns // NS_PER_MS)

    async def check(self, key: str, cost: int = 1) -> Decision:
        rate = self.rate
        if cost != 1:
            check_cost(rate, cost)
        now = self._clock.timestamp_ns()
        now_s, now_ns = divmod(now, NS_PER_S)
        try:
            allowed, diff = await self._script(
                keys=[self.prefix + key],
                args=[now_s, now_ns * rate.limit, self._ticks_per_s, rate.period_ns * cost, rate.dvt_ticks,
                      self._ticks_per_ms, self._slack_ms],
            )  # fmt: skip
        except RedisError as exc:
            raise LimiterUnavailable(f"the shared rate limiter (Redis) failed: {type(exc).__name__}: {exc}") from exc
        return decision(rate, int(allowed) == 1, int(diff), now, cost)
