"""The `agentkit` command line (the top layer): a consumer of the public API.

httpx imports its own command line (click and pygments, ~40 ms of CPU) whenever click is
installed, as it is beside Ray or DBOS. This process is agentkit's command line and never
runs httpx's, so it marks that module absent before httpx is first imported: httpx then
defines its stub `main` instead (`tests/test_startup.py`).
"""

import sys as _sys

# None in sys.modules is the import system's "absent" mark, which typeshed's type omits.
_sys.modules.setdefault("httpx._main", None)  # pyright: ignore[reportArgumentType]

from .main import main  # noqa: E402  (after the mark above, which must come first)

__all__ = ["main"]
