"""The Metrics port on ``prometheus_client``: one registry per process, passed explicitly.

Instruments are declared by name once and reused: asking again for the same name with
the same kind, labels and buckets returns the same instrument (the pipeline and
``gctx.metrics`` both declare on every start), asking with anything else raises
:class:`MetricsError`. Nothing touches ``prometheus_client.REGISTRY``, the library's
process-wide default.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge as PromGauge
from prometheus_client import Histogram as PromHistogram
from prometheus_client.exposition import choose_encoder, start_http_server

from gati.core.observe import Counter, Gauge, Histogram
from gati.errors import AppError, ConfigError

_DEFAULT_BUCKETS = tuple(float(b) for b in PromHistogram.DEFAULT_BUCKETS)


class MetricsError(AppError):
    """An instrument declared twice in two ways, or used with the wrong labels."""

    code = "metrics_error"


@dataclass(frozen=True, slots=True)
class _Declaration:
    kind: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()

    def describe(self) -> str:
        text = f"{self.kind} with labels ({', '.join(self.labels)})"
        return text + (f" and buckets {list(self.buckets)}" if self.buckets else "")


class _Instrument:
    """One Prometheus metric behind the port's ``**labels`` calls."""

    __slots__ = ("_labels", "_metric", "_name")

    def __init__(self, name: str, labels: tuple[str, ...], metric: Any) -> None:
        self._name = name
        self._labels = labels
        self._metric = metric

    def _child(self, labels: dict[str, str]) -> Any:
        if set(labels) != set(self._labels):
            raise MetricsError(
                f"metric {self._name!r} takes labels ({', '.join(self._labels)}), "
                f"got ({', '.join(sorted(labels))})",
                code="metric_labels",
            )
        if not self._labels:
            return self._metric
        return self._metric.labels(**{k: str(v) for k, v in labels.items()})

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self._child(labels).inc(amount)

    def dec(self, amount: float = 1.0, **labels: str) -> None:
        self._child(labels).dec(amount)

    def set(self, value: float, **labels: str) -> None:
        self._child(labels).set(value)

    def observe(self, value: float, **labels: str) -> None:
        self._child(labels).observe(value)


class PrometheusMetrics:
    """The Metrics port on a ``CollectorRegistry`` (a new one unless given).

    Args:
        registry: where the instruments live; pass one to share it with other
            collectors, or to read it in a test with ``generate_latest``.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._declared: dict[str, tuple[_Declaration, _Instrument]] = {}
        # Sync handlers run in threads and may declare instruments concurrently.
        self._lock = threading.Lock()

    def counter(self, name: str, help: str = "", labels: tuple[str, ...] = ()) -> Counter:
        return self._declare(name, _Declaration("counter", tuple(labels)),
                             lambda: PromCounter(name, help or name, labels,
                                                 registry=self.registry))

    def gauge(self, name: str, help: str = "", labels: tuple[str, ...] = ()) -> Gauge:
        return self._declare(name, _Declaration("gauge", tuple(labels)),
                             lambda: PromGauge(name, help or name, labels,
                                               registry=self.registry))

    def histogram(
        self, name: str, help: str = "", labels: tuple[str, ...] = (),
        buckets: tuple[float, ...] | None = None,
    ) -> Histogram:
        chosen = tuple(float(b) for b in buckets) if buckets is not None else _DEFAULT_BUCKETS
        return self._declare(name, _Declaration("histogram", tuple(labels), chosen),
                             lambda: PromHistogram(name, help or name, labels,
                                                   buckets=chosen, registry=self.registry))

    def _declare(self, name: str, wanted: _Declaration, make: Callable[[], Any]) -> _Instrument:
        with self._lock:
            known = self._declared.get(name)
            if known is not None:
                declared, instrument = known
                if declared != wanted:
                    raise MetricsError(
                        f"metric {name!r} is already declared as a {declared.describe()}; "
                        f"it cannot also be a {wanted.describe()}",
                        code="metric_conflict",
                    )
                return instrument
            try:
                metric = make()
            except ValueError as exc:
                # Bad names, reserved labels, or a clash with another metric's series
                # (a counter "x" owns "x_total", so a gauge "x_total" cannot exist).
                raise MetricsError(f"metric {name!r} cannot be declared: {exc}",
                                   code="metric_conflict") from exc
            instrument = _Instrument(name, wanted.labels, metric)
            self._declared[name] = (wanted, instrument)
            return instrument

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The registry as ``(body, content type)``, negotiated like prometheus_client does.

        ``accept`` is the scraper's Accept header: Prometheus text format unless it asks
        for OpenMetrics.
        """
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type

    def serve(self, port: int, *, addr: str = "0.0.0.0") -> MetricsServer:
        """Serve the registry over HTTP on a daemon thread (``GATI_METRICS_PORT``).

        Raises:
            ConfigError: the port cannot be bound.
        """
        try:
            server, thread = start_http_server(port, addr=addr, registry=self.registry)
        except OSError as exc:
            raise ConfigError(
                f"GATI_METRICS_PORT ({port}) cannot be served on {addr}: {exc.strerror or exc}"
            ) from exc
        return MetricsServer(server, thread)


class MetricsServer:
    """The running HTTP endpoint of :meth:`PrometheusMetrics.serve`."""

    def __init__(self, server: Any, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
