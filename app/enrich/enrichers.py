"""The enrichment stages behind the session controller's ``FinalEnricher`` and
``PartialEnricher`` ports, and :class:`Enrichment`, which makes a set per session (the
diarization stage, which also tracks speakers while an utterance is in progress, is in
:mod:`app.enrich.speaker_stage`).

Finals pass diarization → analysis (sentiment, topics; on the unmasked text) →
wake words → profanity masking, in that order; partials pass the speaker guess →
wake words → profanity masking. A stage whose feature is off in the session's
options (read at each call, so ``configure`` takes effect at once) returns its
input untouched and calls no model. A stage whose model fails or times out logs
it and lets the final go out without its field: enrichment never costs a final.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from app import protocol as p
from app.enrich import sentiment, topics
from app.enrich.ports import Analyzer, AnalyzeRequest, Embedder, TopicQuery
from app.enrich.profanity import ProfanityFilter
from app.enrich.settings import AnalysisSettings, EnrichmentSettings
from app.enrich.speaker_stage import DiarizationEnricher
from app.enrich.wakewords import WakeWordMatcher
from app.enrich.warmup import Warmup
from app.logsample import SampledLog
from app.options import SessionOptions
from app.session.ports import FinalEnricher, PartialEnricher
from app.transcript import Audio

log = logging.getLogger(__name__)
_sampled = SampledLog(log)

__all__ = ["AnalysisEnricher", "DiarizationEnricher", "Enrichment", "ProfanityEnricher", "WakeWordEnricher"]

#: an enrichment model that answered within this long is awake (its deployment's downscale delay is longer)
AWAKE_S = 300.0


class AnalysisEnricher:
    """Sentiment and topics of a final's text, in one call to the Analyzer."""

    def __init__(self, analyzer: Analyzer, settings: AnalysisSettings, warmup: Warmup | None = None) -> None:
        self._analyzer = analyzer
        self._settings = settings
        self._warmup = warmup
        self._topics: tuple[tuple[str, ...] | None, tuple[TopicQuery, ...]] | None = None

    def prepare(self, options: SessionOptions) -> None:
        """A session starts (or is configured) with sentiment or topics on: wake the models now."""
        f = options.features
        if (f.sentiment_analysis.enabled or f.topic_detection.enabled) and self._warmup is not None:
            self._warmup.kick()

    async def enrich(self, final: p.FinalResult, audio: Audio, options: SessionOptions) -> p.FinalResult:
        want_sentiment = options.features.sentiment_analysis.enabled
        want_topics = options.features.topic_detection.enabled
        text = final.data.text.strip()
        if not (want_sentiment or want_topics) or not text:
            return final
        s_parts, s_texts = (
            sentiment.texts_to_score(text, options.features.sentiment_analysis) if want_sentiment else ([], ())
        )
        queries = self._session_topics(options.features.topic_detection.topics) if want_topics else ()
        t_parts, t_texts = topics.texts_to_compare(text) if queries else ([], ())
        if not s_texts and not t_texts:  # topics on with an empty topic list
            analysis = p.Analysis(topics=[])
            return final.model_copy(update={"data": final.data.model_copy(update={"analysis": analysis})})
        timeout = self._warmup.timeout_s(self._settings.timeout_s) if self._warmup else self._settings.timeout_s
        try:
            reply = await asyncio.wait_for(self._analyzer.analyze(AnalyzeRequest(s_texts, t_texts, queries)), timeout)
            if self._warmup is not None:
                self._warmup.answered()
        except Exception:
            # a model down fails every final of every session: sampled, so that the logs stay readable
            _sampled.warning(
                "analysis",
                "text analysis failed; final sent without analysis",
                exc_info=True,
                extra={"session_id": final.session_id},
            )
            return final
        analysis = p.Analysis(
            sentiment=sentiment.build(s_parts, reply.sentiment, options.features.sentiment_analysis)
            if want_sentiment and reply.sentiment
            else None,
            topics=topics.build(
                t_parts,
                queries,
                reply.topic_similarity,
                options.features.topic_detection,
                background=self._settings.topic_background,
                temperature=self._settings.topic_temperature,
            )
            if want_topics
            else None,
        )
        return final.model_copy(update={"data": final.data.model_copy(update={"analysis": analysis})})

    def _session_topics(self, requested: list[str] | None) -> tuple[TopicQuery, ...]:
        key = tuple(requested) if requested is not None else None
        if self._topics is None or self._topics[0] != key:
            self._topics = (key, topics.resolve(requested, self._settings.topics))
        return self._topics[1]


class WakeWordEnricher:
    """``wake_word_detected`` on the first partial of an utterance that holds a wake phrase,
    and on its final (when the final's text holds one, or a partial of it did)."""

    _MAX_PENDING = 64

    def __init__(self, max_edits: float) -> None:
        self._max_edits = max_edits
        self._matcher: tuple[tuple[str, ...], WakeWordMatcher] | None = None
        self._heard: set[int] = set()  # utterances whose partials heard a phrase, until their final

    def _find(self, text: str, options: SessionOptions) -> bool:
        phrases = tuple(options.features.wake_words.phrases)
        if self._matcher is None or self._matcher[0] != phrases:
            self._matcher = (phrases, WakeWordMatcher(phrases, max_edits=self._max_edits))
        return self._matcher[1].find(text) is not None

    async def enrich_partial(self, partial: p.PartialResult, audio: Audio, options: SessionOptions) -> p.PartialResult:
        ww = options.features.wake_words
        if not ww.enabled or not ww.phrases or partial.utterance_id in self._heard:
            return partial
        if not self._find(partial.data.text, options):
            return partial
        if len(self._heard) >= self._MAX_PENDING:  # finals that never came (empty transcripts)
            self._heard.remove(min(self._heard))
        self._heard.add(partial.utterance_id)
        return partial.model_copy(update={"data": partial.data.model_copy(update={"wake_word_detected": True})})

    async def enrich(self, final: p.FinalResult, audio: Audio, options: SessionOptions) -> p.FinalResult:
        heard = final.utterance_id in self._heard
        self._heard.discard(final.utterance_id)
        ww = options.features.wake_words
        if not ww.enabled or not ww.phrases:
            return final
        if heard or self._find(final.data.text, options):
            return final.model_copy(update={"data": final.data.model_copy(update={"wake_word_detected": True})})
        return final


class ProfanityEnricher:
    """Masks listed words in partials and finals (text and words) and reports them on finals."""

    def __init__(self, base: ProfanityFilter) -> None:
        self._base = base
        self._session: tuple[tuple[str, ...], ProfanityFilter] | None = None

    def _filter(self, options: SessionOptions) -> ProfanityFilter:
        extra = tuple(options.features.profanity_filter.extra_words)
        if self._session is None or self._session[0] != extra:
            self._session = (extra, self._base.with_words(extra))
        return self._session[1]

    async def enrich(self, final: p.FinalResult, audio: Audio, options: SessionOptions) -> p.FinalResult:
        if not options.features.profanity_filter.enabled:
            return final
        f = self._filter(options)
        masked = f.mask(final.data.text)
        words = _mask_words(f, final.data.words)
        filters = p.Filters(profanity=p.Profanity(detected=bool(masked.found), filtered_words=masked.found))
        update: dict[str, object] = {"text": masked.text, "words": words, "filters": filters}
        if masked.found:
            update["analysis"] = _mask_analysis(f, final.data.analysis)  # its sentences quote the text
        data = final.data.model_copy(update=update)
        return final.model_copy(update={"data": data})

    async def enrich_partial(self, partial: p.PartialResult, audio: Audio, options: SessionOptions) -> p.PartialResult:
        if not options.features.profanity_filter.enabled:
            return partial
        f = self._filter(options)
        data = partial.data.model_copy(
            update={
                "text": f.mask(partial.data.text).text,
                "stable_text": f.mask(partial.data.stable_text).text,
                "words": _mask_words(f, partial.data.words),
            }
        )
        return partial.model_copy(update={"data": data})


def _mask_analysis(f: ProfanityFilter, analysis: p.Analysis) -> p.Analysis:
    sentiment_ = analysis.sentiment
    if sentiment_ is not None:
        by_sentence = [s.model_copy(update={"text": f.mask(s.text).text}) for s in sentiment_.by_sentence]
        sentiment_ = sentiment_.model_copy(update={"by_sentence": by_sentence})
    found = analysis.topics
    if found is not None:
        found = [t.model_copy(update={"mentions": [f.mask(m).text for m in t.mentions]}) for t in found]
    return analysis.model_copy(update={"sentiment": sentiment_, "topics": found})


def _mask_words(f: ProfanityFilter, words: Sequence[p.Word]) -> list[p.Word]:
    """Each word masked as it is in the joined text (so phrases across words are masked too)."""
    joined = " ".join(w.word for w in words)
    masked = f.mask(joined).text
    if masked == joined:
        return list(words)
    out, at = [], 0
    for w in words:
        piece = masked[at : at + len(w.word)]
        out.append(w if piece == w.word else w.model_copy(update={"word": piece}))
        at += len(w.word) + 1
    return out


class Enrichment:
    """Everything one host shares (the model ports, the settings, the word list), and a set of
    stages for each new session: :meth:`for_session` gives its final and partial enrichers."""

    def __init__(self, settings: EnrichmentSettings, embedder: Embedder, analyzer: Analyzer) -> None:
        self.settings = settings
        self.embedder = embedder
        self.analyzer = analyzer
        # awake for less than the deployments' downscale delay (serve_config.yaml: 600 s)
        self.diarizer_warmup = Warmup(
            embedder.warm, cold_start_timeout_s=settings.diarization.cold_start_timeout_s, awake_s=AWAKE_S
        )
        self.analyzer_warmup = Warmup(
            analyzer.warm, cold_start_timeout_s=settings.analysis.cold_start_timeout_s, awake_s=AWAKE_S
        )
        self._profanity = ProfanityFilter.default(settings.profanity_allowed)

    def for_session(self) -> tuple[list[FinalEnricher], list[PartialEnricher]]:
        diarization = DiarizationEnricher(self.embedder, self.settings.diarization, self.diarizer_warmup)
        wake = WakeWordEnricher(self.settings.wake_word_max_edits)
        profanity = ProfanityEnricher(self._profanity)
        finals: list[FinalEnricher] = [
            diarization,
            AnalysisEnricher(self.analyzer, self.settings.analysis, self.analyzer_warmup),
            wake,
            profanity,
        ]
        partials: list[PartialEnricher] = [diarization, wake, profanity]
        return finals, partials
