"""The diarization stage of one session: speakers on finals and partials, the speaker tracker that
ends utterances at speaker changes, revisions of earlier finals' labels, and the speakers' state
that a resumed session takes over.

* **Finals** (:meth:`DiarizationEnricher.enrich`): the utterance's windows are embedded in one
  Diarizer call, split into turns (:mod:`app.enrich.diarization`) and each turn is labelled by the
  session's clusterer (:mod:`app.enrich.clustering`); then the clusterer's second pass may relabel
  recent turns, which becomes a ``speaker_revision`` sent right after the final
  (:meth:`follow_ups`).
* **While an utterance is in progress** (:meth:`track`, with ``diarization.split_on_speaker_change``):
  the :class:`~app.enrich.tracker.SpeakerTracker` says where the speaker changed, and the session
  ends the utterance there, so that each final holds one speaker's turn.
* **Partials** (:meth:`enrich_partial`): the current best guess without waiting: the speaker of the
  utterance's latest embedded window (the tracker's, or one embedded for the guess), else the
  previous final's last speaker.
* **State** (:meth:`snapshot`, :meth:`restore`): the speakers' centroids, stored with the
  session's finals, so that a session a new host takes over keeps its labels.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from app import protocol as p
from app.enrich import diarization as dz
from app.enrich import speakers
from app.enrich.clustering import ClusterParams, OnlineClusterer, label, normalize
from app.enrich.ports import Embedder, EmbedRequest
from app.enrich.settings import DiarizationSettings
from app.enrich.tracker import SpeakerTracker
from app.enrich.turns import ChangeParams
from app.enrich.warmup import Warmup
from app.logsample import SampledLog
from app.options import SessionOptions
from app.transcript import SAMPLE_RATE, Audio

log = logging.getLogger(__name__)
_sampled = SampledLog(log)

#: revisions waiting for a final worker to send them (a caller that never asks keeps only these)
MAX_PENDING = 16


def _spans(words: Sequence[p.Word], start_s: float) -> list[dz.Span]:
    """Wire words (stream seconds) → sample spans in the utterance's audio starting at ``start_s``."""
    return [(round((w.start - start_s) * SAMPLE_RATE), round((w.end - start_s) * SAMPLE_RATE)) for w in words]


@dataclass(slots=True)
class _Kept:
    """A recent final as diarization left it: what a revision of its labels is rebuilt from."""

    final: p.FinalResult
    spans: list[speakers.TurnSpan]
    of_word: list[int]


class DiarizationEnricher:
    """Speakers of one session: owns its clusterer and tracker, so one instance a session."""

    state_key = "diarization"

    def __init__(self, embedder: Embedder, settings: DiarizationSettings, warmup: Warmup | None = None) -> None:
        self._embedder = embedder
        self._settings = settings
        self._warmup = warmup
        self._windows = dz.WindowParams(
            window_s=settings.window_s,
            hop_s=settings.hop_s,
            change_threshold=settings.change_threshold,
            min_turn_s=settings.min_turn_s,
        )
        self.clusterer = OnlineClusterer(
            ClusterParams(
                threshold_long=settings.threshold_long,
                threshold_short=settings.threshold_short,
                long_s=settings.long_s,
                short_s=settings.short_s,
                min_new_speaker_s=settings.min_new_speaker_s,
                max_speakers=settings.max_speakers,
                merge_threshold=settings.merge_threshold,
                revise_margin=settings.revise_margin,
                history=settings.revise_history,
            )
        )
        self.tracker = SpeakerTracker(
            embedder,
            ChangeParams(
                window_s=settings.window_s,
                hop_s=settings.track_hop_s,
                threshold=settings.track_threshold,
                confirm_s=settings.track_confirm_s,
                snap_s=settings.track_snap_s,
            ),
            timeout_s=self._timeout_s,
            answered=self._answered,
        )
        self._last: str | None = None  # the speaker of the latest final's last turn
        self._guess: tuple[int, str] | None = None  # (utterance id, speaker) from a partial's embedding
        self._guessed_at: tuple[int, int] = (-1, 0)  # (utterance id, samples) of the last embedded partial
        self._guessing: asyncio.Task[None] | None = None
        self._kept: dict[int, _Kept] = {}  # by seq, the last revise_history finals
        self._pending: list[p.SpeakerRevision] = []
        self._revision = 0

    def prepare(self, options: SessionOptions) -> None:
        """A session starts (or is configured) with diarization on: wake the model now."""
        if options.features.speaker_diarization and self._warmup is not None:
            self._warmup.kick()

    def _timeout_s(self) -> float:
        base = self._settings.timeout_s
        return self._warmup.timeout_s(base) if self._warmup is not None else base

    def _answered(self) -> None:
        if self._warmup is not None:
            self._warmup.answered()

    # ------------------------------------------------------------------ the utterance in progress

    def track(self, utterance_id: int, start: int, end: int, read: Any, options: SessionOptions) -> int | None:
        if not (options.features.speaker_diarization and options.diarization.split_on_speaker_change):
            return None
        return self.tracker.observe(utterance_id, start, end, read)

    async def settle(self) -> None:
        await self.tracker.settle()

    # ------------------------------------------------------------------ finals

    async def enrich(self, final: p.FinalResult, audio: Audio, options: SessionOptions) -> p.FinalResult:
        if not options.features.speaker_diarization:
            return final
        start_s = final.data.audio.start
        words = _spans(final.data.words, start_s)
        plan = dz.plan(audio, words, self._windows)
        if plan is None:
            return final
        try:
            embeddings = await asyncio.wait_for(
                self._embedder.embed(EmbedRequest(plan.audio, plan.windows)), self._timeout_s()
            )
            self._answered()
        except Exception:
            # a model down fails every final of every session: sampled, so that the logs stay readable
            _sampled.warning(
                "embedding",
                "speaker embedding failed; final sent without speakers",
                exc_info=True,
                extra={"session_id": final.session_id},
            )
            return final
        turns = dz.split_turns(plan, embeddings, words, self._windows)
        labelled = [
            speakers.LabelledTurn(t, self.clusterer.assign(t.embedding, t.seconds, key=(final.seq, k)).label)
            for k, t in enumerate(turns)
        ]
        spans, of_word = speakers.turn_spans(final, labelled, words, start_s, audio)
        built = speakers.apply(final, spans, of_word)
        self._keep(final.seq, _Kept(built, spans, of_word))
        self._last = labelled[-1].speaker
        if self._settings.revise:
            self._revise(final.session_id)
        return built

    def _keep(self, seq: int, kept: _Kept) -> None:
        self._kept[seq] = kept
        while len(self._kept) > self._settings.revise_history:
            del self._kept[next(iter(self._kept))]

    def _revise(self, session_id: str) -> None:
        changes: dict[int, dict[int, str]] = {}
        for r in self.clusterer.revise():
            seq, k = r.key
            changes.setdefault(seq, {})[k] = r.new
        finals = []
        for seq in sorted(changes):
            kept = self._kept.get(seq)
            if kept is None:
                continue
            spans = [replace(s, speaker=changes[seq].get(k, s.speaker)) for k, s in enumerate(kept.spans)]
            new = speakers.apply(kept.final, spans, kept.of_word)
            moved = [
                p.WordSpeaker(index=i, speaker=w.speaker or "")
                for i, (w, old) in enumerate(zip(new.data.words, kept.final.data.words, strict=True))
                if w.speaker != old.speaker
            ]
            kept.final, kept.spans = new, spans
            assert new.data.speakers is not None
            finals.append(
                p.RevisedFinal(seq=seq, utterance_id=new.utterance_id, speakers=new.data.speakers, words=moved)
            )
        if not finals:
            return
        latest = self._kept[next(reversed(self._kept))]
        self._last = latest.spans[-1].speaker if latest.spans else self._last
        self._revision += 1
        revision = p.SpeakerRevision(session_id=session_id, revision=self._revision, after_seq=0, finals=finals)
        self._pending = [*self._pending[-(MAX_PENDING - 1) :], revision]

    def follow_ups(self, after_seq: int) -> list[p.ServerMessage]:
        """The revisions made since the last call, to be sent after final ``after_seq``."""
        out: list[p.ServerMessage] = [r.model_copy(update={"after_seq": after_seq}) for r in self._pending]
        self._pending = []
        return out

    # ------------------------------------------------------------------ partials

    async def enrich_partial(self, partial: p.PartialResult, audio: Audio, options: SessionOptions) -> p.PartialResult:
        """The current best guess, without waiting: the speaker of this utterance's latest embedded
        window if one came back, else the previous final's last speaker. Once the tracker has a window of
        the utterance, its windows serve; until then an embedding of the partial's last window is started
        in the background when enough new audio has come."""
        if not options.features.speaker_diarization:
            return partial
        utterance = partial.utterance_id
        tracked = self.tracker.latest if self.tracker.utterance_id == utterance else None
        if tracked is not None:
            seconds = (tracked.end - tracked.start) / SAMPLE_RATE
            self._guess = (utterance, self.clusterer.peek(tracked.embedding, seconds).label)
        else:  # the tracker has no window of this utterance (yet)
            self._maybe_guess(utterance, audio)
        speaker = self._guess[1] if self._guess is not None and self._guess[0] == utterance else self._last or label(0)
        words = [w.model_copy(update={"speaker": speaker}) for w in partial.data.words]
        return partial.model_copy(update={"data": partial.data.model_copy(update={"speaker": speaker, "words": words})})

    def _maybe_guess(self, utterance: int, audio: Audio) -> None:
        seen_utt, seen_samples = self._guessed_at
        fresh = utterance != seen_utt or len(audio) - seen_samples >= self._settings.partial_refresh_s * SAMPLE_RATE
        if fresh and self._guessing is None and len(audio) >= self._settings.min_new_speaker_s * SAMPLE_RATE:
            self._guessed_at = (utterance, len(audio))
            start, end = dz.tail_window(len(audio), self._windows)
            self._guessing = asyncio.create_task(self._guess_speaker(utterance, audio[start:end]))

    async def _guess_speaker(self, utterance: int, audio: Audio) -> None:
        try:
            samples = dz.normalize_loudness(audio)
            embedding = await asyncio.wait_for(
                self._embedder.embed(EmbedRequest(samples, ((0, len(samples)),))), self._timeout_s()
            )
            self._answered()
            match = self.clusterer.peek(normalize(embedding[0]), len(samples) / SAMPLE_RATE)
            self._guess = (utterance, match.label)
        except Exception:
            log.debug("partial speaker guess failed", exc_info=True)
        finally:
            self._guessing = None

    # ------------------------------------------------------------------ state

    def snapshot(self) -> dict[str, Any] | None:
        if not self.clusterer.labels:
            return None
        return {"clusters": self.clusterer.snapshot(), "revision": self._revision, "last": self._last}

    def restore(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or not isinstance(state.get("clusters"), dict):
            raise ValueError("unreadable diarization state")
        self.clusterer.restore(state["clusters"])
        self._revision = int(state.get("revision", 0))
        last = state.get("last")
        self._last = last if isinstance(last, str) else None
