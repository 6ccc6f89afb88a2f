"""The run viewer behind `agentkit ui`: a read-only web page over a run store file.

`reader` reads the store (read-only, a page at a time), `timeline` turns one run's journal into
what the page shows, `server` is the aiohttp application (JSON, a live feed, the page's files
in `static/`: plain HTML, JavaScript and CSS, no build step, nothing from elsewhere).
"""

from .reader import RunReader
from .server import make_app

__all__ = ["RunReader", "make_app"]
