"""A whole recording cut into utterances at its pauses, with the streaming path's own VAD.

The same :class:`~app.vad.VoiceDetector` and :class:`~app.vad.Segmenter` a live session runs, fed the
file in one-second chunks instead of as it arrives: utterances end at ``post_speech_silence``
pauses, long ones are split at ``split_pause`` past ``max_utterance``, none is longer than Whisper's
30 s window. CPU work (Silero runs where WebRTC hears speech): call it off the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.options import VadOptions
from app.transcript import SAMPLE_RATE, Audio
from app.vad import Segmenter, UtteranceEnd, VoiceDetector

CHUNK = SAMPLE_RATE  # samples the detector is fed at a time
MIN_SAMPLES = SAMPLE_RATE // 10  # shorter utterances are not transcribed (as in a live session)


@dataclass(frozen=True, slots=True)
class Span:
    """One utterance: sample offsets ``[start, end)`` in the recording, and why it ended."""

    start: int
    end: int
    reason: str


def cut(audio: Audio, vad: VadOptions) -> list[Span]:
    detector = VoiceDetector(vad)
    segmenter = Segmenter(vad)
    spans: list[Span] = []
    for i in range(0, len(audio), CHUNK):
        for decision in detector.push(audio[i : i + CHUNK]):
            for event in segmenter.push(decision.is_speech, decision.end):
                if isinstance(event, UtteranceEnd):
                    spans.append(Span(event.start, event.end, event.reason))
    for event in segmenter.force_end(detector.offset, "stop"):
        if isinstance(event, UtteranceEnd):
            spans.append(Span(event.start, min(event.end, len(audio)), event.reason))
    return [s for s in spans if s.end - s.start >= MIN_SAMPLES]
