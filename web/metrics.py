"""Prometheus metrics of the web: requests by route, method and status, and `GET /metrics`.

The route is the URL rule (`/api/v1/applications/<int:application_id>`), never the raw path, so the series stay few.
A scrape adds what the database and the broker say at that moment: the outbox backlog, dead letters, queue depths,
worker heartbeats and the business gauges per district (workflow/store/gauges.py). Under gunicorn the worker
processes' metrics are summed from PROMETHEUS_MULTIPROC_DIR (web/gunicorn_conf.py); otherwise this process's own.
Access: a bearer token when SPECGOODS_METRICS_TOKEN is set, otherwise loopback clients only (docs/monitoring.md).
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, Response, request, request_finished, request_started
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Connection, text

from config import broker
from config.bootstrap import Container
from config.celery_config import QUEUES
from config.metrics_dir import ENVIRONMENT
from config.readiness import utc_now
from web.context import container
from web.ui.review import SOON_DAYS
from workflow.domain.errors import DomainError
from workflow.domain.policy import Districts
from workflow.store import gauges
from workflow.store.heartbeats import heartbeats

log = logging.getLogger(__name__)
blueprint = Blueprint("metrics", __name__)
LOOPBACK = frozenset({"127.0.0.1", "::1"})
FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STARTED = "specgoods.metrics.started"  # the request's start, kept in its WSGI environ
SCRAPE_STATEMENT_TIMEOUT_MS = 2000  # a gauge query that takes longer is cut off: the scrape reports the part down

REQUESTS = Counter(
    "specgoods_http_requests", "HTTP requests answered, by route, method and status.", ["route", "method", "status"]
)
LATENCY = Histogram(
    "specgoods_http_request_duration_seconds", "Time to answer, by route and method.", ["route", "method"]
)
IN_PROGRESS = Gauge("specgoods_http_requests_in_progress", "Requests being answered.", multiprocess_mode="livesum")


def register(app: Flask) -> None:
    """Time every request of `app` and serve /metrics."""
    request_started.connect(_started, app)
    request_finished.connect(_finished, app)
    app.teardown_request(_torn_down)
    app.register_blueprint(blueprint)


def _started(_sender: Flask, **_extra: Any) -> None:
    request.environ[STARTED] = time.perf_counter()
    IN_PROGRESS.inc()


def _finished(_sender: Flask, response: Response, **_extra: Any) -> None:
    started = request.environ.get(STARTED)
    if started is None:
        return
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    method = request.method if request.method in METHODS else "other"  # a client may send any word as a method
    REQUESTS.labels(route, method, str(response.status_code)).inc()
    LATENCY.labels(route, method).observe(time.perf_counter() - started)


def _torn_down(_error: BaseException | None) -> None:
    if request.environ.pop(STARTED, None) is not None:
        IN_PROGRESS.dec()


@blueprint.get("/metrics")
def metrics() -> Response:
    refused = _refusal(container().settings.metrics_token)
    if refused is not None:
        return refused
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(ScrapeCollector(container()))
    return Response(generate_latest(_process_registry()) + generate_latest(scrape), content_type=CONTENT_TYPE_LATEST)


def _refusal(token: str) -> Response | None:
    """401 without the configured bearer token; with no token configured, 403 to anyone but a loopback client.

    A request a proxy forwarded is never taken for a loopback client: a proxy on the same host would otherwise make
    every internet client look like 127.0.0.1.
    """
    if token:
        auth = request.authorization
        given = auth.token if auth is not None and auth.type == "bearer" else None
        if given is None or not hmac.compare_digest(given.encode(), token.encode()):
            return Response(status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        return None
    proxied = any(header in request.headers for header in FORWARDING_HEADERS)
    return None if request.remote_addr in LOOPBACK and not proxied else Response(status=403)


def _process_registry() -> CollectorRegistry:
    """Every gunicorn worker's counts in multiprocess mode; this process's own registry otherwise."""
    if not os.environ.get(ENVIRONMENT):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


class ScrapeCollector(Collector):
    """What the database and the broker hold now; a part that does not answer is reported down, not raised."""

    def __init__(self, built: Container) -> None:
        self.built = built

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("specgoods_scrape_part_up", "1 if the part answered this scrape.", labels=["part"])
        for part, read in (("database", self._database), ("broker", self._broker)):
            try:
                families = list(read())
            except Exception as error:  # noqa: BLE001 - a scrape reports a part down instead of failing
                log.warning("metrics: %s did not answer: %s: %s", part, type(error).__name__, error)
                families = []
            yield from families
            up.add_metric([part], 1.0 if families else 0.0)
        yield up

    def _database(self) -> Iterator[Metric]:
        with self.built.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text(f"SET LOCAL statement_timeout = {SCRAPE_STATEMENT_TIMEOUT_MS}"))
            yield from _outbox(connection, self.built)
            yield from _districts(connection, self.built)
            yield from _workers(connection)

    def _broker(self) -> Iterator[Metric]:
        settings = self.built.settings
        depth = GaugeMetricFamily("specgoods_queue_depth", "Messages waiting in each queue.", labels=["queue"])
        if not settings.is_embedded:  # the embedded in-memory transport lives in the serve process: nothing to ask
            for queue, length in broker.queue_depths(settings.redis_url, QUEUES).items():
                depth.add_metric([queue], length)
        yield depth


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _outbox(connection: Connection, built: Container) -> Iterator[Metric]:
    backlog = gauges.outbox_backlog(connection, built.deps.clock.now())
    yield _gauge("specgoods_outbox_unpublished", "Outbox rows the broker has not taken.", backlog.unpublished)
    yield _gauge(
        "specgoods_outbox_oldest_unpublished_age_seconds",
        "Age of the oldest outbox row not yet published (0: none).",
        backlog.oldest_unpublished_seconds,
    )
    yield _gauge("specgoods_outbox_incomplete", "Outbox rows sent but not completed by their task.", backlog.incomplete)
    yield _gauge(
        "specgoods_outbox_oldest_incomplete_age_seconds",
        "Age of the oldest outbox row sent and not completed (0: none).",
        backlog.oldest_incomplete_seconds,
    )
    dead = gauges.open_dead_letters(connection)
    yield _gauge("specgoods_dead_letters", "Tasks failed for good and not retried.", dead)


def _districts(connection: Connection, built: Container) -> Iterator[Metric]:
    """The business gauges per district."""
    labels = ["district", "state"]
    applications = GaugeMetricFamily("specgoods_applications", "Applications by district and state.", labels=labels)
    for (district, state), n in sorted(gauges.applications_by_state(connection, _district_codes(built)).items()):
        applications.add_metric([district, state], n)
    held = GaugeMetricFamily("specgoods_declarations_held", "Declarations held at the port or the lab.", labels=labels)
    for (district, state), n in sorted(gauges.held_declarations(connection).items()):
        held.add_metric([district, state], n)
    yield applications
    yield held
    yield from _clocks(connection, built)
    yield from _writeoffs(connection, built)


def _clocks(connection: Connection, built: Container) -> Iterator[Metric]:
    windows = {district: _soon_window(built, district) for district in _district_codes(built)}
    found = gauges.clock_deadlines(connection, windows)
    within = f"Running statutory clocks due within {SOON_DAYS} working days."
    soon = GaugeMetricFamily("specgoods_clocks_due_soon", within, labels=["district"])
    overdue = GaugeMetricFamily("specgoods_clocks_overdue", "Running statutory clocks past due.", labels=["district"])
    for district in sorted(windows):
        due_soon, late = found.get(district, (0, 0))
        soon.add_metric([district], due_soon)
        overdue.add_metric([district], late)
    yield soon
    yield overdue


def _soon_window(built: Container, district: str) -> tuple[Any, Any]:
    today = built.deps.clock.today(district)
    try:
        return today, built.deps.calendar.add_working_days(today, SOON_DAYS)
    except DomainError:  # beyond the holiday table: count only what is overdue
        return today, today


def _district_codes(built: Container) -> list[str]:
    policies = built.deps.policies
    return sorted(policies.by_code) if isinstance(policies, Districts) else [built.settings.district]


def _writeoffs(connection: Connection, built: Container) -> Iterator[Metric]:
    since = built.deps.clock.now() - timedelta(minutes=1)
    found = gauges.recent_writeoffs(connection, since)
    family = GaugeMetricFamily(
        "specgoods_writeoffs_last_minute", "Write-offs committed in the last minute.", labels=["district"]
    )
    for district in sorted(set(_district_codes(built)) | set(found)):
        family.add_metric([district], found.get(district, 0))
    yield family


def _workers(connection: Connection) -> Iterator[Metric]:
    now = utc_now()
    ages = GaugeMetricFamily(
        "specgoods_worker_heartbeat_age_seconds", "Seconds since each worker's last heartbeat.", labels=["worker"]
    )
    for row in heartbeats(connection):
        ages.add_metric([row.hostname], max(0.0, (now - row.beat_at).total_seconds()))
    yield ages
