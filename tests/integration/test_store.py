"""The transcript store against SQLite and a real PostgreSQL (each test runs on both)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from app import protocol as p
from app.config import StoreSettings
from app.errors import InvalidRequest, StorageUnavailable
from app.store import TranscriptStore
from app.store.engine import make_engine
from app.store.models import Base

pytestmark = pytest.mark.timeout(60)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> StoreSettings:
    return StoreSettings(database_url=database_url, data_dir=str(tmp_path), batch_window_s=0.005)


@pytest.fixture
async def store(settings: StoreSettings, clock: Clock) -> AsyncIterator[TranscriptStore]:
    s = TranscriptStore(settings, now=clock)
    await s.open()
    yield s
    await s.close()


def final(session_id: str, seq: int, start: float = 0.0, **data: object) -> p.FinalResult:
    fields: dict[str, object] = {
        "text": f"Final {seq} of {session_id}.",
        "confidence": 0.875,
        "audio": {"start": start, "end": start + 1.25, "duration": 1.25},
        "timestamp": T0 + timedelta(seconds=start),
        "words": [{"word": "Final", "start": start, "end": start + 0.5, "confidence": 0.9, "speaker": None}],
        **data,
    }
    return p.FinalResult(session_id=session_id, utterance_id=seq, seq=seq, data=p.FinalData.model_validate(fields))


async def started(store: TranscriptStore, session_id: str, client_id: str = "client-a") -> None:
    await store.start_session(session_id, client_id, options={"language": "en"}, audio_start=T0)


# --------------------------------------------------------------------------- schema


def _schema_diff(conn: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


async def test_migrations_build_the_models_schema_from_empty(settings: StoreSettings) -> None:
    # two processes opening an empty database at once: one migrates, the other finds it done
    first, second = TranscriptStore(settings), TranscriptStore(settings)
    await asyncio.gather(first.open(), second.open())
    await first.close()
    await second.close()
    engine = make_engine(settings.url)  # the schema as the database has it
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
            diff = await conn.run_sync(_schema_diff)
    finally:
        await engine.dispose()
    assert {"sessions", "finals", "speaker_revisions", "alembic_version"} <= tables
    assert version == "0002"
    assert diff == [], f"migrations and app/store/models.py disagree: {diff}"
    # opening again is a no-op
    again = TranscriptStore(settings)
    await again.open()
    await again.close()


async def test_a_database_made_by_the_first_revision_upgrades_with_its_sessions(settings: StoreSettings) -> None:
    from alembic import command

    from app.store.engine import alembic_config

    engine = make_engine(settings.url)
    try:
        async with engine.connect() as conn:  # the schema as the previous release left it, with a session
            await conn.run_sync(lambda c: command.upgrade(_config(alembic_config(), c), "0001"))
            await conn.execute(
                text(
                    "INSERT INTO sessions (id, client_id, status, options, audio_start, started_at, last_seen_at,"
                    " audio_duration) VALUES ('old', 'client-a', 'active', '{}', :t, :t, :t, 1.5)"
                ),
                {"t": T0.replace(tzinfo=None) if engine.dialect.name == "sqlite" else T0},
            )
            await conn.commit()
    finally:
        await engine.dispose()
    store = TranscriptStore(settings)
    try:
        record = await store.get_session("old")  # opening upgrades to the newest revision
        assert record is not None and record.session_state is None and record.audio_duration == 1.5
        assert await store.revisions("old") == []
    finally:
        await store.close()


def _config(config: Any, connection: Connection) -> Any:
    config.attributes["connection"] = connection
    return config


async def test_speaker_revisions_are_stored_and_applied_to_their_finals(store: TranscriptStore) -> None:
    await started(store, "s1")
    words = [
        {"word": w, "start": 0.1 * i, "end": 0.1 * i + 0.1, "confidence": 0.9, "speaker": "speaker_1"}
        for i, w in enumerate("abc")
    ]
    first, second = final("s1", 1, words=words), final("s1", 2, start=2.0)
    await asyncio.gather(store.save_final(first), store.save_final(second))
    both = p.Speakers(
        count=2,
        details=[
            p.SpeakerDetail(id="speaker_1", speaking_time=0.2, segments=[p.SpeakerSegment(start=0.0, end=0.2)]),
            p.SpeakerDetail(id="speaker_2", speaking_time=0.1, segments=[p.SpeakerSegment(start=0.2, end=0.3)]),
        ],
    )
    revision = p.SpeakerRevision(
        session_id="s1",
        revision=1,
        after_seq=2,
        finals=[
            p.RevisedFinal(seq=1, utterance_id=1, speakers=both, words=[p.WordSpeaker(index=2, speaker="speaker_2")])
        ],
    )
    await store.save_revision(revision)
    await store.save_revision(revision)  # a retried write is a no-op
    stored = await store.finals("s1")
    assert stored == [revision.apply(first), second]
    assert [w.speaker for w in stored[0].data.words] == ["speaker_1", "speaker_1", "speaker_2"]
    assert await store.revisions("s1") == [revision]
    await store.save_state("s1", {"diarization": {"clusters": {"sums": []}, "revision": 1}})
    record = await store.get_session("s1")
    assert record is not None and record.session_state == {"diarization": {"clusters": {"sums": []}, "revision": 1}}
    assert await store.delete_session("s1")
    assert await store.revisions("s1") == []


# --------------------------------------------------------------------------- writes


async def test_concurrent_sessions_write_in_shared_commits(store: TranscriptStore) -> None:
    sessions = [f"s{i}" for i in range(8)]
    await asyncio.gather(*(started(store, sid) for sid in sessions))

    async def stream(sid: str) -> None:
        for seq in range(1, 26):  # one session's finals come one after the other
            await store.save_final(final(sid, seq, start=seq * 2.0))

    commits = store.commits
    await asyncio.gather(*(stream(sid) for sid in sessions))
    assert store.commits - commits < 8 * 25 / 2, "finals of concurrent sessions should share commits"
    for sid in sessions:
        finals = await store.finals(sid)
        assert [f.seq for f in finals] == list(range(1, 26))
        assert all(f.session_id == sid for f in finals)
        record = await store.get_session(sid)
        assert record is not None and (record.finals, record.last_seq, record.last_audio_end) == (25, 25, 51.25)


async def test_a_final_of_an_unknown_session_fails_alone(store: TranscriptStore) -> None:
    await started(store, "s1")
    good, bad = await asyncio.gather(
        store.save_final(final("s1", 1)), store.save_final(final("ghost", 1)), return_exceptions=True
    )
    assert good is None and isinstance(bad, StorageUnavailable)
    assert [f.seq for f in await store.finals("s1")] == [1] and await store.finals("ghost") == []


async def test_a_final_comes_back_exactly_as_it_was_sent(store: TranscriptStore) -> None:
    await started(store, "s1")
    sent = final(
        "s1",
        1,
        start=3.5,
        speakers={
            "count": 2,
            "details": [
                {"id": "speaker_1", "speaking_time": 0.75, "segments": [{"start": 3.5, "end": 4.25}]},
                {"id": "speaker_2", "speaking_time": 0.5, "segments": [{"start": 4.25, "end": 4.75}]},
            ],
        },
        analysis={
            "sentiment": {"overall": {"label": "positive", "score": 0.8}, "by_sentence": []},
            "topics": [{"topic": "travel", "confidence": 0.7, "mentions": ["train"]}],
        },
        filters={"profanity": {"detected": True, "filtered_words": ["d***"]}},
        wake_word_detected=True,
        transcription_time=0.123,
    )
    await store.save_final(sent)
    await store.save_final(sent)  # a retried write is a no-op
    (got,) = await store.finals("s1")
    assert got == sent
    assert got.model_dump_json() == sent.model_dump_json()


async def test_session_states(store: TranscriptStore, clock: Clock, settings: StoreSettings) -> None:
    for sid in ("live", "stopped", "shutdown", "silent"):
        await started(store, sid)

    async def status(sid: str) -> str | None:
        record = await store.get_session(sid)
        assert record is not None
        return f"{record.status}/{record.end_reason}"

    await store.end_session("stopped", reason="stopped", audio_duration=12.5)
    await store.end_session("shutdown", reason="shutdown", audio_duration=3.0)
    assert await status("live") == "active/None"
    assert await status("stopped") == "ended/stopped"
    assert await status("shutdown") == "interrupted/shutdown"  # its client may resume it
    ended = await store.get_session("stopped")
    assert ended is not None and ended.ended_at == T0 and ended.audio_duration == 12.5

    # a host that stops marking its sessions alive has gone: they are reported interrupted
    clock.now = T0 + timedelta(seconds=settings.interrupted_after_s - 1)
    await store.touch_sessions({"live": 40.0})
    clock.now = T0 + timedelta(seconds=settings.interrupted_after_s + 1)
    assert await status("live") == "active/None"
    assert await status("silent") == "interrupted/None"
    live = await store.get_session("live")
    assert live is not None and live.audio_duration == 40.0

    await store.resume_session("shutdown")  # a new host took it over
    assert await status("shutdown") == "active/None"
    await store.touch_sessions({"stopped": 99.0})  # a late heartbeat does not revive an ended session
    assert await status("stopped") == "ended/stopped"


async def test_delete_removes_the_session_and_its_finals(store: TranscriptStore) -> None:
    for sid in ("keep", "drop"):
        await started(store, sid)
        await store.save_final(final(sid, 1))
    assert await store.delete_session("drop") is True
    assert await store.get_session("drop") is None
    assert await store.finals("drop") == []
    assert await store.delete_session("drop") is False
    assert [f.seq for f in await store.finals("keep")] == [1]


# --------------------------------------------------------------------------- reads


async def test_pages_newest_first_with_time_filters(store: TranscriptStore, clock: Clock) -> None:
    for minute in range(7):
        clock.now = T0 + timedelta(minutes=minute)
        await started(store, f"a{minute}")
    await started(store, "b0", client_id="client-b")

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = await store.list_sessions("client-a", limit=3, cursor=cursor)
        seen += [s.session_id for s in page.sessions]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"a{m}" for m in reversed(range(7))]  # every session once, newest first

    window = await store.list_sessions(
        "client-a", since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=5), limit=100
    )
    assert [s.session_id for s in window.sessions] == ["a4", "a3", "a2"] and window.next_cursor is None
    assert [s.session_id for s in (await store.list_sessions("client-b")).sessions] == ["b0"]
    assert (await store.list_sessions("client-c")).sessions == []


@pytest.mark.parametrize("cursor", ["nope", "bm90IGpzb24", "WzEsMl0"])
async def test_a_bad_cursor_is_a_client_error(store: TranscriptStore, cursor: str) -> None:
    with pytest.raises(InvalidRequest, match="cursor"):
        await store.list_sessions("client-a", cursor=cursor)


async def test_an_unreachable_database_is_storage_unavailable(tmp_path: Path, unused_tcp_port: int) -> None:
    url = f"postgresql+asyncpg://postgres:secret@127.0.0.1:{unused_tcp_port}/nothing"
    store = TranscriptStore(StoreSettings(database_url=url, data_dir=str(tmp_path)))
    with pytest.raises(StorageUnavailable) as failed:
        await store.get_session("s1")
    assert "secret" not in failed.value.message and "127.0.0.1" not in failed.value.message
    await store.close()
    with pytest.raises(StorageUnavailable, match="closed"):
        await store.save_final(final("s1", 1))
