"""Layer 5, the run driver: `Agent`, the async driver that carries out the engine's steps,
and what a run hands back (events, results, hooks).
"""
