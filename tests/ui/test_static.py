"""The page's own files: they build the DOM from text only and load nothing from elsewhere
(the browser tests show the effect; this keeps the rule in the source)."""

from __future__ import annotations

from importlib import resources

STATIC = resources.files("agentkit.cli.viewer") / "static"


def test_the_page_builds_its_dom_from_text_only() -> None:
    script = (STATIC / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "srcdoc"):
        assert sink not in script, sink
    html = (STATIC / "index.html").read_text()
    assert "<script>" not in html and "style=" not in html and "http" not in html
