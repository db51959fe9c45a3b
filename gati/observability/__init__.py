"""Prometheus metrics and OpenTelemetry tracing behind the ports of ``gati.core.observe``.

The core only knows the ports; processes build these implementations explicitly and
pass them in (``WorkerRuntime(tracer=..., metrics=...)``, ``Gateway(metrics=...)``).
"""

from gati.observability.metrics import MetricsError, MetricsServer, PrometheusMetrics
from gati.observability.tracing import OtelTracer, configure_tracing, otlp_traces_url

__all__ = [
    "MetricsError",
    "MetricsServer",
    "OtelTracer",
    "PrometheusMetrics",
    "configure_tracing",
    "otlp_traces_url",
]
