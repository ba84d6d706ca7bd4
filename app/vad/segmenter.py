"""The speech segmenter: per-frame speech booleans in, utterance boundaries out.

A pure state machine (no audio, no models), fed one verdict per frame with the
frame's absolute end offset::

    IDLE ──speech──▶ PENDING ──speech persists min_speech_duration──▶ SPEAKING ──▶ IDLE
      ▲                 │ gap > 0.1 s: a blip, dropped                    │ silence / max length /
      └─────────────────┘                                                 │ force_end
    any state ──force_end(reason="stop")──▶ CLOSED (final: push and force_end raise)

Rules (durations from :class:`~app.config.VadOptions`, converted to samples):

* An utterance starts once its speech frames add up to ``min_speech_duration``,
  gaps of up to :data:`PENDING_GAP_S` between them allowed. ``SpeechStart.start``
  reaches ``pre_roll`` before the first speech frame, but never before the end of
  the previous utterance (or the last forced end) nor ``start_offset``.
* ``post_speech_silence`` of silence ends it (reason ``"silence"``).
* Past ``max_utterance`` a pause of ``split_pause`` ends it (``"max_length"``); and
  an utterance is cut at :data:`HARD_CAP_S` (Whisper's window) wherever it is, so
  a speaker who never pauses still gets finals (``"max_length"``).
* The end is the end of the last speech frame plus a tail of up to
  :data:`TAIL_PAD_S`, never past the audio seen; utterances never overlap.
* :meth:`Segmenter.force_end` ends an utterance in progress for a client's
  ``finalize``, ``pause`` or ``stop``; a candidate not yet confirmed is dropped.
* :meth:`Segmenter.split` ends an utterance in progress at a point inside it and starts the
  next one there, with no pause between them: a change of speaker (``"speaker_change"``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from app.options import VadOptions
from app.protocol import UtteranceEndReason
from app.transcript import SAMPLE_RATE
from app.vad.framing import FRAME_SAMPLES

#: the protocol's utterance_end reasons (one source: app/protocol.py)
EndReason = UtteranceEndReason

HARD_CAP_S = 30.0
"""No utterance is longer than this (Whisper's input window)."""

TAIL_PAD_S = 0.2
"""Audio kept after the last speech frame, when that much silence followed it."""

PENDING_GAP_S = 0.1
"""The longest silence allowed between the speech frames of an unconfirmed start."""

HANGOVER_S = 0.3
"""Speech held only by the VAD's hysteresis, after the last confident speech frame, for at most this
long is the VAD's hangover, not speech: the silence that ends an utterance counts from before it."""


class SegmenterState(enum.Enum):
    IDLE = "idle"  # silence
    PENDING = "pending"  # speech heard, not yet long enough to start an utterance
    SPEAKING = "speaking"  # an utterance is in progress (SpeechStart emitted)
    CLOSED = "closed"  # the stream stopped


_TRANSITIONS: dict[SegmenterState, frozenset[SegmenterState]] = {
    SegmenterState.IDLE: frozenset({SegmenterState.PENDING, SegmenterState.CLOSED}),
    SegmenterState.PENDING: frozenset({SegmenterState.IDLE, SegmenterState.SPEAKING, SegmenterState.CLOSED}),
    SegmenterState.SPEAKING: frozenset({SegmenterState.IDLE, SegmenterState.CLOSED}),
    SegmenterState.CLOSED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """The segmenter was asked for a move its state does not allow (a bug in the caller)."""


@dataclass(frozen=True, slots=True)
class SpeechStart:
    utterance_id: int
    start: int  # absolute sample offset, pre-roll included


@dataclass(frozen=True, slots=True)
class UtteranceEnd:
    utterance_id: int
    start: int
    end: int
    reason: EndReason


Event = SpeechStart | UtteranceEnd


@dataclass(frozen=True, slots=True)
class SegmenterParams:
    """The segmenter's thresholds, in samples."""

    min_speech: int
    post_silence: int
    pre_roll: int
    max_utterance: int
    split_pause: int
    hard_cap: int
    tail_pad: int
    pending_gap: int
    hangover: int

    @classmethod
    def from_options(cls, vad: VadOptions, sample_rate: int = SAMPLE_RATE) -> SegmenterParams:
        def samples(seconds: float) -> int:
            return round(seconds * sample_rate)

        return cls(
            min_speech=samples(vad.min_speech_duration),
            post_silence=samples(vad.post_speech_silence),
            pre_roll=samples(vad.pre_roll),
            max_utterance=samples(vad.max_utterance),
            split_pause=samples(vad.split_pause),
            hard_cap=samples(HARD_CAP_S),
            tail_pad=samples(TAIL_PAD_S),
            pending_gap=samples(PENDING_GAP_S),
            hangover=samples(HANGOVER_S),
        )


class Segmenter:
    """One stream's segmenter.

    Utterance ids count up from ``first_utterance_id`` (1, 2, 3 … by default);
    a stream resumed after a reconnect passes the next id so ids stay unique.
    Change options with :meth:`reconfigure`, not a new segmenter, to keep the count.
    """

    def __init__(
        self,
        vad: VadOptions,
        *,
        start_offset: int = 0,
        first_utterance_id: int = 1,
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        if start_offset < 0:
            raise ValueError(f"start_offset {start_offset} must not be negative")
        if first_utterance_id < 1:
            raise ValueError(f"first_utterance_id {first_utterance_id} must be at least 1")
        self._sample_rate = sample_rate
        self.params = SegmenterParams.from_options(vad, sample_rate)
        self._state = SegmenterState.IDLE
        self._clock = start_offset  # end of the last frame pushed
        self._floor = start_offset  # no utterance may start before this
        self._last_id = first_utterance_id - 1
        self._start = 0  # utterance (SPEAKING) start
        self._first_speech = 0  # start of the candidate's first speech frame (PENDING)
        self._speech = 0  # samples of speech in the candidate (PENDING)
        self._last_speech = start_offset  # end of the latest speech frame
        self._last_confident = start_offset  # end of the latest frame that was speech by the onset rule
        self._heard_speech = False

    # ------------------------------------------------------------------ views

    @property
    def state(self) -> SegmenterState:
        return self._state

    @property
    def in_speech(self) -> bool:
        """Whether an utterance is in progress (its SpeechStart was emitted, its end not yet)."""
        return self._state is SegmenterState.SPEAKING

    @property
    def utterance_id(self) -> int | None:
        """Id of the utterance in progress."""
        return self._last_id if self.in_speech else None

    @property
    def utterance_start(self) -> int | None:
        """Start offset (pre-roll included) of the utterance in progress."""
        return self._start if self.in_speech else None

    @property
    def last_speech_end(self) -> int | None:
        """End offset of the latest speech frame seen (None before any)."""
        return self._last_speech if self._heard_speech else None

    @property
    def keep_from(self) -> int:
        """The earliest offset of audio a future or current utterance can still include."""
        if self._state is SegmenterState.SPEAKING:
            return self._start
        if self._state is SegmenterState.PENDING:
            return max(self._first_speech - self.params.pre_roll, self._floor)
        if self._state is SegmenterState.IDLE:
            return max(self._clock - self.params.pre_roll, self._floor)
        return self._clock

    def reconfigure(self, vad: VadOptions) -> None:
        """New thresholds; they apply from the next frame, the utterance in progress goes on."""
        self.params = SegmenterParams.from_options(vad, self._sample_rate)

    # ------------------------------------------------------------------ input

    def push(
        self, is_speech: bool, frame_end: int, *, frame_start: int | None = None, confident: bool | None = None
    ) -> list[Event]:
        """Feed one frame's verdict; ``frame_start`` defaults to ``frame_end`` minus one 512-sample frame;
        ``confident`` (default: ``is_speech``): speech by the VAD's onset rule, not only by its hysteresis.

        Frames must not overlap or go back in time; a gap between frames (lost
        audio) counts as silence.
        """
        self._check_open("push audio")
        start = frame_end - FRAME_SAMPLES if frame_start is None else frame_start
        if start < self._clock or frame_end <= start:
            raise ValueError(f"frame [{start}, {frame_end}) does not follow the previous frame's end {self._clock}")
        self._clock = frame_end
        events: list[Event] = []
        if self._state is SegmenterState.SPEAKING:
            ended = self._maybe_end(is_speech, start, frame_end)
            if ended is not None:
                events.append(ended)
        if is_speech and (is_speech if confident is None else confident):
            self._last_confident = frame_end
        if is_speech:
            started = self._on_speech(start, frame_end)
            if started is not None:
                events.append(started)
        elif self._state is SegmenterState.PENDING and frame_end - self._last_speech > self.params.pending_gap:
            self._move(SegmenterState.IDLE)  # a blip: dropped
        return events

    def quiet_until(self, offset: int) -> list[Event]:
        """The audio from the last frame pushed up to ``offset`` (less than a frame, not decided by the
        VAD yet) is known to be quiet: end the utterance in progress if its silence is long enough
        by then, instead of a chunk later. Frames pushed later still start at the last frame's end."""
        if self._state is not SegmenterState.SPEAKING or offset <= self._clock:
            return []
        p = self.params
        if offset - self._speech_end() >= p.post_silence:
            return [self._end(self._last_speech + min(p.tail_pad, offset - self._last_speech), "silence")]
        return []

    def _speech_end(self) -> int:
        """Where the silence that ends an utterance starts: the last confident frame's end when only the
        VAD's hangover (weak speech, at most ``hangover`` long) followed it, else the last speech frame's."""
        last = self._last_speech
        return self._last_confident if last - self._last_confident <= self.params.hangover else last

    def force_end(self, offset: int, reason: EndReason) -> list[Event]:
        """End the utterance in progress at ``offset`` (the end of the audio received) for ``reason``.

        Emits an :class:`UtteranceEnd` only if an utterance is in progress; an
        unconfirmed candidate is dropped. No later utterance starts before
        ``offset``. ``reason="stop"`` closes the segmenter.
        """
        self._check_open(f"force an end ({reason})")
        if offset < self._clock:
            raise ValueError(f"offset {offset} is before the end of the frames pushed ({self._clock})")
        events: list[Event] = []
        if self._state is SegmenterState.SPEAKING:
            events.append(self._end(min(offset, self._last_speech + self.params.tail_pad), reason))
        elif self._state is SegmenterState.PENDING:
            self._move(SegmenterState.IDLE)
        self._floor = max(self._floor, offset)
        if reason == "stop":
            self._move(SegmenterState.CLOSED)
        return events

    def split(self, at: int, reason: EndReason = "speaker_change") -> list[Event]:
        """End the utterance in progress at ``at`` and start the next one there (no pre-roll, no pause
        between them). Nothing happens unless an utterance is in progress and ``at`` lies after its
        start and not past the audio pushed."""
        self._check_open("split an utterance")
        if self._state is not SegmenterState.SPEAKING or not self._start < at <= self._clock:
            return []
        ended = UtteranceEnd(self._last_id, self._start, at, reason)
        self._last_id += 1
        self._start = at
        self._floor = max(self._floor, at)
        return [ended, SpeechStart(self._last_id, at)]

    # ------------------------------------------------------------------ rules

    def _on_speech(self, start: int, end: int) -> SpeechStart | None:
        self._last_speech = end
        self._heard_speech = True
        if self._state is SegmenterState.SPEAKING:
            return None
        if self._state is SegmenterState.IDLE:
            self._move(SegmenterState.PENDING)
            self._first_speech = start
            self._speech = 0
        self._speech += end - start
        if self._speech < self.params.min_speech:
            return None
        self._move(SegmenterState.SPEAKING)
        self._last_id += 1
        self._start = max(self._first_speech - self.params.pre_roll, self._floor)
        return SpeechStart(self._last_id, self._start)

    def _maybe_end(self, is_speech: bool, start: int, end: int) -> UtteranceEnd | None:
        p = self.params
        last = self._last_speech
        if end - self._start > p.hard_cap:
            # this frame would take the utterance past the cap: cut before it
            return self._end(min(last + p.tail_pad, start, self._start + p.hard_cap), "max_length")
        # silence so far: up to this frame's end, or up to its start when it is speech (a gap of lost audio)
        silence = (start if is_speech else end) - last
        if silence >= p.post_silence or (not is_speech and end - self._speech_end() >= p.post_silence):
            return self._end(last + min(p.tail_pad, silence), "silence")
        if silence >= p.split_pause and end - self._start >= p.max_utterance:
            return self._end(last + min(p.tail_pad, silence), "max_length")
        return None

    def _end(self, end: int, reason: EndReason) -> UtteranceEnd:
        self._move(SegmenterState.IDLE)
        self._floor = max(self._floor, end)
        return UtteranceEnd(self._last_id, self._start, end, reason)

    def _move(self, to: SegmenterState) -> None:
        if to not in _TRANSITIONS[self._state]:
            raise IllegalTransition(f"segmenter cannot go from {self._state.value} to {to.value}")
        self._state = to

    def _check_open(self, action: str) -> None:
        if self._state is SegmenterState.CLOSED:
            raise IllegalTransition(f"cannot {action}: the stream has stopped")
