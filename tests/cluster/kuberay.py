"""The KubeRay manifest, read as the tests need it: the Serve config it embeds and the custom
resources its head and worker groups offer (``rayStartParams.resources``, which KubeRay passes to
``ray start --resources``), so that the cluster test starts its nodes exactly as the manifest does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "kuberay" / "rayservice.yaml"
CLUSTER_CONFIG = ROOT / "serve_config.cluster.yaml"


def load_manifest() -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return manifest


def embedded_serve_config(manifest: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(manifest["spec"]["serveConfigV2"])
    return config


def offered(group: dict[str, Any]) -> dict[str, float]:
    """A group's custom resources: KubeRay's format is a JSON string inside quotes, '"{\\"name\\": 1}"'."""
    raw = group.get("rayStartParams", {}).get("resources")
    if raw is None:
        return {}
    resources: dict[str, float] = json.loads(json.loads(raw))
    return resources


def node_resources() -> tuple[dict[str, float], dict[str, float]]:
    """The head's custom resources and the (single) worker group's."""
    cluster = load_manifest()["spec"]["rayClusterConfig"]
    (workers,) = cluster["workerGroupSpecs"]
    return offered(cluster["headGroupSpec"]), offered(workers)


def ray_env(group: dict[str, Any]) -> dict[str, str]:
    """The ``RAY_*`` settings a group's container gets (Ray reads them at ``ray start``)."""
    (container,) = group["template"]["spec"]["containers"]
    return {e["name"]: str(e["value"]) for e in container.get("env", []) if e["name"].startswith("RAY_")}


def failure_detection_env() -> dict[str, str]:
    """Every node's failure-detection settings: the same on the head and the workers."""
    cluster = load_manifest()["spec"]["rayClusterConfig"]
    (workers,) = cluster["workerGroupSpecs"]
    head = ray_env(cluster["headGroupSpec"])
    if head != ray_env(workers):
        raise ValueError("the manifest's head and workers must have the same RAY_* settings")
    return head
