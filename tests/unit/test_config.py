"""Settings from the environment: embedded defaults in development, hard stops in production."""
from __future__ import annotations

import re

import pytest

from services.cases.config import load_settings as cases_settings
from services.gateway.config import load_settings as gateway_settings
from services.notifier.config import load_settings as notifier_settings
from shared.config import DEV_SECRET, REPO_ROOT, ConfigError, Settings
from tests.unit.sqlite_services import set_environment

PRODUCTION_VALUES = {
    "SECRET_KEY": "a-real-secret",
    "BROKER_URL": "amqp://fees:pw@rabbit/fees",
    "CASES_DATABASE_URL": "postgresql://fees@db/cases",
    "NOTIFIER_DATABASE_URL": "postgresql://fees@db/notifier",
    "GATEWAY_DATABASE_URL": "postgresql://fees@db/gateway",
    "GATEWAY_PUBLIC_URL": "https://gw.example.com/",
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "twilio-token",
    "TWILIO_FROM": "MG" + "2" * 32,
    "SENDGRID_API_KEY": "SG.key",
    "SENDGRID_FROM_EMAIL": "billing@example.com",
    "SENDGRID_WEBHOOK_PUBLIC_KEY": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE" + "A" * 52,
    "SENDGRID_INBOUND_SECRET": "inbound-secret",
}


def named_variables(error: Exception) -> set[str]:
    return set(re.findall(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b", str(error)))


def test_an_empty_environment_gives_embedded_defaults_under_the_repo():
    settings = Settings.from_env({})

    var = REPO_ROOT / "var"
    assert settings.env == "development" and not settings.production
    assert settings.cases_database_url == f"sqlite:///{var / 'cases'}.sqlite"
    assert settings.notifier_database_url == f"sqlite:///{var / 'notifier'}.sqlite"
    assert settings.gateway_database_url == f"sqlite:///{var / 'gateway'}.sqlite"
    assert settings.broker_url == f"sqla+sqlite:///{var / 'broker.sqlite'}"
    assert (settings.sms_provider, settings.email_provider) == ("console", "console")
    assert settings.secret_key == DEV_SECRET and settings.provider_timeout == 10.0


def test_data_dir_moves_every_embedded_database(tmp_path):
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})

    assert settings.cases_database_url == f"sqlite:///{tmp_path / 'cases'}.sqlite"
    assert settings.broker_url == f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"


def test_blank_values_count_as_unset():
    settings = Settings.from_env({"SMS_PROVIDER": "  ", "SECRET_KEY": "", "APP_ENV": " "})

    assert (settings.sms_provider, settings.secret_key, settings.env) == ("console", DEV_SECRET, "development")
    assert "SECRET_KEY" not in settings.explicit


def test_explicit_values_win_and_the_public_url_loses_its_trailing_slash():
    settings = Settings.from_env({**PRODUCTION_VALUES, "PROVIDER_TIMEOUT_SECONDS": "2.5"})

    assert settings.broker_url == PRODUCTION_VALUES["BROKER_URL"]
    assert settings.gateway_public_url == "https://gw.example.com"
    assert settings.provider_timeout == 2.5


def test_settings_from_env_reads_the_process_environment(monkeypatch, tmp_path):
    set_environment(monkeypatch, DATA_DIR=str(tmp_path), SMS_PROVIDER="twilio")

    settings = Settings.from_env()

    assert settings.sms_provider == "twilio" and settings.data_dir == tmp_path


@pytest.mark.parametrize("load_settings", [cases_settings, notifier_settings, gateway_settings],
                         ids=["cases", "notifier", "gateway"])
def test_development_starts_without_any_secret(monkeypatch, load_settings):
    set_environment(monkeypatch)

    assert load_settings().secret_key == DEV_SECRET


@pytest.mark.parametrize("load_settings, providers, missing", [
    (cases_settings, {}, ["SECRET_KEY", "BROKER_URL", "CASES_DATABASE_URL"]),
    (gateway_settings, {}, ["BROKER_URL", "GATEWAY_DATABASE_URL", "GATEWAY_PUBLIC_URL", "TWILIO_AUTH_TOKEN",
                            "SECRET_KEY", "SENDGRID_WEBHOOK_PUBLIC_KEY", "SENDGRID_INBOUND_SECRET"]),
    (notifier_settings, {}, ["BROKER_URL", "NOTIFIER_DATABASE_URL", "GATEWAY_PUBLIC_URL"]),
    (notifier_settings, {"SMS_PROVIDER": "twilio", "EMAIL_PROVIDER": "sendgrid"},
     ["BROKER_URL", "NOTIFIER_DATABASE_URL", "GATEWAY_PUBLIC_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN",
      "TWILIO_FROM", "SENDGRID_API_KEY", "SENDGRID_FROM_EMAIL"]),
], ids=["cases", "gateway", "notifier-console", "notifier-real-providers"])
def test_production_without_its_secrets_stops_naming_each_missing_variable(
        monkeypatch, load_settings, providers, missing):
    set_environment(monkeypatch, APP_ENV="production", **providers)

    with pytest.raises(ConfigError) as raised:
        load_settings()

    assert named_variables(raised.value) == set(missing)


@pytest.mark.parametrize("load_settings, absent", [
    (cases_settings, "CASES_DATABASE_URL"),
    (gateway_settings, "TWILIO_AUTH_TOKEN"),
    (notifier_settings, "TWILIO_FROM"),
])
def test_production_names_the_one_secret_left_out(monkeypatch, load_settings, absent):
    values = {k: v for k, v in PRODUCTION_VALUES.items() if k != absent}
    set_environment(monkeypatch, APP_ENV="production", SMS_PROVIDER="twilio", **values)

    with pytest.raises(ConfigError) as raised:
        load_settings()

    assert named_variables(raised.value) == {absent}


@pytest.mark.parametrize("load_settings", [cases_settings, notifier_settings, gateway_settings],
                         ids=["cases", "notifier", "gateway"])
def test_production_with_every_secret_set_starts(monkeypatch, load_settings):
    set_environment(monkeypatch, APP_ENV="production", SMS_PROVIDER="twilio", EMAIL_PROVIDER="sendgrid",
                    **PRODUCTION_VALUES)

    settings = load_settings()

    assert settings.production and settings.secret_key == "a-real-secret"


@pytest.mark.parametrize("variable, value", [
    ("SMS_PROVIDER", "nexmo"),
    ("SMS_PROVIDER", "Twilio"),
    ("EMAIL_PROVIDER", "mailgun"),
    ("APP_ENV", "prod"),
])
def test_an_unknown_provider_or_mode_is_refused(variable, value):
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value})


@pytest.mark.parametrize("variable", ["PROVIDER_TIMEOUT_SECONDS", "OUTBOX_POLL_SECONDS"])
def test_a_number_that_is_not_a_number_is_refused_naming_its_variable(variable):
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: "ten"})
