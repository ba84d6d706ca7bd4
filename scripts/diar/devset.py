"""The conversation dev set for diarization: real multi-speaker recordings with their RTTM, and
telephone calls assembled (deterministically) from real single-speaker clips, with their RTTM
written as they are assembled.

Real recordings (``../shared/data``, ``manifest_more.json``): two AMI meeting excerpts (3 speakers,
turns of ~1.4 s, overlaps), a radio phone-in (4 speakers, turns of 3–9 s), and the two-voice
synthetic dialogue (``endgame``: two TTS voices alternating; reference turns from its digital
silences, as ``tests/dialogue.py``).

Assembled calls: each speaker's real speech cut at its pauses into turns of 1–4 s (the reference
marks the speech in each: 20 ms frames within 30 dB of the piece's loudest and 12 dB over the
source clip's noise floor, pauses under 0.3 s bridged), the turns of
two or three speakers alternated with gaps of 0.1–0.5 s and, now and then, a 0.3 s overlap; every
speaker at a level of their own; then the telephone channel: 8 kHz, a 300–3400 Hz band-pass, line
noise at −50 dBFS and G.711 µ-law. The call is what a phone client would send (8 kHz); ``audio``
is it resampled to 16 kHz as the service does. Nothing random is left to chance: each call has
its own seed.

Which recordings tune the thresholds (``tuning``) and which only report is fixed here, so that
every figure says which set it comes from. The split is by voice: the tuning set holds one AMI
excerpt and everything made of four voices (speechbrain's spk1 and spk2, jfk, the two_cities
reader); the report-only set holds the other AMI excerpt, the radio phone-in, the TTS dialogue and
the calls with voices never tuned on (vosk's speaker, the Spanish and French readers).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.audio.files import load_audio, to_pcm16
from app.audio.resample import resample
from app.enrich.diarization import loud_span
from app.transcript import SAMPLE_RATE, Audio

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
TELEPHONE_RATE = 8000
#: the dialogue's reference turns are narrowed to their loud part: first to last 20 ms frame within this of the loudest
REF_RANGE_DB = 35.0

Segment = tuple[float, float, str]  # start s, end s, speaker


@dataclass(frozen=True)
class Recording:
    name: str
    audio: Audio  # 16 kHz float32: what the service works on
    reference: tuple[Segment, ...]
    kind: str  # "real", "synthetic" (TTS voices), "assembled" (a telephone call), "single" (one speaker)
    tuning: bool  # used to choose the thresholds (the rest only report)
    wire: Audio | None = None  # what a client sends, when not 16 kHz (the 8 kHz call)
    wire_rate: int = SAMPLE_RATE
    note: str = ""

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    @property
    def speakers(self) -> int:
        return len({s for _, _, s in self.reference})

    def rttm(self) -> str:
        return "".join(
            f"SPEAKER {self.name} 1 {start:.3f} {end - start:.3f} <NA> <NA> {spk} <NA> <NA>\n"
            for start, end, spk in sorted(self.reference)
        )

    def write(self, folder: Path) -> tuple[Path, Path]:
        """``<name>.wav`` (the wire audio: 8 kHz for a call) and ``<name>.rttm`` in ``folder``."""
        import wave

        folder.mkdir(parents=True, exist_ok=True)
        wav, rttm = folder / f"{self.name}.wav", folder / f"{self.name}.rttm"
        samples = self.wire if self.wire is not None else self.audio
        with wave.open(str(wav), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(self.wire_rate)
            w.writeframes(to_pcm16(samples))
        rttm.write_text(self.rttm())
        return wav, rttm


def read_rttm(path: Path) -> tuple[Segment, ...]:
    out = []
    for line in path.read_text().splitlines():
        f = line.split()
        if len(f) >= 8 and f[0] == "SPEAKER":
            start, dur = float(f[3]), float(f[4])
            out.append((start, start + dur, f[7]))
    return tuple(out)


# --------------------------------------------------------------------------- real recordings


def real_recordings(shared: Path = SHARED) -> list[Recording]:
    more = {c["id"]: c for c in json.loads((shared / "manifest_more.json").read_text())}
    out = []
    for cid, tuning in (
        ("ami_pyannote_debug_trn00", True),
        ("ami_pyannote_debug_trn04", False),
        ("pyaudioanalysis_diarizationExample", False),
    ):
        clip = more[cid]
        out.append(
            Recording(
                name=cid,
                audio=load_audio(shared / clip["file"]),
                reference=read_rttm(shared / clip["rttm"]),
                kind="real",
                tuning=tuning,
                note=clip["notes"][:80],
            )
        )
    out.append(endgame(shared))
    return out


def endgame(shared: Path = SHARED) -> Recording:
    """The two-voice dialogue: turns between its runs of exact zeros (≥ 0.3 s at its own 24 kHz),
    each narrowed to its loud part; the voices alternate, male first."""
    import wave

    path = shared / "clips" / "endgame_nagg_nell.wav"
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    silent = np.concatenate([[False], x == 0, [False]])
    edges = np.flatnonzero(np.diff(silent.astype(np.int8)))
    gaps = [(s, e) for s, e in zip(edges[::2], edges[1::2], strict=True) if e - s >= 0.3 * rate]
    bounds = [0, *[v for g in gaps for v in g], len(x)]
    turns = [(bounds[i] / rate, bounds[i + 1] / rate) for i in range(0, len(bounds), 2)]
    audio = load_audio(path)
    ref = []
    for k, (start, end) in enumerate(turns):
        a, b = loud_span(audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)], range_db=REF_RANGE_DB)
        ref.append((start + a / SAMPLE_RATE, start + b / SAMPLE_RATE, "male" if k % 2 == 0 else "female"))
    return Recording("endgame_nagg_nell", audio, tuple(ref), "synthetic", tuning=False, note="two TTS voices")


# --------------------------------------------------------------------------- assembled calls


@dataclass(frozen=True)
class Voice:
    """One speaker of a call: real clips (``(path, start s, end s)``; end None = to the end)."""

    name: str
    sources: tuple[tuple[str, float, float | None], ...]


@dataclass(frozen=True)
class CallSpec:
    name: str
    voices: tuple[Voice, ...]
    seed: int
    tuning: bool
    overlap_p: float = 0.15
    note: str = ""


def _sb(spk: int) -> Voice:
    return Voice(f"sb_spk{spk}", tuple((f"clips/sb_spk{spk}_snt{n}.wav", 0.0, None) for n in range(1, 6)))


CALLS: tuple[CallSpec, ...] = (
    CallSpec("call_sb_pair", (_sb(1), _sb(2)), seed=1, tuning=True, note="speechbrain spk1 × spk2 (TIMIT prompts)"),
    CallSpec(
        "call_jfk_cities",
        (Voice("jfk", (("clips/jfk.flac", 0.0, None),)), Voice("cities", (("clips/two_cities.wav", 0.0, 14.0),))),
        seed=2,
        tuning=True,
        note="jfk × the LibriVox reader of two_cities",
    ),
    # the same tuning voices again, in other cuts, gaps and overlaps (more material to tune on)
    CallSpec(
        "call_sb_pair_2", (_sb(2), _sb(1)), seed=21, tuning=True, overlap_p=0.3, note="as call_sb_pair, reshuffled"
    ),
    CallSpec(
        "call_jfk_cities_2",
        (Voice("cities", (("clips/two_cities.wav", 0.0, 14.0),)), Voice("jfk", (("clips/jfk.flac", 0.0, None),))),
        seed=22,
        tuning=True,
        overlap_p=0.3,
        note="as call_jfk_cities, reshuffled",
    ),
    CallSpec(
        "call_cities_vosk",
        (
            Voice("cities", (("clips/two_cities.wav", 14.0, 30.0),)),
            Voice("vosk", (("clips/vosk_digits.wav", 0.0, None),)),
        ),
        seed=3,
        tuning=False,
        note="two_cities reader × vosk's digits speaker",
    ),
    CallSpec(
        "call_es_fr",
        (
            Voice("es", (("clips/multilingual/picovoice_leopard_es.wav", 0.0, None),)),
            Voice("fr", (("clips/multilingual/picovoice_leopard_fr.wav", 0.0, None),)),
        ),
        seed=4,
        tuning=False,
        note="Spanish × French readers",
    ),
    CallSpec(
        "call_three",
        (
            Voice("vosk", (("clips/vosk_digits.wav", 0.0, None),)),
            Voice("es", (("clips/multilingual/picovoice_leopard_es.wav", 0.0, None),)),
            Voice("fr", (("clips/multilingual/picovoice_leopard_fr.wav", 0.0, None),)),
        ),
        seed=5,
        tuning=False,
        note="three speakers: vosk's digits speaker, the Spanish and the French readers",
    ),
)


def frame_db(audio: Audio, frame: int = SAMPLE_RATE // 50) -> np.ndarray:
    n = len(audio) // frame
    power = np.mean(np.square(audio[: n * frame].reshape(n, frame), dtype=np.float64), axis=1)
    return 10 * np.log10(power + 1e-12)


FRAME = SAMPLE_RATE // 50


def noise_floor(audio: Audio) -> float:
    """A clip's noise floor: its 10th-percentile 20 ms frame level."""
    return float(np.percentile(frame_db(audio), 10))


def speech_frames(audio: Audio, floor_db: float) -> np.ndarray:
    """20 ms frames of speech: within 30 dB of the loudest and 12 dB over the source's noise floor."""
    db = frame_db(audio)
    return db > max(db.max() - 30.0, floor_db + 12.0) if len(db) else np.zeros(0, bool)


def speech_segments(audio: Audio, floor_db: float, bridge_s: float = 0.3) -> list[tuple[int, int]]:
    """The reference's speech in a piece of clean source audio: runs of speech frames, pauses shorter
    than ``bridge_s`` bridged (as a turn's RTTM line spans them), runs under 60 ms dropped."""
    on = speech_frames(audio, floor_db)
    runs, start = [], None
    for i, v in enumerate([*on, False]):
        if v and start is None:
            start = i
        elif not v and start is not None:
            runs.append([start, i])
            start = None
    merged: list[list[int]] = []
    for r in runs:
        if merged and (r[0] - merged[-1][1]) * FRAME < bridge_s * SAMPLE_RATE:
            merged[-1][1] = r[1]
        else:
            merged.append(r)
    return [(a * FRAME, b * FRAME) for a, b in merged if (b - a) * FRAME >= 0.06 * SAMPLE_RATE]


Piece = tuple[Audio, list[tuple[int, int]]]  # audio, its speech segments (samples into it)


def turns_of(
    audio: Audio, rng: np.random.Generator, floor_db: float, min_s: float = 1.0, max_s: float = 4.0
) -> list[Piece]:
    """Real speech cut at its pauses (≥ 0.08 s without a speech frame) into pieces near a length drawn
    from ``min_s``–``max_s`` for each, each trimmed to its speech, with its speech segments."""
    on = speech_frames(audio, floor_db)
    pauses, run = [], 0
    for i, v in enumerate(on):
        run = 0 if v else run + 1
        if run == 4 or (run > 4 and run % 10 == 0):  # 0.08 s, and every 0.2 s inside a long pause
            pauses.append(i - 2)
    cuts = np.asarray(pauses, float) * FRAME
    voiced = np.flatnonzero(on)
    if not len(voiced):
        return []
    a, b = int(voiced[0]) * FRAME, (int(voiced[-1]) + 1) * FRAME
    out, at = [], a
    while b - at > 0.5 * SAMPLE_RATE:
        target = at + rng.uniform(min_s, max_s) * SAMPLE_RATE
        ok = cuts[(cuts > at + min_s * SAMPLE_RATE) & (cuts < min(at + max_s * SAMPLE_RATE, b - 0.8 * SAMPLE_RATE))]
        if b <= target + 0.5 * SAMPLE_RATE or (not len(ok) and b - at <= max_s * SAMPLE_RATE):
            end = b
        elif len(ok):
            end = int(ok[np.argmin(np.abs(ok - target))])
        else:
            later = cuts[cuts > at + min_s * SAMPLE_RATE]
            end = int(later[0]) if len(later) else b
        segs = speech_segments(audio[at:end], floor_db)
        if segs and segs[-1][1] - segs[0][0] >= 0.4 * SAMPLE_RATE:
            s0, e0 = segs[0][0], segs[-1][1]
            out.append((audio[at + s0 : at + e0], [(x - s0, y - s0) for x, y in segs]))
        at = end
    return out


def _voice_audio(voice: Voice, shared: Path) -> list[Audio]:
    parts = []
    for path, start, end in voice.sources:
        x = load_audio(shared / path)
        parts.append(x[int(start * SAMPLE_RATE) : None if end is None else int(end * SAMPLE_RATE)])
    return parts


def _level(x: Audio, dbfs: float) -> Audio:
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return (x * (10 ** (dbfs / 20) / max(rms, 1e-9))).astype(np.float32)


def telephone(x: Audio, rng: np.random.Generator) -> Audio:
    """16 kHz → what a phone line delivers at 8 kHz: band-pass 300–3400 Hz, line noise, G.711 µ-law."""
    from scipy.signal import butter, sosfilt

    narrow = resample(x, SAMPLE_RATE, TELEPHONE_RATE)
    sos = butter(4, [300, 3400], btype="bandpass", fs=TELEPHONE_RATE, output="sos")
    noise = rng.standard_normal(len(narrow)) * 10 ** (-50 / 20)
    y = sosfilt(sos, narrow + noise).astype(np.float32)
    return mulaw(y)


def mulaw(x: Audio, mu: float = 255.0) -> Audio:
    """Compand to 8 bits and back (G.711 µ-law's continuous form)."""
    c = np.sign(x) * np.log1p(mu * np.minimum(np.abs(x), 1.0)) / np.log1p(mu)
    q = np.round((c + 1) / 2 * 255) / 255 * 2 - 1
    return (np.sign(q) * np.expm1(np.abs(q) * np.log1p(mu)) / mu).astype(np.float32)


def assemble(spec: CallSpec, shared: Path = SHARED) -> Recording:
    rng = np.random.default_rng(spec.seed)
    queues = []
    for voice in spec.voices:
        level = -22.0 + rng.uniform(-3, 3)
        pieces = [t for part in _voice_audio(voice, shared) for t in turns_of(part, rng, noise_floor(part))]
        queues.append([(_level(x, level + rng.uniform(-1, 1)), segs) for x, segs in pieces])
    order: list[int] = []
    left = [len(q) for q in queues]
    current = -1
    while sum(left):
        choices = [v for v in range(len(queues)) if left[v] and v != current] or [current]
        # two speakers alternate; with three, the next is one of the others, the one with more left more often
        weights = np.asarray([left[v] for v in choices], float)
        current = int(rng.choice(choices, p=weights / weights.sum()))
        order.append(current)
        left[current] -= 1
    taken = [0] * len(queues)
    placed: list[tuple[int, Audio, str]] = []
    ref: list[Segment] = []
    t = int(0.5 * SAMPLE_RATE)
    prev_len = 0
    for v in order:
        piece, segs = queues[v][taken[v]]
        taken[v] += 1
        if placed and rng.random() < spec.overlap_p and prev_len >= SAMPLE_RATE and len(piece) >= SAMPLE_RATE:
            start = t - int(0.3 * SAMPLE_RATE)  # the next speaker starts before the last one ends
        elif placed:
            start = t + int(rng.uniform(0.1, 0.5) * SAMPLE_RATE)
        else:
            start = t
        placed.append((start, piece, spec.voices[v].name))
        ref += [((start + x) / SAMPLE_RATE, (start + y) / SAMPLE_RATE, spec.voices[v].name) for x, y in segs]
        t = max(t, start + len(piece))
        prev_len = len(piece)
    mix = np.zeros(t + SAMPLE_RATE, np.float32)
    for start, piece, _ in placed:
        mix[start : start + len(piece)] += piece
    wire = telephone(mix, rng)
    audio = resample(wire, TELEPHONE_RATE, SAMPLE_RATE)
    return Recording(
        spec.name, audio, tuple(ref), "assembled", spec.tuning, wire=wire, wire_rate=TELEPHONE_RATE, note=spec.note
    )


def assembled_calls(shared: Path = SHARED, names: Sequence[str] | None = None) -> list[Recording]:
    return [assemble(s, shared) for s in CALLS if names is None or s.name in names]


# --------------------------------------------------------------------------- one speaker


def single_speaker(shared: Path = SHARED) -> list[Recording]:
    """Clips of one voice, which must stay one speaker: jfk, two_cities (44 s, and through the phone)."""
    out = []
    # tuning constraints (one voice must stay one speaker): jfk and the two_cities reader are tuning voices
    for name, path, tuning in (("jfk", "clips/jfk.flac", True), ("two_cities", "clips/two_cities.wav", True)):
        audio = load_audio(shared / path)
        segs = tuple((a / SAMPLE_RATE, b / SAMPLE_RATE, name) for a, b in speech_segments(audio, noise_floor(audio)))
        out.append(Recording(name, audio, segs, "single", tuning=tuning))
    cities = out[-1]
    wire = telephone(cities.audio, np.random.default_rng(9))
    out.append(
        Recording(
            "two_cities_phone",
            resample(wire, TELEPHONE_RATE, SAMPLE_RATE),
            cities.reference,
            "single",
            tuning=True,
            wire=wire,
            wire_rate=TELEPHONE_RATE,
        )
    )
    return out


def dev_set(shared: Path = SHARED, *, single: bool = True) -> Iterator[Recording]:
    yield from real_recordings(shared)
    yield from assembled_calls(shared)
    if single:
        yield from single_speaker(shared)


def recording(name: str, shared: Path = SHARED) -> Recording:
    """One recording of the dev set, built alone."""
    spec = next((c for c in CALLS if c.name == name), None)
    if spec is not None:
        return assemble(spec, shared)
    if name == "endgame_nagg_nell":
        return endgame(shared)
    found = [r for r in single_speaker(shared) if r.name == name] if not name.startswith(("ami", "pyaudio")) else []
    return found[0] if found else next(r for r in real_recordings(shared) if r.name == name)


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description="Write the dev set's WAV + RTTM files (the calls at 8 kHz).")
    ap.add_argument("folder", type=Path)
    args = ap.parse_args()
    for rec in dev_set():
        wav, _ = rec.write(args.folder)
        turns = len(rec.reference)
        print(f"{wav}  {rec.seconds:5.1f} s  {rec.speakers} speakers  {turns} turns  {rec.kind}  tuning={rec.tuning}")


if __name__ == "__main__":
    main()
