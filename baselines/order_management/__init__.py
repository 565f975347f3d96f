"""Order management as written before the plan: the same OMS, EMS, PMS and settlement reading
system time directly (``time.time_ns()``) and waiting with ``asyncio.sleep``. The domain, the
venue and the bookkeeping are shared with the clocked build, so only the time source differs."""
