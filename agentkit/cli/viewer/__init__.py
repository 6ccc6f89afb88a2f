"""The run viewer behind `agentkit ui`: a read-only web page over a run store file.

`reader` reads the store (read-only, a page at a time), `timeline` turns one run's journal into
what the page shows, `server` is the aiohttp application (JSON, a live feed, the page's files
in `static/`: plain HTML, JavaScript and CSS, no build step, nothing from elsewhere).
`make_app` is imported on first use: `agentkit runs` reads with `RunReader` without loading
aiohttp.
"""

from typing import TYPE_CHECKING

from .reader import RunReader

if TYPE_CHECKING:
    from .server import make_app

__all__ = ["RunReader", "make_app"]


def __getattr__(name: str) -> object:
    if name == "make_app":
        from .server import make_app

        return make_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
