"""Order management (the plan's Phase 1, day 1): OMS, EMS, PMS, settlement and order timing,
all taking their time from one injected ``Clock``. The domain and the simulated venue are
time-free and shared with the baseline build (``baselines.order_management``)."""
