"""The Serve configs parse as Serve deploy configs and their settings as ServerSettings."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from app.config import ServerSettings
from deployments.app import build_app

ROOT = Path(__file__).resolve().parents[2]


def deployments_of(args: dict[str, Any]) -> list[str]:
    """The deployments ``build_app(args)`` makes, as Serve builds the application (no Ray needed)."""
    from ray.serve._private.build_app import build_app as serve_build

    return [d.name for d in serve_build(build_app(args), name="stt").deployments]


@pytest.mark.parametrize("name", ["serve_config.yaml", "serve_config.gpu.yaml", "serve_config.cluster.yaml"])
def test_serve_config_is_valid(name: str) -> None:
    raw = yaml.safe_load((ROOT / name).read_text())
    ServeDeploySchema.model_validate(raw)  # raises on anything Serve would reject
    (app,) = raw["applications"]
    assert app["import_path"] == "deployments.app:build_app"
    settings = ServerSettings.model_validate(app["args"]["settings"])
    names = {d["name"] for d in app["deployments"]}
    assert names == {"Ingress", "RealtimeASR", "MainASR", "Diarizer", "Analyzer"} | (
        set() if app["args"].get("hosts_in_ingress") else {"SessionHostPool"}
    )
    assert names == set(deployments_of(app["args"]))  # the config names every deployment the builder makes
    if app["args"].get("hosts_in_ingress"):  # the sockets of a session must reach the one replica hosting it
        (ingress,) = [d for d in app["deployments"] if d["name"] == "Ingress"]
        assert ingress["num_replicas"] == 1 and "autoscaling_config" not in ingress
    batched = {
        "RealtimeASR": settings.realtime_model,
        "MainASR": settings.main_model,
        "Diarizer": settings.enrichment.diarization,
        "Analyzer": settings.enrichment.analysis,
    }
    for dep in app["deployments"]:
        if dep["name"] in batched:
            batch = dep["user_config"]["batch_size"]
            assert dep["user_config"]["batch_wait_timeout_s"] > 0  # 0 disables batching under load
            assert dep["max_ongoing_requests"] >= batch
            assert batched[dep["name"]].batch_size == batch


def test_local_config_fits_two_cpus() -> None:
    raw = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    for dep in raw["applications"][0]["deployments"]:
        assert dep["ray_actor_options"]["num_cpus"] == 0
    settings = ServerSettings.model_validate(raw["applications"][0]["args"]["settings"])
    assert settings.realtime_model.device == "cpu" and settings.realtime_model.model == "tiny.en"
    # the main model is base, decoded as scripts/measure_main_model.py chose (main_model_defaults)
    main = settings.main_model
    assert (main.device, main.model, main.window, main.window_padding_s) == ("cpu", "base", "trimmed", 5.0)
    assert (main.window_fill, main.beam_size) == ("silence", 5)


def test_sessions_hosted_in_the_ingress_need_no_pool_and_one_ingress_replica() -> None:
    assert sorted(deployments_of({"hosts_in_ingress": True})) == [
        "Analyzer",
        "Diarizer",
        "Ingress",
        "MainASR",
        "RealtimeASR",
    ]
    assert "SessionHostPool" in deployments_of({"session_hosts": 2, "ingress_replicas": 2})
    with pytest.raises(ValueError, match="one ingress replica"):
        build_app({"hosts_in_ingress": True, "ingress_replicas": 2})


@pytest.mark.parametrize(
    ("replicas", "autoscaling", "refused"),
    [(1, None, False), (2, None, True), (1, {"min_replicas": 1, "max_replicas": 3}, True)],
)
def test_an_ingress_hosting_sessions_refuses_to_start_beside_another(
    replicas: int, autoscaling: dict[str, int] | None, refused: bool
) -> None:
    # a config's `deployments` can give the Ingress more replicas than build_app checked: each
    # replica checks what Serve tells it (a second one would not find the sessions of the first)
    from ray.serve.config import AutoscalingConfig

    from deployments.ingress import single_replica

    config = SimpleNamespace(autoscaling_config=AutoscalingConfig(**autoscaling) if autoscaling else None)
    context = SimpleNamespace(_deployment_config=config, world_size=replicas)
    if refused:
        with pytest.raises(ValueError, match="need exactly one"):
            single_replica(context)  # type: ignore[arg-type]
    else:
        single_replica(context)  # type: ignore[arg-type]
