"""Benchmark areas: each module declares `AREA = "<name>"` and `run(ctx)` (bench.harness)."""
