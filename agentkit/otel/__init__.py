"""OpenTelemetry traces and metrics of agent runs (the `agentkit[otel]` extra).

`instrument()` installs an observer that every run reports to (see `agentkit._run.observe`):
spans and metrics as the GenAI semantic conventions name them (`SEMCONV` says which version),
on the tracer and meter providers given, else the global ones. agentkit depends on the
OpenTelemetry API only: with no SDK configured every span is a no-op, and which SDK and
exporter to use is the application's choice. `uninstrument()` takes the observer away.
"""

from __future__ import annotations

try:
    from opentelemetry import metrics, trace
except ModuleNotFoundError as exc:  # pragma: no cover - exercised in a subprocess
    if exc.name is None or exc.name.split(".")[0] != "opentelemetry":
        raise
    raise ImportError(
        "agentkit.instrument() needs the OpenTelemetry API, which is not installed: "
        "pip install 'agentkit[otel]' (then configure an SDK and an exporter, e.g. "
        "opentelemetry-sdk with opentelemetry-exporter-otlp, as your application chooses)"
    ) from exc

from .. import __version__
from .._run import observe
from ._spans import SEMCONV, Telemetry

__all__ = ["SEMCONV", "instrument", "uninstrument"]

_SCOPE = "agentkit"


def instrument(
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    capture_content: bool = False,
) -> None:
    """Trace and measure every agent run from now on (calling it again replaces the settings).

    `tracer_provider`, `meter_provider`: where spans and metrics go (None: the global
    providers). `capture_content`: put messages, system instructions, tool definitions, tool
    arguments and results on the spans; also turned on by
    `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY` (or `SPAN_AND_EVENT`,
    `true`). API keys and request headers are never recorded.
    """
    tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider=tracer_provider)
    meter = metrics.get_meter(_SCOPE, __version__, meter_provider=meter_provider)
    observe.OBSERVER = Telemetry(tracer, meter, capture=capture_content)


def uninstrument() -> None:
    """Stop tracing runs (runs already started keep their spans)."""
    observe.OBSERVER = None
