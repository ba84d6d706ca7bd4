"""The application builder that ``serve_config.yaml`` names (``deployments.app:build_app``).

``args`` (all optional):

* ``settings``: :class:`app.config.ServerSettings` (models, limits, auth, default options, store);
  secrets and API keys come from the environment (``STT_API_KEYS``, ``STT_JWT_SECRET`` …), and so
  may the store's ``STT_DATABASE_URL`` and ``STT_DATA_DIR`` where the config leaves them out;
* ``session_hosts``: how many session-host actors (default 2);
* ``hosts_in_ingress``: host the sessions in the ingress replica's own process instead (default
  false): no ``SessionHostPool`` deployment, no Ray call between a socket and its session. Both
  sockets of a session must then reach the same replica: one ingress replica only;
* ``ingress_replicas``: replicas of the ingress (default 1; the config's ``deployments`` may override).
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application, Deployment

from app.auth import AuthSettings
from app.config import ServerSettings, StoreSettings
from deployments.analyzer import Analyzer
from deployments.asr import ASR
from deployments.diarizer import Diarizer
from deployments.hosts import SessionHostPool
from deployments.ingress import Ingress
from deployments.realtime import RealtimeASR


def deployment(cls: object) -> Deployment:
    """The Serve deployment a ``@serve.deployment`` class became (a type checker does not apply class
    decorators, so it still sees the class)."""
    if not isinstance(cls, Deployment):
        raise TypeError(f"{cls!r} is not a Serve deployment")
    return cls


def load_settings(args: dict[str, Any]) -> ServerSettings:
    raw = dict(args.get("settings") or {})
    raw["auth"] = AuthSettings.from_env(raw.get("auth"))
    raw["store"] = StoreSettings.from_env(raw.get("store"))
    return ServerSettings.model_validate(raw)


def enrichment_scaling(settings: ServerSettings) -> dict[str, Any]:
    """The Diarizer's and the Analyzer's autoscaling: from zero to one replica and back when idle."""
    if not settings.enrichment.scale_to_zero:
        return {}
    return {
        "autoscaling_config": {
            "min_replicas": 0,
            "initial_replicas": 0,
            "max_replicas": 1,
            "target_ongoing_requests": 8,
            "upscale_delay_s": 0,
            "downscale_delay_s": settings.enrichment.scale_to_zero_after_s,
        }
    }


def build_app(args: dict[str, Any]) -> Application:
    # the validated settings object travels to the replicas pickled (SecretStr values included)
    settings = load_settings(args)
    intervals = {"min_interval_s": settings.partial_min_interval_s, "max_interval_s": settings.partial_max_interval_s}
    realtime = deployment(RealtimeASR).bind(settings.realtime_model.model_dump(mode="json"), intervals)
    main = deployment(ASR).options(name="MainASR").bind(settings.main_model.model_dump(mode="json"))
    # enrichment deployments: a session that turns a feature off never calls them, and with
    # scale_to_zero they hold no replica (no memory) until one turns it on
    scaling = enrichment_scaling(settings)
    diarizer = deployment(Diarizer).options(**scaling).bind(settings.enrichment.diarization.model_dump(mode="json"))
    analyzer = deployment(Analyzer).options(**scaling).bind(settings.enrichment.analysis.model_dump(mode="json"))
    replicas = int(args.get("ingress_replicas", 1))
    # the ingress runs pre-recorded transcription (the compatible REST endpoints) on the same deployments
    if args.get("hosts_in_ingress", False):
        if replicas != 1:
            raise ValueError("hosts_in_ingress needs one ingress replica (both sockets of a session reach it)")
        return deployment(Ingress).options(num_replicas=1).bind(settings, None, main, diarizer, analyzer, realtime)
    hosts = int(args.get("session_hosts", 2))
    pool = deployment(SessionHostPool).bind(settings, realtime, main, hosts, diarizer, analyzer)
    return deployment(Ingress).options(num_replicas=replicas).bind(settings, pool, main, diarizer, analyzer)
