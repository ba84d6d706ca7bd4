"""The cluster config and the KubeRay manifest that embeds it: Serve's own schema, this project's
settings, and custom resources that the nodes offer exactly where the deployments ask for them.

(``tests/cluster/test_cluster_e2e.py`` deploys the same config on real Ray nodes started with the
manifest's resources.)"""

from __future__ import annotations

from typing import Any

import pytest
import ray
import yaml
from ray.serve.schema import ServeApplicationSchema, ServeDeploySchema

from app.config import ServerSettings
from deployments.app import load_settings
from tests.cluster.kuberay import CLUSTER_CONFIG, embedded_serve_config, failure_detection_env, load_manifest, offered

MODELS = {"RealtimeASR", "MainASR", "Diarizer", "Analyzer"}


def _cluster_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(CLUSTER_CONFIG.read_text())
    return config


def _deployments(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (app,) = config["applications"]
    return {d["name"]: d for d in app["deployments"]}


def _asks(deployment: dict[str, Any]) -> dict[str, float]:
    resources: dict[str, float] = deployment.get("ray_actor_options", {}).get("resources", {})
    return resources


def test_the_manifest_embeds_the_cluster_config() -> None:
    manifest = load_manifest()
    assert (manifest["apiVersion"], manifest["kind"]) == ("ray.io/v1", "RayService")
    embedded = embedded_serve_config(manifest)
    assert embedded == _cluster_config(), "copy serve_config.cluster.yaml into the manifest's serveConfigV2"
    ServeDeploySchema.model_validate(embedded)  # raises on anything Serve would reject
    for app in embedded["applications"]:
        ServeApplicationSchema.model_validate(app)
        ServerSettings.model_validate(app["args"]["settings"])


def test_cluster_settings_take_the_database_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    (app,) = _cluster_config()["applications"]
    assert "database_url" not in app["args"]["settings"]["store"]  # no password in the config
    monkeypatch.setenv("STT_DATABASE_URL", "postgresql://rtstt:secret@db.internal:5432/rtstt")
    settings = load_settings(app["args"])
    assert settings.store.url == "postgresql+asyncpg://rtstt:secret@db.internal:5432/rtstt"
    assert settings.auth.enabled


def test_cluster_config_places_work_by_custom_resources() -> None:
    config = _cluster_config()
    assert config["proxy_location"] == "EveryNode" and config["http_options"]["host"] == "0.0.0.0"
    deployments = _deployments(config)
    for name, dep in deployments.items():
        assert dep["ray_actor_options"]["num_cpus"] == 0, name  # placement by custom resources only
    for name in MODELS:
        assert _asks(deployments[name]) == {"rtstt_models": 1}, name
    assert _asks(deployments["SessionHostPool"]) == {"rtstt_sessions": 1}
    assert deployments["SessionHostPool"]["num_replicas"] == 1  # the pool is one replica (README)
    assert _asks(deployments["Ingress"]) == {}
    # replicated across nodes: losing one node leaves a replica of each
    for name in ("Ingress", "RealtimeASR", "MainASR"):
        assert deployments[name]["num_replicas"] >= 2 and deployments[name]["max_replicas_per_node"] == 1, name


def test_manifest_nodes_offer_what_the_deployments_ask() -> None:
    manifest = load_manifest()
    cluster = manifest["spec"]["rayClusterConfig"]
    assert cluster["rayVersion"] == ray.__version__  # the image's Ray must be the package's
    head = offered(cluster["headGroupSpec"])
    (workers,) = cluster["workerGroupSpecs"]
    worker = offered(workers)
    deployments = _deployments(embedded_serve_config(manifest))
    assert set(head) == {"rtstt_sessions"} and set(worker) == {"rtstt_models"}
    assert head["rtstt_sessions"] >= _asks(deployments["SessionHostPool"])["rtstt_sessions"]
    # a worker holds one replica of every model deployment
    assert worker["rtstt_models"] >= sum(_asks(deployments[name])["rtstt_models"] for name in MODELS)
    # enough workers for the replicas spread one a node
    replicas = max(deployments[name].get("num_replicas", 1) for name in MODELS)
    assert workers["minReplicas"] >= replicas and workers["replicas"] >= replicas
    for group in (cluster["headGroupSpec"], workers):
        (container,) = group["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        for name in ("STT_API_KEYS", "STT_JWT_SECRET", "STT_DATABASE_URL"):
            assert "secretKeyRef" in env[name]["valueFrom"], name  # secrets, not values in the manifest
        assert env["HF_HUB_OFFLINE"]["value"] == "1"
        assert {"containerPort": 8000, "name": "serve"} in container["ports"]  # a proxy on every pod


def test_manifest_detects_a_lost_node_in_seconds() -> None:
    """Ray's defaults leave a session host stalled for minutes when a node vanishes (README); the
    manifest's settings, the same on every pod, bound it."""
    env = failure_detection_env()
    period, timeout = int(env["RAY_health_check_period_ms"]), int(env["RAY_health_check_timeout_ms"])
    assert (period + timeout) * int(env["RAY_health_check_failure_threshold"]) <= 20_000
    assert int(env["RAY_grpc_client_keepalive_time_ms"]) + int(env["RAY_grpc_client_keepalive_timeout_ms"]) <= 10_000
