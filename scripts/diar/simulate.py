"""The streaming diarization of one recording, replayed in numpy with cached embeddings.

What the service does, step for step, without Whisper and without Ray, so that thresholds can be
searched in seconds: the real VAD and segmenter cut utterances; while one is in progress the
speaker tracker's windows (``app.enrich.turns``) may end it at a speaker change; each final is
planned, split and clustered by the same functions the Diarizer's enricher calls
(``app.enrich.diarization``, ``app.enrich.clustering``), with the second pass after every final.
The differences from the service: no word times (a final's speech region is its loud part, as
with an empty transcript), each window is loudness-normalised on its own, and window positions
are rounded to 80 ms so that the cache serves every setting.

Embeddings come from :class:`EmbeddingCache`: Resemblyzer runs only for windows not seen before,
and the cache lives in an npz file a recording and a window size.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from app.enrich import diarization as dz
from app.enrich.clustering import ClusterParams, OnlineClusterer
from app.enrich.ports import EmbedRequest
from app.enrich.speakers import SEGMENT_GAP_S, SEGMENT_RANGE_DB
from app.enrich.turns import ChangeDetector, ChangeParams, Window, quietest
from app.options import VadOptions
from app.transcript import SAMPLE_RATE, Audio
from app.vad import Segmenter, SpeechStart, UtteranceEnd, VoiceDetector

from .devset import Recording, Segment

QUANTUM = 1280  # 80 ms
CACHE = Path("/tmp/rtstt-diar-cache")


class EmbeddingCache:
    """Embeddings of (start, length) windows of one recording at one model window size."""

    def __init__(self, rec: Recording, window_s: float, folder: Path = CACHE, *, allow_model: bool = True) -> None:
        self.rec = rec
        self.window_s = window_s
        digest = hashlib.sha1(rec.audio.tobytes()).hexdigest()[:10]
        self.path = folder / f"{rec.name}-{digest}-w{int(window_s * 1000)}.npz"
        self.allow_model = allow_model
        self._table: dict[tuple[int, int], np.ndarray] = {}
        self.misses = 0
        self._approx: dict[tuple[int, int], np.ndarray] = {}  # served by a neighbour (model not allowed)
        self.pending: set[tuple[int, int]] = set()
        if self.path.exists():
            data = np.load(self.path)
            for (s, n), e in zip(data["keys"], data["emb"], strict=True):
                self._table[(int(s), int(n))] = e
        self._dirty = False

    @staticmethod
    def key(start: int, end: int) -> tuple[int, int]:
        s = round(start / QUANTUM) * QUANTUM
        return max(0, s), max(QUANTUM, round((end - start) / QUANTUM) * QUANTUM)

    def embed(self, spans: Sequence[tuple[int, int]]) -> np.ndarray:
        keys = [self.key(s, e) for s, e in spans]
        missing = list(dict.fromkeys(k for k in keys if k not in self._table and k not in self._approx))
        if missing:
            self._compute(missing)
        rows = [self._table[k] if k in self._table else self._approx[k] for k in keys]
        return np.stack(rows) if rows else np.zeros((0, 256), np.float32)

    @property
    def approximated(self) -> int:
        return len(self.pending)

    def fill_pending(self) -> int:
        """Embed the windows earlier runs without the model had to approximate."""
        todo = [k for k in self._load_pending() if k not in self._table]
        if todo:
            self._compute(todo)
        self._pending_path.unlink(missing_ok=True)
        return len(todo)

    @property
    def _pending_path(self) -> Path:
        return self.path.with_suffix(".pending.json")

    def _load_pending(self) -> set[tuple[int, int]]:
        if not self._pending_path.exists():
            return set()
        return {(int(a), int(b)) for a, b in json.loads(self._pending_path.read_text())}

    def _compute(self, keys: list[tuple[int, int]]) -> None:
        if not self.allow_model:
            # the nearest cached window (same length first), noted for a later run with the model
            for s, n in keys:
                near = sorted((cn != n or abs(cs - s) > 3 * QUANTUM, abs(cs - s), (cs, cn)) for cs, cn in self._table)
                if not near:
                    raise KeyError(f"nothing of {self.rec.name} is cached (w={self.window_s}): run --prefill")
                self._approx[(s, n)] = self._table[near[0][2]]
                self.pending.add((s, n))
            return
        engine = _engine(self.window_s)
        audio = self.rec.audio
        requests = []
        for s, n in keys:
            x = audio[s : s + n]
            if len(x) < n:
                x = np.concatenate([x, np.zeros(n - len(x), np.float32)])
            requests.append(EmbedRequest(dz.normalize_loudness(x), ((0, n),)))
        for i in range(0, len(requests), 64):
            for k, e in zip(keys[i : i + 64], engine.embed_batch(requests[i : i + 64]), strict=True):
                self._table[k] = e[0]
        self.misses += len(keys)
        self._dirty = True

    def prefill(self, hop_s: float = 0.08) -> None:
        """Every whole window starting on a ``hop_s`` grid."""
        n = int(self.window_s * SAMPLE_RATE)
        step = max(QUANTUM, round(hop_s * SAMPLE_RATE / QUANTUM) * QUANTUM)
        self.embed([(s, s + n) for s in range(0, max(1, len(self.rec.audio) - n), step)])

    def save(self) -> None:
        if self.pending:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            all_pending = sorted(self._load_pending() | self.pending)
            self._pending_path.write_text(json.dumps(all_pending))
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.asarray(list(self._table), np.int64)
        emb = np.stack(list(self._table.values())).astype(np.float32)
        np.savez(self.path, keys=keys, emb=emb)
        self._dirty = False


_ENGINES: dict[float, Any] = {}


def _engine(window_s: float) -> Any:
    if window_s not in _ENGINES:
        from app.engines.resemblyzer import ResemblyzerEngine

        _ENGINES[window_s] = ResemblyzerEngine(window_s=window_s, cpu_threads=2)
    return _ENGINES[window_s]


def utterances(audio: Audio, vad: VadOptions | None = None, chunk: int = 1600) -> list[tuple[int, int]]:
    """The real VAD and segmenter over the audio in 100 ms chunks, as a session runs them."""
    vad = vad or VadOptions()
    detector, segmenter = VoiceDetector(vad), Segmenter(vad)
    out: list[tuple[int, int]] = []

    def take(events: Sequence[SpeechStart | UtteranceEnd]) -> None:
        out.extend((e.start, e.end) for e in events if isinstance(e, UtteranceEnd))

    padded = np.concatenate([audio, np.zeros(SAMPLE_RATE, np.float32)])
    for i in range(0, len(padded), chunk):
        for d in detector.push(padded[i : i + chunk]):
            take(segmenter.push(d.is_speech, d.end, confident=d.confident))
        if (quiet := detector.quiet_tail()) is not None:
            take(segmenter.quiet_until(quiet))
    take(segmenter.force_end(len(padded), "stop"))
    return out


@dataclass(frozen=True)
class SimParams:
    window_s: float = 1.6
    hop_s: float = 0.8
    change_threshold: float = 0.70
    min_turn_s: float = 1.6
    cluster: ClusterParams = field(default_factory=ClusterParams)
    track: ChangeParams | None = None  # None: utterances are not split at speaker changes
    revise: bool = False

    def with_(self, **kw: Any) -> SimParams:
        cluster = {k[2:]: kw.pop(k) for k in list(kw) if k.startswith("c_")}
        track = {k[2:]: kw.pop(k) for k in list(kw) if k.startswith("t_")}
        out = replace(self, **kw)
        if cluster:
            out = replace(out, cluster=replace(out.cluster, **cluster))
        if track:
            out = replace(out, track=replace(out.track or ChangeParams(window_s=out.window_s), **track))
        return out


@dataclass
class SimResult:
    segments: list[Segment]  # labels after every revision (what a client that applies them has)
    online: list[Segment]  # labels as each final was first sent
    finals: list[tuple[int, int]]
    splits: int
    revised_turns: int


def simulate(rec: Recording, utts: list[tuple[int, int]], cache: EmbeddingCache, params: SimParams) -> SimResult:
    audio = rec.audio
    w = int(params.window_s * SAMPLE_RATE)
    finals: list[tuple[int, int]] = []
    splits = 0
    track = params.track
    for us, ue in utts:
        start = us
        if track is not None:
            det = ChangeDetector(track)
            det.reset(us)
            hop = int(track.hop_s * SAMPLE_RATE)
            e = us + w
            while e <= ue:
                emb = cache.embed([(e - w, e)])[0]
                p = det.add(Window(e - w, e, emb))
                if p is not None:
                    reach = int(track.snap_s * SAMPLE_RATE)
                    lo = max(p - reach, start)
                    p = quietest(audio[lo : p + reach], lo, p, reach)
                    if start < p < e:
                        finals.append((start, p))
                        splits += 1
                        start = p
                        det.reset(p)
                e += hop
        finals.append((start, ue))

    wp = dz.WindowParams(
        window_s=params.window_s,
        hop_s=params.hop_s,
        change_threshold=params.change_threshold,
        min_turn_s=params.min_turn_s,
    )
    clusterer = OnlineClusterer(params.cluster)
    spans: dict[tuple[int, int], list[tuple[float, float]]] = {}
    online: dict[tuple[int, int], str] = {}
    final_labels: dict[tuple[int, int], str] = {}
    revised: set[tuple[int, int]] = set()
    for fi, (fs, fe) in enumerate(finals):
        plan = dz.plan(audio[fs:fe], [], wp)
        if plan is None:
            continue
        base = fs + plan.region[0]
        emb = cache.embed([(base + a, base + b) for a, b in plan.windows])
        for k, t in enumerate(dz.split_turns(plan, emb, [], wp)):
            key = (fi, k)
            m = clusterer.assign(t.embedding, t.seconds, key=key)
            online[key] = final_labels[key] = m.label
            spans[key] = _loud(audio, fs + t.start, fs + t.end)
        if params.revise:
            for r in clusterer.revise():
                final_labels[r.key] = r.new
                revised.add(r.key)
    segs = [(a, b, final_labels[k]) for k, parts in spans.items() for a, b in parts]
    first = [(a, b, online[k]) for k, parts in spans.items() for a, b in parts]
    return SimResult(segs, first, finals, splits, len(revised))


def _loud(audio: Audio, start: int, end: int) -> list[tuple[float, float]]:
    if end - start < SAMPLE_RATE // 10:
        return [(start / SAMPLE_RATE, end / SAMPLE_RATE)]
    parts = dz.loud_parts(audio[start:end], range_db=SEGMENT_RANGE_DB, gap_s=SEGMENT_GAP_S)
    return [((start + a) / SAMPLE_RATE, (start + b) / SAMPLE_RATE) for a, b in parts]


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Score:
    der0: float
    der25: float
    jer: float
    speakers: int
    reference_speakers: int
    confusion: float  # collar 0.25, share of reference speech

    @property
    def count_ok(self) -> bool:
        return self.speakers == self.reference_speakers


def score(reference: Sequence[Segment], hypothesis: Sequence[Segment], seconds: float) -> Score:
    from pyannote.core import Annotation, Timeline
    from pyannote.core import Segment as PSeg
    from pyannote.metrics.diarization import DiarizationErrorRate, JaccardErrorRate

    def annotation(segs: Sequence[Segment]) -> Annotation:
        a = Annotation()
        for n, (s, e, spk) in enumerate(segs):
            if e > s:
                a[PSeg(s, e), n] = spk
        return a

    ref, hyp = annotation(reference), annotation(hypothesis)
    uem = Timeline([PSeg(0, seconds)])
    der0 = DiarizationErrorRate(collar=0.0)(ref, hyp, uem=uem)
    detail = DiarizationErrorRate(collar=0.25)(ref, hyp, uem=uem, detailed=True)
    jer = JaccardErrorRate(collar=0.0)(ref, hyp, uem=uem)
    total = detail["total"] or 1.0
    return Score(
        float(der0),
        float(detail["diarization error rate"]),
        float(jer),
        len(hyp.labels()),
        len(ref.labels()),
        float(detail["confusion"] / total),
    )
