"""Layer 1, the wire and the client: pydantic models of the Messages API, the client's
sans-IO logic and its flows, the two clients and their default transport, the SSE decoder,
the reducer and the message stream.

Imports only `agentkit._errors`. The only layer that does HTTP.
"""
