"""Clocked database components: PostgreSQL adapter, Redis manager and the coordinator of the two."""
