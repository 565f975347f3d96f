"""Order management's build-neutral part: domain, venue, algos, the OMS core, order state, positions, business days, stage timing, the stack's wiring and the Protocols."""
