"""Database family's build-neutral part: records, schema, codec, errors, clock-skew estimation, the stores' shared bases and the Protocols."""
