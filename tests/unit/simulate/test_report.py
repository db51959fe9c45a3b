"""SimReport and percentile: aggregation on known data."""

from __future__ import annotations

import pytest

from gati.simulate import SimReport, percentile


def test_nearest_rank_percentiles_of_one_to_a_hundred() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # unsorted on purpose

    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (
        50.0, 95.0, 99.0)
    assert percentile(values, 100) == 100.0
    assert percentile(values, 0.1) == 1.0


def test_percentiles_of_small_sets_are_observed_values() -> None:
    assert percentile([10.0, 20.0, 30.0, 40.0], 50) == 20.0
    assert percentile([10.0, 20.0, 30.0, 40.0], 95) == 40.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) == 0.0
    with pytest.raises(ValueError, match=r"\(0, 100\]"):
        percentile([1.0], 0)


def test_report_aggregates_statuses_codes_and_latencies() -> None:
    latencies = [float(v) for v in range(1, 21)]  # 1..20 ms
    report = SimReport.build(
        statuses=[200] * 15 + [504] * 3 + [404] * 2,
        error_codes=[None] * 15 + ["handler_timeout"] * 2 + ["module_timeout"]
        + ["user_not_found"] * 2,
        latencies_ms=reversed(latencies), module_calls={"db.get": 20}, wall_s=2.0,
    )

    assert report.total == 20
    assert dict(report.by_status) == {200: 15, 404: 2, 504: 3}
    assert report.timeouts == 3
    assert dict(report.errors_by_code) == {"handler_timeout": 2, "module_timeout": 1,
                                           "user_not_found": 2}
    assert report.latencies_ms == tuple(latencies)
    assert (report.p50_ms, report.p95_ms, report.p99_ms, report.max_ms) == (10.0, 19.0, 20.0,
                                                                             20.0)
    assert report.mean_ms == 10.5 and report.throughput_rps == 10.0
    assert report.count(504) == 3 and report.count(500) == 0


def test_an_empty_report_is_all_zeros() -> None:
    report = SimReport.build(statuses=[], error_codes=[], latencies_ms=[])

    assert (report.total, report.p99_ms, report.mean_ms, report.throughput_rps) == (0, 0, 0, 0)
