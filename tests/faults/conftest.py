"""The fault suite's folder on `sys.path`, so its modules share `fault_helpers`.

pytest runs in importlib mode (basenames repeat across test folders), which puts no test
folder on `sys.path`; the helpers are plain functions, not fixtures, so they are imported.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
