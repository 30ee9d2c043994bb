"""The pool's ping of an idle connection leaves it idle: its user may still read outside a transaction.

The ping (workflow/store/engine.py) runs only for a connection that sat idle for a second; it once left the
connection inside the transaction its SELECT opened, and a request that then asked for an autocommit read (the
API token check, workflow/store/accounts.py) failed with a 500. A connection whose server end died is replaced.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg.pq import TransactionStatus

from workflow.store import engine as engine_module
from workflow.store.engine import make_engine


@pytest.fixture
def always_ping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 0.0)


@pytest.mark.usefixtures("always_ping")
def test_a_pinged_connection_is_handed_out_idle_and_may_read_in_autocommit(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as connection:
            first = connection.connection.driver_connection
            connection.exec_driver_sql("SELECT 1")
        with engine.connect() as connection:
            driver = connection.connection.driver_connection
            assert driver is first  # the same pooled connection (the pool hands out the last one in), pinged
            assert driver.info.transaction_status == TransactionStatus.IDLE
            reading = connection.execution_options(isolation_level="AUTOCOMMIT")
            assert reading.exec_driver_sql("SELECT 2").scalar() == 2
    finally:
        engine.dispose()


@pytest.mark.usefixtures("always_ping")
def test_a_connection_whose_server_end_died_is_replaced_by_the_ping(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as connection:
            backend = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with psycopg.connect(postgres_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != backend
    finally:
        engine.dispose()
