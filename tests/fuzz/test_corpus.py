"""The seed corpus, replayed in every run whatever the fuzzing profile: each file once through its
decoder or the parser directly, and once through the real app after a clean clip's final.

Every defect the fuzzing found left its input here (see ``corpus/README.md``), so each is a
regression test of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import protocol as p
from app.audio import make_decoder
from app.config import Limits
from app.errors import ProtocolError
from app.options import AudioOptions
from tests.fuzz.checks import check_error, run_decoder
from tests.fuzz.flows import ALL_CODES, Step, Stream, audio_steps, fuzz_session
from tests.fuzz.seeds import AudioSeed, audio_seeds, message_seeds
from tests.integration.conftest import Stack

pytestmark = pytest.mark.timeout(60)

AUDIO = audio_seeds()
MESSAGES = message_seeds()


def test_the_corpus_is_there() -> None:
    assert len(AUDIO) >= 10 and len(MESSAGES) >= 10
    assert all(s.path.stat().st_size <= 64 * 1024 for s in AUDIO)  # small files


@pytest.mark.parametrize("seed", AUDIO, ids=[s.id for s in AUDIO])
def test_audio_seed_through_its_decoder(seed: AudioSeed, streams: dict[str, Stream]) -> None:
    options = AudioOptions(encoding=seed.encoding, **streams[seed.encoding].options)  # type: ignore[arg-type]
    run_decoder(make_decoder(options, Limits()), seed.frames())


@pytest.mark.parametrize("seed", AUDIO, ids=[s.id for s in AUDIO])
def test_audio_seed_through_the_app(stack: Stack, streams: dict[str, Stream], seed: AudioSeed) -> None:
    fuzz_session(stack, streams[seed.encoding], audio_steps(seed.frames()), ALL_CODES)


@pytest.mark.parametrize("path", MESSAGES, ids=[p.stem for p in MESSAGES])
def test_message_seed_through_the_parser(path: Path) -> None:
    try:
        p.parse_client_message(path.read_bytes())
    except ProtocolError as exc:
        check_error(exc)


def test_message_seeds_through_the_app(stack: Stack, streams: dict[str, Stream]) -> None:
    """Every message seed on one session's control socket, then each on the attached audio socket."""
    texts = [path.read_bytes().decode("utf-8", "replace") for path in MESSAGES]
    steps = [Step("control", text=t) for t in texts] + [Step("audio", text=t) for t in texts]
    fuzz_session(stack, streams["pcm_s16le"], steps, ALL_CODES)
