"""Load balancing's build-neutral part: the connection tracker's Protocol and nginx's access-log parser (exact, in ns)."""
