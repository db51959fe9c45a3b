"""Settings from GATI_* variables: defaults, refusal of bad values, CLI overrides."""

from __future__ import annotations

import pytest

from gati.config import Settings, documented_variables, from_env
from gati.errors import ConfigError


def test_no_variables_gives_the_defaults() -> None:
    s = from_env({})
    assert s == Settings()
    assert s.kafka_bootstrap == "localhost:9092"
    assert s.database_url == "sqlite+aiosqlite:///.gati/gati.db"
    assert s.requests_topic == "gati.requests"
    assert s.lifecycle_topic == "gati.lifecycle"
    assert s.deadletter_topic == "gati.deadletter"
    assert s.reply_topic("gw-1") == "gati.replies.gw-1"
    assert s.worker_group == "gati-worker"
    assert s.recorder_group == "gati-recorder"


def test_an_explicit_mapping_is_used_instead_of_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATI_TOPIC_PREFIX", "from-process")
    assert from_env({}).topic_prefix == "gati"
    assert from_env().topic_prefix == "from-process"


def test_empty_values_count_as_unset() -> None:
    assert from_env({"GATI_TOPIC_PREFIX": "", "GATI_MAX_IN_FLIGHT": ""}) == Settings()


def test_values_are_converted_to_the_setting_type() -> None:
    s = from_env({
        "GATI_TOPIC_PREFIX": "shop.prod",
        "GATI_MAX_BODY_BYTES": "2048",
        "GATI_REQUEST_TIMEOUT_S": "2.5",
        "GATI_REQUESTS_PARTITIONS": "12",
        "GATI_DATABASE_URL": "postgresql+asyncpg://u:p@db/gati",
    })
    assert s.topic_prefix == "shop.prod"
    assert s.requests_topic == "shop.prod.requests"
    assert s.max_body_bytes == 2048
    assert s.request_timeout_s == 2.5
    assert s.requests_partitions == 12
    assert s.database_url == "postgresql+asyncpg://u:p@db/gati"


def test_every_setting_has_a_documented_variable() -> None:
    documented = documented_variables()
    assert documented["GATI_MAX_BODY_BYTES"] == str(1024 * 1024)
    assert set(documented) == {f"GATI_{name.upper()}" for name in Settings.__slots__}


NUMERIC = [
    "GATI_MAX_BODY_BYTES",
    "GATI_REQUEST_TIMEOUT_S",
    "GATI_MAX_IN_FLIGHT",
    "GATI_WORKER_CONCURRENCY",
    "GATI_RECORDER_BATCH_SIZE",
    "GATI_REQUESTS_PARTITIONS",
    "GATI_RETRY_AFTER_S",
    "GATI_RECORDER_LINGER_S",
    "GATI_WORKER_SESSION_TIMEOUT_S",
    "GATI_WORKER_HEARTBEAT_INTERVAL_S",
]


@pytest.mark.parametrize("var", NUMERIC)
def test_a_negative_number_is_refused_naming_the_variable(var: str) -> None:
    with pytest.raises(ConfigError, match=var):
        from_env({var: "-1"})


@pytest.mark.parametrize(
    "var",
    ["GATI_MAX_BODY_BYTES", "GATI_REQUEST_TIMEOUT_S", "GATI_MAX_IN_FLIGHT",
     "GATI_WORKER_CONCURRENCY", "GATI_RECORDER_BATCH_SIZE", "GATI_REQUESTS_PARTITIONS",
     "GATI_WORKER_SESSION_TIMEOUT_S", "GATI_WORKER_HEARTBEAT_INTERVAL_S"],
)
def test_zero_is_refused_where_a_positive_number_is_needed(var: str) -> None:
    with pytest.raises(ConfigError, match=var):
        from_env({var: "0"})


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("GATI_MAX_BODY_BYTES", "lots"),
        ("GATI_MAX_BODY_BYTES", "1.5"),
        ("GATI_MAX_IN_FLIGHT", "1k"),
        ("GATI_REQUEST_TIMEOUT_S", "fast"),
        ("GATI_RETRY_AFTER_S", "soon"),
        ("GATI_RECORDER_LINGER_S", "5ms"),
        ("GATI_REQUESTS_PARTITIONS", "1001"),
    ],
)
def test_a_value_that_is_not_a_usable_number_is_refused_naming_the_variable(
    var: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=var) as info:
        from_env({var: value})
    assert value in info.value.message


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_timeout_that_is_not_a_finite_number_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="GATI_REQUEST_TIMEOUT_S"):
        from_env({"GATI_REQUEST_TIMEOUT_S": value})


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("GATI_TOPIC_PREFIX", "gati/prod"),
        ("GATI_TOPIC_PREFIX", "gati prod"),
        ("GATI_TOPIC_PREFIX", "gati:prod"),
        ("GATI_TOPIC_PREFIX", "x" * 201),
        ("GATI_GATEWAY_ID", "gw#1"),
        ("GATI_WORKER_ID", "wk 1"),
        ("GATI_WORKER_INSTANCE_ID", "slot/1"),
    ],
)
def test_names_that_cannot_be_in_a_topic_are_refused_naming_the_variable(
    var: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=var):
        from_env({var: value})


@pytest.mark.parametrize("url", ["/var/lib/gati.db", "localhost:5432/gati", "sqlite:/x.db"])
def test_a_database_url_without_a_scheme_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="GATI_DATABASE_URL"):
        from_env({"GATI_DATABASE_URL": url})


def test_a_blank_kafka_bootstrap_is_refused() -> None:
    with pytest.raises(ConfigError, match="GATI_KAFKA_BOOTSTRAP"):
        from_env({"GATI_KAFKA_BOOTSTRAP": "   "})


def test_overrides_apply_given_values_and_ignore_none() -> None:
    base = from_env({"GATI_TOPIC_PREFIX": "shop", "GATI_MAX_IN_FLIGHT": "50"})
    s = base.with_overrides(topic_prefix=None, max_in_flight=None, worker_concurrency=4)
    assert s.topic_prefix == "shop"
    assert s.max_in_flight == 50
    assert s.worker_concurrency == 4
    assert base.worker_concurrency == 16  # the original is untouched


def test_overrides_are_validated_like_the_environment() -> None:
    with pytest.raises(ConfigError, match="GATI_MAX_IN_FLIGHT"):
        Settings().with_overrides(max_in_flight=0)


def test_a_lost_worker_is_given_up_within_the_failover_target_by_default() -> None:
    # Issue 11: a dead worker's partitions resume within 10 s; measured about 9 s.
    s = Settings()
    assert s.worker_session_timeout_s == 8.0
    assert s.worker_heartbeat_interval_s == 1.0


@pytest.mark.parametrize("value", ["0.5", "301", "nan"])
def test_a_session_timeout_outside_what_a_group_can_use_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="GATI_WORKER_SESSION_TIMEOUT_S"):
        from_env({"GATI_WORKER_SESSION_TIMEOUT_S": value})


def test_a_heartbeat_over_a_third_of_the_session_timeout_is_refused() -> None:
    with pytest.raises(ConfigError, match="GATI_WORKER_HEARTBEAT_INTERVAL_S"):
        from_env({"GATI_WORKER_SESSION_TIMEOUT_S": "9", "GATI_WORKER_HEARTBEAT_INTERVAL_S": "3.5"})
    s = from_env({"GATI_WORKER_SESSION_TIMEOUT_S": "9", "GATI_WORKER_HEARTBEAT_INTERVAL_S": "3"})
    assert s.worker_heartbeat_interval_s == 3.0


def test_static_membership_follows_a_given_worker_id_never_the_pid_default() -> None:
    assert Settings().effective_worker_instance_id() is None
    assert Settings(worker_id="orders-1").effective_worker_instance_id() == "orders-1"
    named = from_env({"GATI_WORKER_ID": "orders-1", "GATI_WORKER_INSTANCE_ID": "slot-3"})
    assert named.effective_worker_instance_id() == "slot-3"
    off = from_env({"GATI_WORKER_ID": "orders-1", "GATI_WORKER_INSTANCE_ID": "none"})
    assert off.effective_worker_instance_id() is None
