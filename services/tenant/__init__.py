"""The tenant service: tenants, plans, limits, usage counters and shard placement."""
