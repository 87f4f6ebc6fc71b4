"""Settings from REGISTRY_* variables: parsing, refusals that name the variable, round trips."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from registry.settings import Settings, SettingsError


def test_non_integer_variable_is_refused_naming_the_variable_and_value():
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"REGISTRY_JOB_TIMEOUT_SECONDS": "abc"})

    assert "REGISTRY_JOB_TIMEOUT_SECONDS='abc'" in str(refused.value)
    assert "integer" in str(refused.value)


@pytest.mark.parametrize("text", ["-1", "0"])
def test_timeout_below_one_second_is_refused(text):
    with pytest.raises(SettingsError, match="REGISTRY_JOB_TIMEOUT_SECONDS=.*greater than 0"):
        Settings.from_env({"REGISTRY_JOB_TIMEOUT_SECONDS": text})


def test_part_size_below_the_s3_minimum_is_refused_and_the_minimum_itself_accepted():
    minimum = 5 * 1024**2

    with pytest.raises(SettingsError, match="REGISTRY_PART_SIZE_BYTES"):
        Settings.from_env({"REGISTRY_PART_SIZE_BYTES": str(minimum - 1)})
    assert Settings.from_env({"REGISTRY_PART_SIZE_BYTES": str(minimum)}).part_size_bytes == minimum


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("on", True)]
    + [("false", False), ("0", False), ("no", False), ("Off", False)],
)
def test_boolean_variable_accepts_the_usual_spellings(text, expected):
    assert Settings.from_env({"REGISTRY_ANONYMOUS_READ": text}).anonymous_read is expected


def test_unrecognised_boolean_is_refused_rather_than_read_as_false():
    with pytest.raises(SettingsError, match="REGISTRY_AUDIT_DOWNLOADS='maybe'.*boolean"):
        Settings.from_env({"REGISTRY_AUDIT_DOWNLOADS": "maybe"})


def test_log_level_is_a_logging_level_in_any_case():
    assert Settings.from_env({"REGISTRY_LOG_LEVEL": "debug"}).log_level == "DEBUG"
    with pytest.raises(SettingsError, match="REGISTRY_LOG_LEVEL='loud': not a logging level"):
        Settings.from_env({"REGISTRY_LOG_LEVEL": "loud"})


def test_every_bad_variable_is_named_in_one_line():
    environ = {"REGISTRY_PARTS_IN_FLIGHT": "x", "REGISTRY_JOB_MAX_ATTEMPTS": "-2"}

    with pytest.raises(SettingsError) as refused:
        Settings.from_env(environ)

    message = str(refused.value)
    assert "REGISTRY_PARTS_IN_FLIGHT='x'" in message
    assert "REGISTRY_JOB_MAX_ATTEMPTS='-2'" in message
    assert "\n" not in message


def test_to_env_reproduces_the_settings_exactly(tmp_path):
    settings = Settings(
        data_dir=tmp_path,
        database_url="postgresql+psycopg://u:p@db/registry",
        storage_url="s3://bucket/prefix",
        s3_secret_key="not-the-default",
        part_size_bytes=5 * 1024**2,
        job_timeout_seconds=42,
        log_level="WARNING",
        anonymous_read=True,
    )

    assert Settings.from_env(settings.to_env()) == settings


def test_keyword_overrides_win_over_the_environment(tmp_path):
    environ = {"REGISTRY_DATA_DIR": "/from/env", "REGISTRY_JOB_MAX_ATTEMPTS": "7"}

    settings = Settings.from_env(environ, data_dir=tmp_path)

    assert (settings.data_dir, settings.job_max_attempts) == (tmp_path, 7)


def test_explicit_environ_is_read_instead_of_the_process_environment(monkeypatch):
    monkeypatch.setenv("REGISTRY_LOG_LEVEL", "ERROR")

    assert Settings.from_env({}).log_level == "INFO"
    assert Settings.from_env().log_level == "ERROR"


def test_constructor_takes_only_its_fields_not_the_environment(monkeypatch):
    monkeypatch.setenv("REGISTRY_JOB_TIMEOUT_SECONDS", "5")

    assert Settings().job_timeout_seconds == 600


def test_data_dir_is_expanded_from_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))

    assert Settings.from_env({"REGISTRY_DATA_DIR": "~/registry"}).data_dir == tmp_path / "registry"


def test_with_changes_validates_and_leaves_the_original_as_it_was():
    settings = Settings()

    assert settings.with_changes(parts_in_flight=2).parts_in_flight == 2
    with pytest.raises(SettingsError, match="REGISTRY_PARTS_IN_FLIGHT=0"):
        settings.with_changes(parts_in_flight=0)
    assert settings.parts_in_flight == 4


def test_settings_cannot_be_changed_in_place():
    settings = Settings()

    with pytest.raises(ValueError, match="frozen"):
        settings.job_timeout_seconds = 1
    assert settings.job_timeout_seconds == 600


def test_cli_with_a_bad_variable_prints_one_line_naming_it_and_exits_non_zero(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(REGISTRY_DATA_DIR=str(tmp_path), REGISTRY_JOB_TIMEOUT_SECONDS="abc")

    upgrade = subprocess.run(
        [sys.executable, "-m", "registry.cli", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert upgrade.returncode == 1
    assert upgrade.stderr.count("\n") == 1, upgrade.stderr
    assert "REGISTRY_JOB_TIMEOUT_SECONDS='abc'" in upgrade.stderr
    assert not (tmp_path / "registry.sqlite").exists()  # refused before touching the database
