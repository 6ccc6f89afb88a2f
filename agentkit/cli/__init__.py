"""The `agentkit` command line (the top layer): a consumer of the public API.

httpx's own command line (click and pygments), which `import httpx` loads whenever click is
installed, is left to first use by `agentkit`'s own import (`agentkit._api.httpx_cli`), so no
command loads it (`tests/test_startup.py`).
"""

from .main import main

__all__ = ["main"]
