"""The enrichment models load on first use (settings.enrichment.scale_to_zero): the Diarizer has no
replica until a session asks for speakers, and that session still gets them on its first final.

The file name sorts first in tests/e2e on purpose: the suite shares one app, and once any test has
used diarization the Diarizer is awake for the rest of the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from ray import serve

from app import protocol as p
from app.client import SttClient

pytestmark = pytest.mark.e2e


def running_replicas(name: str) -> int:
    deployment = serve.status().applications["stt"].deployments[name]
    return int(deployment.replica_states.get("RUNNING", 0))


async def test_the_diarizer_wakes_on_first_use_and_the_first_final_has_speakers(
    serve_url: str, shared_data: Path
) -> None:
    assert running_replicas("Diarizer") == 0, "an earlier test woke the Diarizer: this test must run first"
    assert running_replicas("Analyzer") == 0
    client = SttClient(serve_url, api_key="key-a")
    async with client.stream(options={"features": {"speaker_diarization": True}}) as s:
        await s.send_file(shared_data / "clips" / "sb_spk1_snt1.wav", realtime=False)
        await s.send_audio(bytes(32000))
        finals = await s.finish()
    assert finals and isinstance(finals[0], p.FinalResult)
    speakers = finals[0].data.speakers
    assert speakers is not None and [d.id for d in speakers.details] == ["speaker_1"]
    assert all(w.speaker == "speaker_1" for w in finals[0].data.words)
    assert running_replicas("Diarizer") == 1
    assert running_replicas("Analyzer") == 0  # a feature no session used loads nothing
