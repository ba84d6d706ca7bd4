"""In-process model ports for the file mode and tests: the Diarizer's and the Analyzer's
engines, run in a worker thread so the event loop never blocks. Each engine is
loaded on its first call, so a feature that no session turns on loads nothing;
:meth:`LocalEnrichment.prepare` loads what a session's options need up front (a
first call that loads a model would otherwise overrun the enrichment timeout)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from app.enrich.enrichers import Enrichment
from app.enrich.ports import AnalyzeReply, AnalyzeRequest, Embeddings, EmbedRequest
from app.enrich.settings import AnalysisSettings, DiarizationSettings, EnrichmentSettings
from app.options import SessionOptions

if TYPE_CHECKING:
    from app.engines.analysis import AnalysisEngine
    from app.engines.speaker import SpeakerEngine


class LocalEmbedder:
    def __init__(self, settings: DiarizationSettings, engine: SpeakerEngine | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self._loading = asyncio.Lock()
        self.calls = 0

    async def embed(self, request: EmbedRequest) -> Embeddings:
        self.calls += 1
        engine = self.engine or await self.load()
        return await asyncio.to_thread(engine.embed, request)

    async def warm(self) -> None:
        await self.load()

    async def load(self) -> SpeakerEngine:
        async with self._loading:
            if self.engine is None:
                from app.engines.speaker import load_speaker_engine

                self.engine = await asyncio.to_thread(load_speaker_engine, self.settings)
            return self.engine


class LocalAnalyzer:
    def __init__(self, settings: AnalysisSettings, engine: AnalysisEngine | None = None) -> None:
        if engine is None:
            from app.engines.analysis import AnalysisEngine

            engine = AnalysisEngine(settings)  # each model loads on first use, in the worker thread
        self.engine = engine
        self.calls = 0

    async def analyze(self, request: AnalyzeRequest) -> AnalyzeReply:
        self.calls += 1
        return await asyncio.to_thread(self.engine.analyze, request)

    async def warm(self) -> None:
        await asyncio.to_thread(self.engine.load, sentiment=True, topics=True)


class LocalEnrichment(Enrichment):
    embedder: LocalEmbedder
    analyzer: LocalAnalyzer

    def __init__(
        self,
        settings: EnrichmentSettings,
        *,
        speaker_engine: SpeakerEngine | None = None,
        analysis_engine: AnalysisEngine | None = None,
    ) -> None:
        super().__init__(
            settings,
            LocalEmbedder(settings.diarization, speaker_engine),
            LocalAnalyzer(settings.analysis, analysis_engine),
        )

    async def prepare(self, options: SessionOptions) -> None:
        """Load the models these options turn on."""
        features = options.features
        if features.speaker_diarization:
            await self.embedder.load()
        sentiment, topics = features.sentiment_analysis.enabled, features.topic_detection.enabled
        if sentiment or topics:
            await asyncio.to_thread(self.analyzer.engine.load, sentiment=sentiment, topics=topics)


def local_enrichment(settings: EnrichmentSettings) -> LocalEnrichment:
    return LocalEnrichment(settings)
