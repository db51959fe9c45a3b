"""Pipeline policies are typed values parsed once at start, not strings per request."""

from __future__ import annotations

import pytest

from gati.config import Settings, validate
from gati.core.pipeline import PipelineOptions, SnapshotPolicy
from gati.errors import ConfigError
from gati.wiring import Security, pipeline_options, replay_pipeline_options


@pytest.mark.parametrize(("text", "policy"), [
    ("off", SnapshotPolicy("off")),
    ("on_error", SnapshotPolicy("on_error")),
    ("always", SnapshotPolicy("always")),
    ("sampled:0.25", SnapshotPolicy("on_error", sampled=0.25)),
])
def test_a_snapshot_policy_is_parsed_once_into_a_value(text: str, policy: SnapshotPolicy) -> None:
    assert SnapshotPolicy.parse(text) == policy


@pytest.mark.parametrize("text", ["sometimes", "sampled:", "sampled:abc", "sampled:1.5"])
def test_a_bad_snapshot_policy_fails_at_start_with_the_variable_name(text: str) -> None:
    # "sampled:abc" used to pass the start check and fail float() on every request.
    with pytest.raises(ConfigError, match="GATI_SNAPSHOTS"):
        validate(Settings(snapshots=text))


def test_sampling_decides_by_request_id_so_every_delivery_decides_the_same() -> None:
    half = SnapshotPolicy.parse("sampled:0.5")
    modes = {rid: half.mode_for(rid) for rid in (f"req-{n}" for n in range(200))}
    assert set(modes.values()) == {"always", "on_error"}
    assert all(half.mode_for(rid) == mode for rid, mode in modes.items())
    assert SnapshotPolicy.parse("sampled:0").mode_for("x") == "on_error"
    assert SnapshotPolicy.parse("sampled:1").mode_for("x") == "always"


def test_the_worker_options_come_from_its_settings() -> None:
    settings = Settings(snapshots="always")
    options = pipeline_options(settings, Security.from_settings(settings))
    assert options.snapshots == SnapshotPolicy("always")
    assert options.sensitive_values is not None
    assert not options.details_as_objects
    assert replay_pipeline_options() == PipelineOptions(SnapshotPolicy("off"),
                                                        details_as_objects=True)
