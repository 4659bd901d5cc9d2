"""Configuration: defaults, YAML file, environment overrides, secrets, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from boom_flow.config import ConfigError, load_settings


def test_defaults_load_without_any_file_or_environment() -> None:
    settings = load_settings(environ={})
    assert settings.services.mongodb.embedded is True
    assert settings.services.mongodb.connection_uri.startswith("mongodb://127.0.0.1:")
    assert settings.services.kafka.bootstrap == "127.0.0.1:19092"
    assert settings.batch.max_alerts > 0
    # Secrets have no committed default.
    assert settings.api.secret_key is None
    assert settings.api.admin_password is None


def test_yaml_file_overrides_defaults_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("batch:\n  max_alerts: 42\nservices:\n  kafka:\n    port: 29092\n")
    settings = load_settings(path, environ={})
    assert settings.batch.max_alerts == 42
    assert settings.batch.max_ms == load_settings(environ={}).batch.max_ms
    assert settings.services.kafka.bootstrap == "127.0.0.1:29092"


def test_environment_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("batch:\n  max_alerts: 42\n")
    environ = {
        "BOOM_FLOW_BATCH__MAX_ALERTS": "7",
        "BOOM_FLOW_SERVICES__MONGODB__DATABASE": "night",
        "BOOM_FLOW_SURVEYS__ZTF__PROGRAMIDS": "[1]",
        "BOOM_FLOW_SERVICES__VALKEY__EMBEDDED": "false",
        "BOOM_FLOW_SERVICES__VALKEY__URL": "valkey://cache.example:6380/2",
        "UNRELATED": "x",
    }
    settings = load_settings(path, environ=environ)
    assert settings.batch.max_alerts == 7
    assert settings.services.mongodb.database == "night"
    assert settings.surveys.ztf.programids == [1]
    assert settings.services.valkey.connection_url == "redis://cache.example:6380/2"


def test_config_file_can_be_named_by_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("dask:\n  n_workers: 5\n")
    assert load_settings(environ={"BOOM_FLOW_CONFIG": str(path)}).dask.n_workers == 5


@pytest.mark.clean_clone
def test_the_shared_data_variable_is_not_a_setting(tmp_path: Path) -> None:
    """Tests and benchmarks read BOOM_FLOW_SHARED_DATA; every command must still load
    its configuration with it set (CI sets it to hide the shared folder)."""
    environ = {"BOOM_FLOW_SHARED_DATA": str(tmp_path / "nowhere")}
    assert load_settings(environ=environ) == load_settings(environ={})
    with pytest.raises(ConfigError, match="shared_dat: unknown key"):
        load_settings(environ={"BOOM_FLOW_SHARED_DAT": "x"})


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"BOOM_FLOW_SERVICES__MONGODB__PORT": "abc"},
         ["services.mongodb.port", "'abc'", "BOOM_FLOW_SERVICES__MONGODB__PORT", "integer"]),
        ({"BOOM_FLOW_SERVICES__MONGODB__PORT": "70000"},
         ["services.mongodb.port", "70000", "less than or equal to 65535"]),
        ({"BOOM_FLOW_SERVICES__KAFKA__AUTO_OFFSET_RESET": "middle"},
         ["services.kafka.auto_offset_reset", "'middle'", "'earliest' or 'latest'"]),
        ({"BOOM_FLOW_BATCH__MAX_ALERTS": "0"}, ["batch.max_alerts", "greater than 0"]),
        ({"BOOM_FLOW_DASK__MEMORY_LIMIT": "lots"}, ["dask.memory_limit", "'lots'", "4GiB"]),
        ({"BOOM_FLOW_SURVEYS__ZTF__PROGRAMIDS": "[4]"}, ["surveys.ztf.programids.0", "1, 2 or 3"]),
        ({"BOOM_FLOW_SERVICES__MONGODB__PROT": "1"},
         ["services.mongodb.prot", "unknown key", "allowed keys here", "port"]),
        ({"BOOM_FLOW_KAFKA__PORT": "1"}, ["kafka", "unknown key", "services, dask"]),
        ({"BOOM_FLOW_SERVICES__MONGODB__URI": "http://db"},
         ["services.mongodb.uri", "mongodb://"]),
        ({"BOOM_FLOW_SERVICES__MONGODB__EMBEDDED": "false"},
         ["services.mongodb", "uri is required when embedded is false"]),
        ({"BOOM_FLOW_SERVICES__KAFKA__EMBEDDED": "false"},
         ["services.kafka", "bootstrap_servers is required"]),
        ({"BOOM_FLOW_SERVICES__KAFKA__BOOTSTRAP_SERVERS": "no port"},
         ["services.kafka.bootstrap_servers", "host:port"]),
    ],
)
def test_a_wrong_value_names_key_value_and_what_is_allowed(
    environ: dict[str, str], expected: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ)
    message = str(caught.value)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_errors_in_a_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("api:\n  port: -1\n")
    with pytest.raises(ConfigError, match=r"api\.port = -1 \(file .*bad\.yaml\)"):
        load_settings(path, environ={})


def test_unreadable_or_malformed_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.yaml", environ={})
    broken = tmp_path / "broken.yaml"
    broken.write_text("batch: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(broken, environ={})
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping of sections"):
        load_settings(listing, environ={})


def test_secrets_come_from_the_environment_or_a_file(tmp_path: Path) -> None:
    key_file = tmp_path / "secret_key"
    key_file.write_text("s3cr3t-from-file\n")
    environ = {
        "BOOM_FLOW_API__SECRET_KEY_FILE": str(key_file),
        "BOOM_FLOW_API__ADMIN_PASSWORD": "hunter2",
        "BOOM_FLOW_SERVICES__MONGODB__PASSWORD": "dbpass",
        "BOOM_FLOW_SERVICES__MONGODB__USERNAME": "boom",
    }
    settings = load_settings(environ=environ)
    assert settings.api.secret_key is not None
    assert settings.api.secret_key.get_secret_value() == "s3cr3t-from-file"
    assert settings.api.admin_password is not None
    assert settings.api.admin_password.get_secret_value() == "hunter2"
    assert settings.services.mongodb.client_options() == {"username": "boom", "password": "dbpass"}
    # Secrets never print.
    dumped = settings.model_dump_json()
    assert "hunter2" not in dumped and "s3cr3t" not in dumped and "dbpass" not in dumped


def test_a_missing_secret_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"api\.secret_key_file = .*cannot read the secret file"):
        load_settings(environ={"BOOM_FLOW_API__SECRET_KEY_FILE": str(tmp_path / "nope")})


def test_a_bad_secret_value_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"BOOM_FLOW_API__ADMIN_PASSWORD": "[1, 2]"})
    assert "api.admin_password = <secret>" in str(caught.value)


def test_settings_are_immutable() -> None:
    settings = load_settings(environ={})
    with pytest.raises(ValueError, match="frozen"):
        settings.batch.max_alerts = 3  # type: ignore[misc]


def test_the_alert_consumer_does_not_wait_librdkafka_s_half_second_for_data() -> None:
    # A broker that holds an empty fetch for fetch.wait.max.ms even when data arrives
    # meanwhile added up to that much to each alert's latency.
    assert load_settings(environ={}).services.kafka.consumer_config()["fetch.wait.max.ms"] == 100
    mine = load_settings(environ={"BOOM_FLOW_SERVICES__KAFKA__CONSUMER":
                                  '{"fetch.wait.max.ms": 250}'})
    assert mine.services.kafka.consumer_config()["fetch.wait.max.ms"] == 250
