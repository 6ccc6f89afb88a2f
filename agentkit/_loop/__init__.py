"""Layer 2, the loop's rules and the sans-IO engine: model capabilities (data), conversation
rules, thinking and request shaping, limits, usage and cost, and the engine that decides
every step of a run.

Pure: no I/O, no event loop. Imports `agentkit._errors` and `agentkit._api` (wire types).
"""
