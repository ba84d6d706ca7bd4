"""One CTranslate2 ``generate()`` call over a batch of short clips, with a window cut to the audio.

faster-whisper's ``transcribe()`` pads every input to Whisper's 30 s window, which
costs ~0.25 s a call on 2 CPU cores whatever the clip length (docs/architecture.md §5). The
encoder does not need the full window: mel features padded to the audio length +
``padding_s`` give the same text at a fraction of the cost. This module builds
that call from faster-whisper's own pieces (feature extractor, tokenizer,
``get_prompt``, ``encode``, ``add_word_timestamps``) and is the only place that
touches faster-whisper internals; ``padding_s=None`` keeps the full 30 s window
(what the stacked strategy uses for ``window="full"``).

Clips share one encoder batch, so they are padded to the longest window in the
batch; Whisper has no attention mask, so a clip can decode slightly differently
in a batch than alone (the more padding, the less it matters).
"""

from __future__ import annotations

import math
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.engines.repetition import cut_past_end, loop_start
from app.errors import ConfigError
from app.transcript import SAMPLE_RATE, TranscribeRequest, Transcript, WordTiming

#: Whisper's window, in mel frames (10 ms each)
FULL_WINDOW_FRAMES = 3000
#: a decode cap well above any speech rate (English is ~4 tokens/s, CJK ~15), so a
#: loop the padding lets start costs a fraction of the 448-token maximum
MAX_TOKENS_PER_S = 20.0
MIN_NEW_TOKENS = 32
PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    beam_size: int = 1
    temperature: float = 0.0
    #: seconds of padding after the audio; None: Whisper's full 30 s window
    padding_s: float | None = 10.0


def compression_ratio(text: str) -> float:
    """The gzip compression ratio of ``text``, as faster-whisper computes it (0 for empty text)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data))


def spoken(text: str) -> str:
    """``text`` stripped, or "" when it holds no letter or digit (Whisper writes "." on silence)."""
    text = text.strip()
    return text if any(c.isalnum() for c in text) else ""


def to_samples(seconds: float, limit: int) -> int:
    return min(max(round(seconds * SAMPLE_RATE), 0), limit)


def words_from_seconds(raw: Sequence[tuple[str, float, float, float]], n_samples: int) -> tuple[WordTiming, ...]:
    """(word, start_s, end_s, probability) → words in samples, clamped to the audio and kept in order."""
    out: list[WordTiming] = []
    prev_end = 0
    for text, start_s, end_s, probability in raw:
        word = text.strip()
        if not word:
            continue
        start = max(to_samples(start_s, n_samples), prev_end)
        end = max(to_samples(end_s, n_samples), start)
        out.append(WordTiming(text=word, start=start, end=end, probability=float(probability)))
        prev_end = end
    return tuple(out)


@dataclass(slots=True)
class _Item:
    index: int
    request: TranscribeRequest
    features: npt.NDArray[np.float32]  # (n_mels, content_frames)
    prompt: list[int]
    tokenizer: Any


class WindowDecoder:
    """Decodes clips of at most 30 s with one encoder pass and one ``generate()`` per prompt shape.

    Thread-safe: it keeps no per-call state (tokenizers are cached per language).
    """

    def __init__(self, model: Any, options: DecodeOptions) -> None:
        self._model = model  # faster_whisper.WhisperModel
        self._options = options
        self._tokenizers: dict[str, tuple[Any, list[int]]] = {}
        self._lock = threading.Lock()

    @property
    def max_samples(self) -> int:
        return FULL_WINDOW_FRAMES * int(self._model.feature_extractor.hop_length)

    def decode(self, requests: Sequence[TranscribeRequest], want_words: bool) -> list[Transcript]:
        """Transcripts in the order of ``requests`` (each at most :attr:`max_samples` long).

        CTranslate2 needs the start-of-transcript token at the same index in every
        prompt of a batch, so requests whose prompts differ in length (another
        ``initial_prompt``) or language go to separate ``generate()`` calls.
        """
        groups: dict[tuple[str, int], list[_Item]] = {}
        for index, request in enumerate(requests):
            item = self._prepare(index, request)
            groups.setdefault((item.tokenizer.language_code, len(item.prompt)), []).append(item)
        results: list[Transcript | None] = [None] * len(requests)
        for items in groups.values():
            for item, transcript in zip(items, self._decode_group(items, want_words), strict=True):
                results[item.index] = transcript
        return [t for t in results if t is not None]

    # ------------------------------------------------------------------ steps

    def _prepare(self, index: int, request: TranscribeRequest) -> _Item:
        if request.audio.shape[0] > self.max_samples:
            raise ValueError(f"clip of {request.audio.shape[0]} samples is longer than the 30 s window")
        tokenizer, _ = self._tokenizer(request.language)
        previous: list[int] = []
        if request.initial_prompt and request.initial_prompt.strip():
            previous = tokenizer.encode(" " + request.initial_prompt.strip())
        prompt = list(self._model.get_prompt(tokenizer, previous, without_timestamps=False))
        features = self._model.feature_extractor(request.audio)
        content_frames = min(features.shape[-1] - 1, FULL_WINDOW_FRAMES)
        return _Item(index, request, features[:, :content_frames], prompt, tokenizer)

    def _window_frames(self, content_frames: int) -> int:
        if self._options.padding_s is None:
            return FULL_WINDOW_FRAMES
        frames = min(content_frames + round(self._options.padding_s * 100), FULL_WINDOW_FRAMES)
        return frames + frames % 2  # the encoder's convolution halves the frames

    def _decode_group(self, items: list[_Item], want_words: bool) -> list[Transcript]:
        model = self._model
        frames = max(self._window_frames(item.features.shape[-1]) for item in items)
        batch = np.zeros((len(items), items[0].features.shape[0], frames), dtype=np.float32)
        for row, item in enumerate(items):
            batch[row, :, : item.features.shape[-1]] = item.features
        encoder_output = model.encode(batch)
        tokenizer, suppress = self._tokenizer(items[0].request.language)
        longest_s = max(item.request.audio.shape[0] for item in items) / SAMPLE_RATE
        max_new = MIN_NEW_TOKENS + math.ceil(MAX_TOKENS_PER_S * longest_s)
        max_length = min(int(model.max_length), len(items[0].prompt) + max_new)
        results = model.model.generate(
            encoder_output,
            [item.prompt for item in items],
            max_length=max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=suppress,
            max_initial_timestamp_index=50,
            **self._sampling(),
        )
        decoded = [
            self._tokens(item, result, tokenizer, max_length - len(item.prompt))
            for item, result in zip(items, results, strict=True)
        ]
        words: list[tuple[WordTiming, ...]] = [() for _ in items]
        if want_words and any(text for text, _, _ in decoded):
            words = self._align(items, [segments for _, segments, _ in decoded], encoder_output, tokenizer)
        out = []
        for item, (text, _, stats), item_words in zip(items, decoded, words, strict=True):
            avg_logprob, no_speech_prob = stats
            out.append(
                Transcript(
                    text=text,
                    words=item_words if item.request.word_timestamps else (),
                    avg_logprob=avg_logprob,
                    no_speech_prob=no_speech_prob,
                    compression_ratio=compression_ratio(text),
                )
            )
        return out

    def _sampling(self) -> dict[str, Any]:
        if self._options.temperature > 0:
            # one sample: a single temperature and no fallback ladder
            return {
                "beam_size": 1,
                "num_hypotheses": 1,
                "sampling_topk": 0,
                "sampling_temperature": self._options.temperature,
            }
        return {"beam_size": self._options.beam_size, "patience": 1.0}

    def _tokens(
        self, item: _Item, result: Any, tokenizer: Any, max_new: int
    ) -> tuple[str, list[dict[str, Any]], tuple[float, float]]:
        """Text, segments for alignment and (avg_logprob, no_speech_prob) of one decode, loops cut."""
        tokens = list(result.sequences_ids[0])
        # the average log-probability of the whole decode, recovered as faster-whisper does
        avg_logprob = float(result.scores[0]) * len(tokens) / (len(tokens) + 1)
        audio_s = item.request.audio.shape[0] / SAMPLE_RATE
        kept = cut_past_end(tokens, tokenizer.timestamp_begin, tokenizer.eot, audio_s)
        text_tokens = [t for t in kept if t < tokenizer.eot]
        if text_tokens:
            words, word_tokens = tokenizer.split_to_word_tokens(text_tokens)
            cut = loop_start(words, min_copies=2 if len(tokens) >= max_new - 1 else 3)
            if cut is not None:
                keep = sum(len(w) for w in word_tokens[:cut])
                kept = _keep_text_tokens(kept, keep, tokenizer.eot)
                text_tokens = text_tokens[:keep]
        segments = _segments(kept, tokenizer, audio_s)
        text = spoken(tokenizer.decode(text_tokens))
        return text, segments if text else [], (avg_logprob, float(result.no_speech_prob))

    def _align(
        self, items: list[_Item], segments: list[list[dict[str, Any]]], encoder_output: Any, tokenizer: Any
    ) -> list[tuple[WordTiming, ...]]:
        batch = [s or [{"seek": 0, "start": 0.0, "end": 0.0, "tokens": []}] for s in segments]
        self._model.add_word_timestamps(
            batch,
            tokenizer,
            encoder_output,
            [item.features.shape[-1] for item in items],  # CTranslate2 takes one count per clip
            PREPEND_PUNCTUATIONS,
            APPEND_PUNCTUATIONS,
            last_speech_timestamp=0.0,
        )
        out = []
        for item, item_segments in zip(items, batch, strict=True):
            raw = [
                (w["word"], w["start"], w["end"], w["probability"])
                for segment in item_segments
                for w in segment.get("words", [])
            ]
            out.append(words_from_seconds(raw, item.request.audio.shape[0]))
        return out

    def _tokenizer(self, language: str) -> tuple[Any, list[int]]:
        """The tokenizer and the suppressed tokens for ``language``, built once."""
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        model = self._model
        language = model_language(model, language)
        with self._lock:
            cached = self._tokenizers.get(language)
            if cached is None:
                tokenizer = Tokenizer(
                    model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
                )
                cached = (tokenizer, list(get_suppressed_tokens(tokenizer, [-1])))
                self._tokenizers[language] = cached
        return cached


def model_language(model: Any, language: str) -> str:
    """The language to decode ``language`` requests in; :class:`ConfigError` when the model lacks it."""
    if not model.model.is_multilingual:
        return "en"  # an English-only model writes English whatever was asked
    if language not in model.supported_languages:
        raise ConfigError(f"language {language!r} is not supported by this model; use an ISO 639-1 code")
    return str(language)


def _keep_text_tokens(tokens: list[int], keep: int, eot: int) -> list[int]:
    """``tokens`` (timestamps included) up to the ``keep``-th text token."""
    out: list[int] = []
    seen = 0
    for token in tokens:
        if token < eot:
            if seen == keep:
                break
            seen += 1
        out.append(token)
    return out


def _segments(tokens: list[int], tokenizer: Any, audio_s: float) -> list[dict[str, Any]]:
    """Runs of text tokens between timestamp tokens, in the shape ``add_word_timestamps`` reads."""
    segments: list[dict[str, Any]] = []
    start = 0.0
    current: list[int] = []
    for token in tokens:
        if token >= tokenizer.timestamp_begin:
            time_s = (token - tokenizer.timestamp_begin) * 0.02
            if current:
                segments.append({"seek": 0, "start": start, "end": min(time_s, audio_s), "tokens": current})
                current = []
            start = min(time_s, audio_s)
        elif token < tokenizer.eot:
            current.append(token)
    if current:
        segments.append({"seek": 0, "start": start, "end": audio_s, "tokens": current})
    return segments
