"""Load balancing, baseline: a polling connection sweeper on time.time(); the same log parser."""
