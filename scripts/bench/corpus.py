"""The benchmark stream and its offline ground truth.

The stream is every human clip of ``shared/data`` that has a reference and ``use_for_wer`` (the
digit-string clip is left out: its reference is model output and spells digits), decoded to 16 kHz
mono and joined with silence: ``LEAD_S`` before the first clip, ``GAP_S`` between clips, ``TAIL_S``
after the last. Its reference text is the clips' references in order.

The ground truth is one offline transcription of each clip, whole, by ``WhisperEngine`` with
Whisper's full 30 s window and word timestamps; word times are moved to the clip's place in the
stream. Its words are aligned with the clip's reference and only the words it got right are kept
(a hallucinated "thank you" or a misheard word has no place in the audio to time). They give the
word times latencies are measured from; the same transcription gives the offline WER streaming is
compared with. It is cached in the output folder under the stream's hash and the model's settings.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.audio.files import load_audio, to_pcm16
from app.transcript import SAMPLE_RATE, Audio
from bench import ROOT
from tests.wer import normalize, pooled_wer

DEFAULT_MANIFEST = ROOT.parent / "shared" / "data" / "manifest.json"
#: clips with ``use_for_wer`` that stay out of the stream (a digit string with a model-made reference)
SKIPPED_CLIPS = frozenset({"vosk_test"})
#: only recordings of people: the synthetic dialogue's "tts" kind is left out
HUMAN_KINDS = ("human",)
LEAD_S = 1.0
GAP_S = 1.0
TAIL_S = 1.5
GROUND_TRUTH_MODEL: dict[str, Any] = {"model": "tiny.en", "window": "full", "compute_type": "int8"}
CACHE_VERSION = 2  # bump when what is cached changes


@dataclass(frozen=True)
class PlacedClip:
    id: str
    reference: str
    start_s: float  # where the clip starts in the stream
    duration_s: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True)
class BenchStream:
    audio: Audio
    clips: tuple[PlacedClip, ...]

    @property
    def duration_s(self) -> float:
        return float(self.audio.shape[0] / SAMPLE_RATE)

    @property
    def reference(self) -> str:
        return " ".join(c.reference for c in self.clips)

    def pcm(self) -> bytes:
        return to_pcm16(self.audio)

    def digest(self) -> str:
        return hashlib.sha256(self.pcm()).hexdigest()[:16]

    def rotated(self, first: int) -> BenchStream:
        """The same clips and silences starting at clip ``first`` (wrapping round): the same audio and
        reference words, its utterances ending at other times (an independent speaker's stream)."""
        first %= len(self.clips)
        if first == 0:
            return self
        order = [*self.clips[first:], *self.clips[:first]]
        pieces: list[Audio] = [_silence(LEAD_S)]
        placed: list[PlacedClip] = []
        at = LEAD_S
        for i, clip in enumerate(order):
            if i:
                pieces.append(_silence(GAP_S))
                at += GAP_S
            begin = round(clip.start_s * SAMPLE_RATE)
            audio = self.audio[begin : begin + round(clip.duration_s * SAMPLE_RATE)]
            placed.append(PlacedClip(clip.id, clip.reference, round(at, 6), clip.duration_s))
            pieces.append(audio)
            at += audio.shape[0] / SAMPLE_RATE
        pieces.append(_silence(TAIL_S))
        return BenchStream(np.concatenate(pieces).astype(np.float32), tuple(placed))


@dataclass(frozen=True)
class TruthWord:
    text: str  # as the offline model wrote it
    key: str  # one normalised token (a word like "803" gives three), what emitted words are compared with
    start_s: float  # seconds from the start of the stream
    end_s: float
    clip_id: str


@dataclass(frozen=True)
class GroundTruth:
    stream_digest: str
    model: dict[str, Any]
    words: tuple[TruthWord, ...]
    offline_text: dict[str, str]  # clip id -> the offline transcript
    offline_wer: float  # pooled over the clips
    reference_words: int  # normalised reference tokens in the stream; ``words`` holds those the model timed
    seconds: float  # how long the transcription took (0 when read from the cache)

    def words_of(self, clip_id: str) -> list[TruthWord]:
        return [w for w in self.words if w.clip_id == clip_id]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def moved(self, source: BenchStream, target: BenchStream) -> GroundTruth:
        """This truth of ``source`` for ``target``, the same clips placed elsewhere (:meth:`BenchStream.rotated`):
        each word moves with its clip."""
        shift = {c.id: c.start_s for c in target.clips}
        for clip in source.clips:
            shift[clip.id] -= clip.start_s
        moved = (
            TruthWord(w.text, w.key, w.start_s + shift[w.clip_id], w.end_s + shift[w.clip_id], w.clip_id)
            for w in self.words
        )
        words = sorted(moved, key=lambda w: w.start_s)
        return GroundTruth(
            **{**asdict(self), "words": tuple(words), "stream_digest": target.digest(), "seconds": self.seconds}
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GroundTruth:
        words = tuple(TruthWord(**w) for w in data["words"])
        return cls(**{**data, "words": words, "seconds": 0.0})


def select_clips(manifest: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(manifest.read_text())
    return [
        e
        for e in entries
        if e.get("use_for_wer")
        and e.get("reference")
        and e["id"] not in SKIPPED_CLIPS
        and str(e.get("kind", "")).startswith(HUMAN_KINDS)
    ]


def build_stream(manifest: Path = DEFAULT_MANIFEST) -> BenchStream:
    pieces: list[Audio] = [_silence(LEAD_S)]
    placed: list[PlacedClip] = []
    at = LEAD_S
    for i, entry in enumerate(select_clips(manifest)):
        if i:
            pieces.append(_silence(GAP_S))
            at += GAP_S
        audio = load_audio(manifest.parent / entry["file"])
        # whole samples, so that clip offsets in seconds stay exact
        placed.append(PlacedClip(entry["id"], entry["reference"], round(at, 6), audio.shape[0] / SAMPLE_RATE))
        pieces.append(audio)
        at += audio.shape[0] / SAMPLE_RATE
    if not placed:
        raise SystemExit(f"{manifest}: no clip to stream")
    pieces.append(_silence(TAIL_S))
    return BenchStream(np.concatenate(pieces).astype(np.float32), tuple(placed))


def ground_truth(stream: BenchStream, cache_dir: Path) -> GroundTruth:
    """The cached ground truth of this stream, or a fresh transcription (a few seconds)."""
    digest = stream.digest()
    tagged = {**GROUND_TRUTH_MODEL, "cache_version": CACHE_VERSION}
    model_tag = hashlib.sha256(json.dumps(tagged, sort_keys=True).encode()).hexdigest()[:8]
    path = cache_dir / f"ground-truth-{digest}-{model_tag}.json"
    if path.exists():
        return GroundTruth.from_json(json.loads(path.read_text()))
    truth = _transcribe(stream, digest)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(truth.to_json(), indent=1) + "\n")
    return truth


def _transcribe(stream: BenchStream, digest: str) -> GroundTruth:
    from app.config import ModelSettings
    from app.engines import WhisperEngine
    from app.transcript import TranscribeRequest

    started = time.perf_counter()
    words: list[TruthWord] = []
    texts: dict[str, str] = {}
    with WhisperEngine(ModelSettings(**GROUND_TRUTH_MODEL)) as engine:
        for clip in stream.clips:
            first = round(clip.start_s * SAMPLE_RATE)
            audio = stream.audio[first : first + round(clip.duration_s * SAMPLE_RATE)]
            result = engine.transcribe(TranscribeRequest(audio=audio, word_timestamps=True))
            texts[clip.id] = result.text
            timed = [
                TruthWord(
                    w.text, key, clip.start_s + w.start / SAMPLE_RATE, clip.start_s + w.end / SAMPLE_RATE, clip.id
                )
                for w in result.words
                for key in normalize(w.text).split()
            ]
            words += _correct(timed, normalize(clip.reference).split())
    offline = pooled_wer([(c.reference, texts[c.id]) for c in stream.clips])
    return GroundTruth(
        stream_digest=digest,
        model=dict(GROUND_TRUTH_MODEL),
        words=tuple(words),
        offline_text=texts,
        offline_wer=offline,
        reference_words=len(normalize(stream.reference).split()),
        seconds=time.perf_counter() - started,
    )


def _correct(timed: list[TruthWord], reference: list[str]) -> list[TruthWord]:
    """The words of ``timed`` that an alignment with ``reference`` finds equal."""
    matcher = difflib.SequenceMatcher(a=[w.key for w in timed], b=reference, autojunk=False)
    return [timed[block.a + i] for block in matcher.get_matching_blocks() for i in range(block.size)]


def _silence(seconds: float) -> Audio:
    return np.zeros(round(seconds * SAMPLE_RATE), np.float32)
