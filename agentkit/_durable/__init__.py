"""Layer 4, durability: the run store. A durable run is an append-only journal of the
engine's inputs (the prompt, model replies, tool starts and results, approval decisions,
status changes), keyed by `run_id`, plus a small header (summary columns and a lease).
Resuming replays the journal through the deterministic engine, so a checkpoint costs the same
on turn 1 and on turn 100.

`RunStore` is the protocol a backend implements (`journal.py`); `SQLiteStore` (`sqlite.py`)
is the embedded one. Imports `agentkit._errors` only (where its exceptions live): payloads
are plain JSON, so the store does not depend on the engine's shape.
"""
