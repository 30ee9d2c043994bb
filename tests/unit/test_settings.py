from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import Environment, load_settings
from workflow.domain.errors import InvalidInput


def test_defaults_give_the_embedded_mode_on_an_sqlite_file_in_the_instance_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SPECGOODS_DATABASE_URL", raising=False)
    monkeypatch.delenv("SPECGOODS_REDIS_URL", raising=False)
    settings = load_settings(instance_path=tmp_path)
    assert settings.is_embedded and settings.broker_url == "memory://localhost/"
    assert settings.effective_database_url == f"sqlite:///{tmp_path.resolve() / 'specgoods.sqlite3'}"


def test_environment_variables_with_the_prefix_select_postgresql_and_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPECGOODS_DATABASE_URL", "postgresql+psycopg://db/specgoods")
    monkeypatch.setenv("SPECGOODS_REDIS_URL", "redis://cache:6379/0")
    settings = load_settings()
    assert not settings.is_embedded
    assert (settings.effective_database_url, settings.broker_url) == (
        "postgresql+psycopg://db/specgoods",
        "redis://cache:6379/0",
    )


def test_production_without_a_secret_key_stops_start_up_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPECGOODS_ENV", "production")
    monkeypatch.delenv("SPECGOODS_SECRET_KEY", raising=False)
    with pytest.raises(InvalidInput, match="SPECGOODS_SECRET_KEY must be set"):
        load_settings()


def test_production_with_a_secret_key_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPECGOODS_ENV", "production")
    monkeypatch.setenv("SPECGOODS_SECRET_KEY", "s3cret")
    assert load_settings().env is Environment.PRODUCTION


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(Exception, match="frozen"):
        settings.district = "fuzhou"  # type: ignore[misc]


def test_a_malformed_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPECGOODS_WORKER_STALE_SECONDS", "soon")
    with pytest.raises(InvalidInput) as error:
        load_settings()
    assert error.value.field == "SPECGOODS_WORKER_STALE_SECONDS"
