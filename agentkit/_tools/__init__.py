"""Layer 3, tools: `@tool` and `Tool`, input schemas from signatures and docstrings, toolsets,
the `RunContext` handed to tools, and structured output as a tool.

Imports the layers below; knows nothing of the agent that runs it.
"""
