"""Layer 1, the wire and the client: pydantic models of the Messages API, the client's
sans-IO request logic, the transport, the SSE reducer and the message stream.

Imports only `agentkit._errors`. The only layer that does HTTP.
"""
