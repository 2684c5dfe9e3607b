"""Settings: env prefix, config file, a bad value names itself, the URL stays secret."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.errors import ConfigError
from service.settings import load_settings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("NEWSDROP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("NEWSDROP_SECRETS_DIR", str(tmp_path / "none"))
    monkeypatch.chdir(tmp_path)


def test_defaults_and_folders(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.database_url is None
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8080)
    assert settings.folder("inbox") == tmp_path / "newsdrop-data" / "inbox"
    assert settings.embedded_data == tmp_path / "newsdrop-data" / "pgdata"


def test_env_and_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEWSDROP_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("NEWSDROP_INBOX_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("NEWSDROP_SETTLE_SECONDS", "0.25")
    settings = load_settings()
    assert settings.folder("inbox") == tmp_path / "elsewhere"
    assert settings.folder("quarantine") == tmp_path / "d" / "quarantine"
    assert settings.settle_seconds == 0.25


def test_config_file_is_read_and_env_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "newsdrop.env"
    config.write_text("NEWSDROP_HTTP_PORT=9100\nNEWSDROP_LOG_LEVEL=debug\n", encoding="utf-8")
    monkeypatch.setenv("NEWSDROP_LOG_LEVEL", "warning")
    settings = load_settings(config)
    assert settings.http_port == 9100
    assert settings.log_level == "warning"
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.env")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HTTP_PORT", "eighty"),
        ("HTTP_PORT", "70000"),
        ("SETTLE_SECONDS", "-1"),
        ("LOG_FORMAT", "xml"),
    ],
)
def test_a_bad_value_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"NEWSDROP_{name}", value)
    with pytest.raises(ConfigError, match=f"NEWSDROP_{name}"):
        load_settings()


def test_the_database_url_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSDROP_DATABASE_URL", "mysql://u:hunter2@db/x")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "NEWSDROP_DATABASE_URL" in str(info.value)
    assert "hunter2" not in str(info.value)
    monkeypatch.setenv("NEWSDROP_DATABASE_URL", "postgresql://u:hunter2@db/x")
    settings = load_settings()
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())


def test_the_url_can_come_from_a_secrets_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "newsdrop_database_url").write_text("postgresql://u:pw@db/news", encoding="utf-8")
    monkeypatch.setenv("NEWSDROP_SECRETS_DIR", str(secrets))
    settings = load_settings()
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == "postgresql://u:pw@db/news"
