"""Voice activity detection and speech segmentation for one stream.

:class:`VoiceDetector` turns audio chunks of any length into per-frame speech
decisions (WebRTC gate, Silero confirmer); :class:`Segmenter` turns those into
utterance boundaries. Offsets are absolute sample offsets at 16 kHz::

    detector = VoiceDetector(options.vad)
    segmenter = Segmenter(options.vad)
    for decision in detector.push(chunk):
        for event in segmenter.push(decision.is_speech, decision.end, confident=decision.confident):
            ...  # SpeechStart / UtteranceEnd
    segmenter.force_end(detector.offset, "finalize")
"""

from app.vad.detector import ENERGY_FLOOR_DBFS, FrameDecision, VoiceDetector
from app.vad.framing import FRAME_SAMPLES, FrameSplitter
from app.vad.segmenter import (
    HARD_CAP_S,
    TAIL_PAD_S,
    EndReason,
    Event,
    IllegalTransition,
    Segmenter,
    SegmenterParams,
    SegmenterState,
    SpeechStart,
    UtteranceEnd,
)
from app.vad.silero import SileroScorer, VadUnavailable, load_model
from app.vad.webrtc import WebRtcScorer

__all__ = [
    "ENERGY_FLOOR_DBFS",
    "FRAME_SAMPLES",
    "HARD_CAP_S",
    "TAIL_PAD_S",
    "EndReason",
    "Event",
    "FrameDecision",
    "FrameSplitter",
    "IllegalTransition",
    "Segmenter",
    "SegmenterParams",
    "SegmenterState",
    "SileroScorer",
    "SpeechStart",
    "UtteranceEnd",
    "VadUnavailable",
    "VoiceDetector",
    "WebRtcScorer",
    "load_model",
]
