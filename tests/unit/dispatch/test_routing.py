"""Cluster routing (docs/operations.md#routing-queues-to-clusters): which django-q2 cluster
serves a queue, read from `Q_CLUSTER` and `ASH_OBAN["QUEUES"]`."""

from __future__ import annotations

import os

import pytest
from django.test import override_settings

from ash_oban_django.dispatch.routing import (
    broker,
    cluster_for,
    cluster_timeout,
    cluster_workers,
    clusters,
    default_cluster,
    q_cluster,
)

TWO_CLUSTERS = {
    "name": "main",
    "workers": 4,
    "orm": "default",
    "ALT_CLUSTERS": {"reports": {"workers": 1, "timeout": 600}},
}


@pytest.mark.parametrize("value", [None, "orm", ["name"]])
def test_q_cluster__absent_or_malformed_reads_as_empty(value: object) -> None:
    with override_settings(Q_CLUSTER=value):
        assert q_cluster() == {}
        assert default_cluster() == "default"
        assert broker() is None


def test_broker__the_first_broker_key_set() -> None:
    with override_settings(Q_CLUSTER={"name": "x", "sqs": {"region": "r"}, "redis": {"host": "r"}}):
        assert broker() == "redis"  # BROKER_KEYS order, not the dict's
    with override_settings(Q_CLUSTER={"name": "x", "orm": ""}):
        assert broker() is None  # an empty value configures nothing


def test_clusters__alt_clusters_override_the_base_keys() -> None:
    with override_settings(Q_CLUSTER=TWO_CLUSTERS):
        found = clusters()
    assert list(found) == ["main", "reports"]
    assert found["main"] is not found["reports"]
    assert found["reports"]["workers"] == 1
    assert found["reports"]["timeout"] == 600
    assert found["reports"]["orm"] == "default"  # inherited from the base


def test_clusters__a_malformed_alt_entry_reads_as_no_override() -> None:
    config = {"name": "main", "workers": 4, "ALT_CLUSTERS": {"odd": "not a dict"}}
    with override_settings(Q_CLUSTER=config):
        assert clusters()["odd"]["workers"] == 4
    with override_settings(Q_CLUSTER={"name": "main", "ALT_CLUSTERS": ["reports"]}):
        assert list(clusters()) == ["main"]


def test_cluster_for__a_mapped_queue_goes_to_its_cluster_others_to_the_default() -> None:
    with override_settings(
        Q_CLUSTER=TWO_CLUSTERS,
        ASH_OBAN={"QUEUES": {"reports": {"cluster": "reports"}, "mail": {"limit": 2}}},
    ):
        assert cluster_for("reports") == "reports"
        assert cluster_for("mail") == "main"  # listed for its limit only
        assert cluster_for("unlisted") == "main"


def test_cluster_for__follows_the_settings_as_they_change() -> None:
    with override_settings(ASH_OBAN={"QUEUES": {"q": {"cluster": "one"}}}):
        assert cluster_for("q") == "one"
    with override_settings(ASH_OBAN={"QUEUES": {"q": {"cluster": "two"}}}):
        assert cluster_for("q") == "two"


def test_cluster_workers__of_each_cluster() -> None:
    with override_settings(Q_CLUSTER=TWO_CLUSTERS):
        assert cluster_workers("main") == 4
        assert cluster_workers("reports") == 1
        assert cluster_workers("unknown") == 4  # the base cluster's settings


def test_cluster_workers__defaults_to_the_cpu_count_as_django_q2_does() -> None:
    with override_settings(Q_CLUSTER={"name": "main"}):
        assert cluster_workers("main") == (os.cpu_count() or 1)


def test_cluster_timeout__the_clusters_own_else_the_base_ones_else_none() -> None:
    with override_settings(Q_CLUSTER=TWO_CLUSTERS):
        assert cluster_timeout("reports") == 600.0
        assert cluster_timeout("main") is None  # django-q2 then sets none
    with override_settings(Q_CLUSTER={**TWO_CLUSTERS, "timeout": 300}):
        assert (cluster_timeout("main"), cluster_timeout("reports")) == (300.0, 600.0)
        assert cluster_timeout("unknown") == 300.0
