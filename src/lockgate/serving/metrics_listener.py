"""An optional second listener that serves only /metrics, without a key, for Prometheus.

``/metrics`` on the main port needs the master key (it names every key).  Where the
scraper should not hold that key, ``server.metrics_port`` opens prometheus-client's own
small HTTP server on ``server.metrics_host`` (loopback by default: expose it only to the
monitoring network).  It runs in a thread and reads the same registry.  One per process:
with ``--workers N`` the first worker binds it and the others log that it is taken, so
scrape the main port with the master key there.
"""

from __future__ import annotations

import logging
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from lockgate.serving.config import HttpLimits

__all__ = ["MetricsListener"]

log = logging.getLogger("lockgate.server")


class MetricsListener:
    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @classmethod
    def for_settings(cls, registry: CollectorRegistry, http: HttpLimits) -> MetricsListener | None:
        if http.metrics_port is None:
            return None
        return cls.start(registry, http.metrics_host, http.metrics_port)

    @classmethod
    def start(cls, registry: CollectorRegistry, host: str, port: int) -> MetricsListener | None:
        try:
            server, thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            log.warning("metrics listener on %s:%d not started: %s", host, port, exc)
            return None
        return cls(server, thread)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
