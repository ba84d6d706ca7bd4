"""The Serve configs parse as Serve deploy configs and their settings as ServerSettings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from app.config import ServerSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["serve_config.yaml", "serve_config.gpu.yaml", "serve_config.cluster.yaml"])
def test_serve_config_is_valid(name: str) -> None:
    raw = yaml.safe_load((ROOT / name).read_text())
    ServeDeploySchema.model_validate(raw)  # raises on anything Serve would reject
    (app,) = raw["applications"]
    assert app["import_path"] == "deployments.app:build_app"
    settings = ServerSettings.model_validate(app["args"]["settings"])
    names = {d["name"] for d in app["deployments"]}
    assert names == {"Ingress", "SessionHostPool", "RealtimeASR", "MainASR", "Diarizer", "Analyzer"}
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
