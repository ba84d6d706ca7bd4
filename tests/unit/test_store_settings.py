"""Store settings, and audio retention on disk (FLAC files, retention sweep)."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
from pydantic import ValidationError

from app.config import ServerSettings, StoreSettings
from app.store.audio import AudioArchive


def test_defaults_are_an_sqlite_file_in_an_absolute_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = ServerSettings().store
    assert store.enabled and not store.audio_retention.enabled
    assert store.data_dir == str(tmp_path / "data")
    assert store.url == f"sqlite+aiosqlite:///{tmp_path}/data/rtstt.db"
    assert store.audio_dir == tmp_path / "data" / "audio"


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u@db:5432/stt", "postgresql+asyncpg://u@db:5432/stt"),
        ("postgres://u@db/stt", "postgresql+asyncpg://u@db/stt"),
        ("postgresql+asyncpg://u@db/stt", "postgresql+asyncpg://u@db/stt"),
        ("sqlite:////var/lib/stt.db", "sqlite+aiosqlite:////var/lib/stt.db"),
    ],
)
def test_database_urls_get_the_async_drivers(given: str, used: str) -> None:
    assert StoreSettings(database_url=given).url == used


def test_a_bad_database_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as info:
        StoreSettings(database_url="mysql://user:hunter2@db/stt")
    assert "mysql" in str(info.value) and "hunter2" not in str(info.value)
    assert "hunter2" not in repr(StoreSettings(database_url="postgresql://user:hunter2@db/stt"))


def test_the_environment_fills_in_what_the_config_leaves_out(tmp_path: Path) -> None:
    env = {"STT_DATA_DIR": str(tmp_path / "env"), "STT_DATABASE_URL": "postgresql://u:pw@db/stt"}
    from_env = StoreSettings.from_env({}, environ=env)
    assert from_env.data_dir == str(tmp_path / "env") and from_env.url == "postgresql+asyncpg://u:pw@db/stt"
    configured = StoreSettings.from_env({"data_dir": str(tmp_path / "cfg")}, environ=env)
    assert configured.data_dir == str(tmp_path / "cfg")


def test_liveness_needs_a_heartbeat_well_inside_it() -> None:
    with pytest.raises(ValidationError, match="at least twice"):
        StoreSettings(heartbeat_interval_s=40, interrupted_after_s=60)


def test_sweep_deletes_audio_past_its_retention(tmp_path: Path) -> None:
    now = 1_000_000_000.0
    archive = AudioArchive(tmp_path, retention_days=30, now=lambda: now)
    old, fresh = archive.session_dir("old"), archive.session_dir("fresh")
    for folder in (old, fresh):
        folder.mkdir()
        (folder / "0.flac").write_bytes(b"x")
    os.utime(old / "0.flac", (now - 31 * 86400, now - 31 * 86400))
    os.utime(fresh / "0.flac", (now - 29 * 86400, now - 29 * 86400))
    assert archive.sweep() == 1
    assert not old.exists() and (fresh / "0.flac").exists()
    assert archive.session_dir("..").name == "s-.."  # an id never leaves the folder


async def test_recorder_writes_flac_files_named_by_stream_offset(tmp_path: Path) -> None:
    archive = AudioArchive(tmp_path, retention_days=1)
    recorder = archive.recorder("s1", offset_s=12.5)
    tone = (0.3 * np.sin(np.arange(16000) / 16000 * 2 * np.pi * 440)).astype(np.float32)
    for _ in range(5):  # 5 s, handed to the encoder in 2 s chunks
        recorder.write(tone)
    await recorder.close()
    (file,) = archive.files("s1")
    assert file.name == "12500.flac"
    with av.open(str(file)) as container:
        decoded = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    assert len(decoded) == 5 * 16000
    assert np.allclose(decoded[:16000] / 32767.0, tone, atol=1e-3)
    assert archive.delete("s1") is True and archive.files("s1") == [] and archive.delete("s1") is False
