"""The `agentkit` command line (the top layer): a consumer of the public API."""

from .main import main

__all__ = ["main"]
