"""The application builder that ``serve_config.yaml`` names (``deployments.app:build_app``).

``args`` (all optional):

* ``settings``: :class:`app.config.ServerSettings` (models, limits, auth, default options);
  secrets and API keys come from the environment (``STT_API_KEYS``, ``STT_JWT_SECRET`` …);
* ``session_hosts``: how many session-host actors (default 2);
* ``ingress_replicas``: replicas of the ingress (default 1; the config's ``deployments`` may override).
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from app.auth import AuthSettings
from app.config import ServerSettings
from deployments.asr import ASR
from deployments.hosts import SessionHostPool
from deployments.ingress import Ingress


def load_settings(args: dict[str, Any]) -> ServerSettings:
    raw = dict(args.get("settings") or {})
    raw["auth"] = AuthSettings.from_env(raw.get("auth"))
    return ServerSettings.model_validate(raw)


def build_app(args: dict[str, Any]) -> Application:
    # the validated settings object travels to the replicas pickled (SecretStr values included)
    settings = load_settings(args)
    realtime = ASR.options(name="RealtimeASR").bind(settings.realtime_model.model_dump(mode="json"))
    main = ASR.options(name="MainASR").bind(settings.main_model.model_dump(mode="json"))
    pool = SessionHostPool.bind(settings, realtime, main, int(args.get("session_hosts", 2)))
    ingress = Ingress.options(num_replicas=int(args.get("ingress_replicas", 1)))
    return ingress.bind(settings, pool)
