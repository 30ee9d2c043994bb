"""Server time of the main pages with the demo data scaled to 100,000 applications, on PostgreSQL.

Run from the repository root: `.venv/bin/python bench/pages.py [--applications 100000] [--requests 30]`;
`--only queue` times only the pages whose path holds "queue" (the option repeats), and `--profile 200` runs each
selected page 200 times under cProfile and prints the functions with the most own and cumulative time instead.
It makes a scratch database, loads the demo (districts, users, sample files) through the bus, then COPYs the bulk:
applications over 1,000 enterprises in every state, their goods lines, certificates for the granted ones with
write-offs on a third of them, and the grant events of the audit trail; it vacuums the copied tables. Each page is
then requested in-process through the WSGI app (no network, no browser) by a signed-in user of the right role; the
time from request to response body is the server time. It prints p50/p95 per page, and the p50 of the process's own
CPU per request (PostgreSQL's share and the host's other work are not in it), and drops the database.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch import plain_dsn, scratch_database
from config.bootstrap import bootstrap
from config.decision_counts import recount_decisions
from config.demo import DEMO_PASSWORD, cytokine, load_demo
from config.heap import freeze_start_up_heap
from config.local_time import local_today
from config.settings import load_settings
from web import create_app
from workflow.domain.clock import StatutoryClock
from workflow.domain.policy import DEFAULT_TIME_ZONE
from workflow.domain.uscc import check_digit
from workflow.store.codec import line_to_json
from workflow.store.district_counts import RECOUNT
from workflow.store.tables import QUANTITY_SCALE

DISTRICTS = ("xiamen", "fuzhou", "quanzhou", "pingtan")
STATES = (("granted", 30), ("denied", 4), ("withdrawn", 4), ("not_accepted", 2), ("draft", 10), ("submitted", 10),
          ("correction_requested", 5), ("accepted", 10), ("under_review", 20), ("risk_assessment", 5))  # fmt: skip
ENTERPRISES = 1000
FIRST_ID = 1_000_000  # bulk ids start far above the demo's, so both live side by side
TODAY = local_today(DEFAULT_TIME_ZONE)  # the districts' date, not the host's UTC one
LINE_FACTS = json.dumps(line_to_json(cytokine()), ensure_ascii=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--only", action="append", default=[], help="time only paths holding this (repeatable)")
    parser.add_argument("--profile", type=int, default=0, help="profile this many requests of each page instead")
    args = parser.parse_args()
    results = run(args.applications, args.requests, args.only, args.profile)
    if not args.profile:
        print_table(results, args.applications)


Result = tuple[str, str, float, float, float, int]  # role, path, p50 ms, p95 ms, the app's CPU p50 ms, last status


def run(applications: int, requests: int, only: list[str] | None = None, profile: int = 0) -> list[Result]:
    with scratch_database("pages") as url, tempfile.TemporaryDirectory() as instance:
        container = bootstrap(load_settings(database_url=url, instance_path=Path(instance)))
        for _line in load_demo(container):
            pass
        started = time.perf_counter()
        seeded = seed(plain_dsn(url), applications)
        recount_decisions(container)  # COPY bypassed the repositories that count decisions by day
        print(f"seeded {seeded} in {time.perf_counter() - started:.1f} s", flush=True)
        try:
            app = create_app(container, {"TESTING": True})
            freeze_start_up_heap()  # as each gunicorn worker does once the app is loaded (web/gunicorn_conf.py)
            return measure(app, plain_dsn(url), applications, requests, only or [], profile)
        finally:
            container.dispose()


# -- seeding --------------------------------------------------------------------------------------------------------


def seed(dsn: str, count: int) -> str:
    rng = random.Random(7)
    with psycopg.connect(dsn) as connection:
        enterprises = _enterprises(connection)
        plan = [_application(rng, FIRST_ID + n, enterprises) for n in range(count)]
        _copy(connection, "applications", APPLICATION_COLUMNS, (row for row, _ in plan))
        _copy(connection, "application_lines", LINE_COLUMNS, (_line(row) for row, _ in plan))
        granted = [row for row, state in plan if state == "granted"]
        _copy(connection, "certificates", CERTIFICATE_COLUMNS, (_certificate(row) for row in granted))
        _copy(connection, "certificate_lines", CERT_LINE_COLUMNS, (_cert_line(row) for row in granted))
        entries = list(_ledger(granted[::3]))
        _copy(connection, "ledger_entries", LEDGER_COLUMNS, entries)
        _copy(connection, "audit_events", AUDIT_COLUMNS, (_grant_event(n, row) for n, row in enumerate(granted)))
        _settle(connection)
        _recount_dashboard(connection)
        connection.commit()
        _vacuum(connection)
    return f"{count} applications, {len(granted)} certificates, {len(entries)} ledger entries"


def _enterprises(connection: psycopg.Connection[Any]) -> list[tuple[int, str]]:
    """The demo's four (so its applicants see bulk files too) and 1,000 more, spread over the districts."""
    now = datetime.now(UTC)
    rows = []
    for n in range(ENTERPRISES):
        body = f"913500{n:04d}BENCH{n % 10}0"
        rows.append(
            (FIRST_ID + n, f"基准企业{n}", f"Bench {n}", body + check_digit(body), DISTRICTS[n % 4], False, now)
        )
    columns = ("id", "name", "name_en", "uscc", "district", "is_natural_person", "created_at")
    _copy(connection, "enterprises", columns,
          rows)  # fmt: skip
    demo = connection.execute("SELECT id, district FROM enterprises WHERE id < %s", (FIRST_ID,)).fetchall()
    return [(row[0], row[4]) for row in rows] + [(i, d) for i, d in demo]


APPLICATION_COLUMNS = ("id", "reference", "enterprise_id", "district", "direction", "state", "version", "grade",
                       "is_first_time", "paperless", "received_on", "accepted_on", "correction_notices", "clock",
                       "decision_reason", "policy_id", "policy_hash", "created_at", "updated_at")  # fmt: skip


def _application(rng: random.Random, app_id: int, enterprises: list[tuple[int, str]]) -> tuple[tuple[Any, ...], str]:
    state = rng.choices([s for s, _ in STATES], [w for _, w in STATES])[0]
    enterprise_id, district = enterprises[app_id % len(enterprises)]
    received = TODAY - timedelta(days=rng.randint(0, 600)) if state != "draft" else None
    accepted = received + timedelta(days=rng.randint(0, 4)) if received and state not in (
        "submitted", "correction_requested", "not_accepted") else None  # fmt: skip
    clock = json.dumps(StatutoryClock(accepted_on=accepted).to_dict()) if accepted else None
    grade = rng.choice("ABC") if received else None
    created = datetime.combine(received or TODAY, datetime.min.time(), UTC)
    row = (app_id, f"BX{app_id}", enterprise_id, district, rng.choice(("entry", "exit")), state, 1, grade,
           rng.random() < 0.3, grade in ("B", "C") and rng.random() < 0.7 if grade else None, received, accepted, 0,
           clock, "", "gacc-2026", "0" * 64, created, created)  # fmt: skip
    return row, state


def _line(app: tuple[Any, ...]) -> tuple[Any, ...]:
    return (app[0], app[0], 1, "重组人白细胞介素-6", "biological_product", 100 * QUANTITY_SCALE, "支", LINE_FACTS)


CERTIFICATE_COLUMNS = ("id", "certificate_no", "application_id", "enterprise_id", "district", "direction", "grade",
                       "write_off_mode", "paperless", "follow_up", "state", "version", "hold", "valid_from",
                       "valid_until", "open_uses", "policy_id", "policy_hash", "issued_at")  # fmt: skip
LINE_COLUMNS = ("id", "application_id", "line_no", "name_zh", "category", "quantity", "unit", "facts")
CERT_LINE_COLUMNS = ("id", "certificate_id", "line_no", "name_zh", "unit", "approved_qty", "committed_qty",
                     "reserved_qty")  # fmt: skip
LEDGER_COLUMNS = ("certificate_id", "certificate_line_id", "kind", "qty", "unit", "reason", "actor_role", "at",
                  "policy_id")  # fmt: skip
AUDIT_COLUMNS = ("object_type", "object_id", "object_ref", "district", "actor_role", "actor_name", "at", "trigger",
                 "from_state", "to_state", "reason", "policy_id", "policy_hash", "rule_ids", "inputs", "chain_seq",
                 "prev_hash", "event_hash")  # fmt: skip


def _certificate(app: tuple[Any, ...]) -> tuple[Any, ...]:
    received = app[10]
    mode = "single" if app[7] == "A" else "multiple"
    return (app[0], f"BC{app[0]}", app[0], app[2], app[3], app[4], app[7], mode, bool(app[9]), False, "active", 1,
            False, received, received + timedelta(days=365), 0, "gacc-2026", "0" * 64,
            datetime.combine(received, datetime.min.time(), UTC))  # fmt: skip


def _cert_line(app: tuple[Any, ...]) -> tuple[Any, ...]:
    return (app[0], app[0], 1, "重组人白细胞介素-6", "支", 100 * QUANTITY_SCALE, 0, 0)


def _ledger(apps: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Two write-offs of 10 on every third certificate: reserve and commit each, as the port writes them."""
    for app in apps:
        at = datetime.combine(app[10], datetime.min.time(), UTC) + timedelta(days=3)
        for n in range(2):
            for kind in ("reserve", "commit"):
                yield (app[0], app[0], kind, 10 * QUANTITY_SCALE, "支", "", "port_officer", at + timedelta(days=n),
                       "gacc-2026")  # fmt: skip


def _grant_event(n: int, app: tuple[Any, ...]) -> tuple[Any, ...]:
    decided = datetime.combine(app[11] or app[10], datetime.min.time(), UTC) + timedelta(days=10)
    return ("application", app[0], app[1], app[3], "decider", "bench", decided, "grant", "under_review", "granted",
            "", "gacc-2026", "0" * 64, '["A10"]', "{}", 10_000_000 + n, "0" * 64, f"{n:064x}")  # fmt: skip


def _settle(connection: psycopg.Connection[Any]) -> None:
    """Balances that match the ledger, sequences past the copied ids, fresh planner statistics."""
    connection.execute(
        "UPDATE certificate_lines SET committed_qty = s.total FROM (SELECT certificate_line_id, sum(qty) AS total "
        "FROM ledger_entries WHERE kind = 'commit' GROUP BY certificate_line_id) s WHERE s.certificate_line_id = id"
    )
    for table in ("enterprises", "applications", "application_lines", "certificates", "certificate_lines"):
        connection.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    connection.execute("ANALYZE")


def _vacuum(connection: psycopg.Connection[Any]) -> None:
    """The state a live database is kept in: without it, autovacuum wakes on the copied millions mid-measure and the
    pages' first reads set hint bits on every row they touch (a write per read), which the timings would carry."""
    connection.autocommit = True
    connection.execute("VACUUM")  # statistics: _settle analyzed the copied tables already


def _recount_dashboard(connection: psycopg.Connection[Any]) -> None:
    """COPY bypasses the repositories that keep the dashboard's counts: count once, as migration 0015 does."""
    connection.execute("DELETE FROM district_count_deltas")
    connection.execute("DELETE FROM district_counts")
    connection.execute(f"INSERT INTO district_counts (district, counter, value) {RECOUNT}")


def _copy(connection: psycopg.Connection[Any], table: str, columns: tuple[str, ...], rows: Any) -> None:
    with connection.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


# -- measuring ------------------------------------------------------------------------------------------------------


def pages_to_time(dsn: str, count: int) -> dict[str, list[str]]:
    with psycopg.connect(dsn) as connection:
        own_app = connection.execute(
            "SELECT a.id FROM applications a JOIN users u ON u.enterprise_id = a.enterprise_id "
            "WHERE u.username = 'xiamen.applicant' ORDER BY a.id DESC LIMIT 1"
        ).fetchone()[0]  # fmt: skip
        written = connection.execute(
            "SELECT c.id, c.certificate_no FROM certificates c JOIN ledger_entries l ON l.certificate_id = c.id "
            "WHERE c.district = 'xiamen' ORDER BY c.id LIMIT 1"
        ).fetchone()
        middle = FIRST_ID + count // 2
        xiamen_app = connection.execute(
            "SELECT id FROM applications WHERE district = 'xiamen' AND id <= %s ORDER BY id DESC LIMIT 1", (middle,)
        ).fetchone()[0]
    return {
        "xiamen.applicant": ["/ui/applicant/applications", f"/ui/applicant/applications?before={middle}",
                             f"/ui/applications/{own_app}", "/ui/applicant/certificates"],
        "xiamen.reviewer": ["/ui/review/queue", "/ui/review/queue?state=under_review",
                            "/ui/review/queue?grade=B&paperless=yes", "/ui/review/queue?urgency=overdue",
                            f"/ui/review/queue?before={middle}", f"/ui/applications/{xiamen_app}"],
        "xiamen.port_officer": ["/ui/port/", f"/ui/port/certificates/{written[0]}"],
        "xiamen.auditor": ["/ui/audit/", "/ui/audit/write-offs", f"/ui/audit/write-offs?certificate_no={written[1]}",
                           f"/ui/certificates/{written[0]}",
                           f"/ui/audit/trail?object_type=application&object_id={xiamen_app}"],
        "xiamen.expert": ["/ui/expert/"],
    }  # fmt: skip


def measure(app: Any, dsn: str, count: int, requests: int, only: list[str], profile: int) -> list[Result]:
    results = []
    for username, all_paths in pages_to_time(dsn, count).items():
        paths = [path for path in all_paths if not only or any(part in path for part in only)]
        if not paths:
            continue
        client = app.test_client()
        page = client.get("/ui/sign-in").get_data(as_text=True)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        signed = client.post("/ui/sign-in", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token})
        assert signed.status_code == 303, f"{username} could not sign in"
        for path in paths:
            if profile:
                _profile(client, path, profile)
            else:
                results.append((username.split(".")[1], path, *_time(client, path, requests)))
    return results


def _profile(client: Any, path: str, requests: int, top: int = 30) -> None:
    """The page's own Python: where its server time goes, by function (own time, then cumulative)."""
    for _ in range(3):
        client.get(path).close()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        response = client.get(path)
        response.get_data()
        response.close()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    calls = stats.total_calls  # type: ignore[attr-defined]
    print(f"\n### {path}: {calls / requests:.0f} function calls per request, {requests} requests\n", flush=True)
    for order in ("tottime", "cumulative"):
        stats.sort_stats(order).print_stats(top)
    print(out.getvalue())


def _time(client: Any, path: str, requests: int) -> tuple[float, float, float, int]:
    """p50 and p95 of the server time, and the p50 of the app's own CPU in it (the steadier figure on a shared host:
    the server time also holds PostgreSQL's share and whatever else the machine runs)."""
    for _ in range(3):  # warm the statement and template caches
        client.get(path).close()
    samples, cpu, status = [], [], 0
    for _ in range(requests):
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get(path)
        response.get_data()
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
        status = response.status_code
        response.close()
    samples.sort()
    return statistics.median(samples), samples[max(0, round(0.95 * len(samples)) - 1)], statistics.median(cpu), status


def print_table(results: list[Result], count: int) -> None:
    print(f"\nserver time per page, {count} applications (ms)\n")
    print("| role | page | p50 | p95 | app CPU p50 | status |\n|---|---|---:|---:|---:|---|")
    for role, path, p50, p95, cpu, status in results:
        print(f"| {role} | `{path}` | {p50:.1f} | {p95:.1f} | {cpu:.1f} | {status} |")


if __name__ == "__main__":
    main()
