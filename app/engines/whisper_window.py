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

from app.engines.languages import detect_language, model_language
from app.engines.repetition import cut_past_end, loop_start
from app.languages import hotwords
from app.transcript import SAMPLE_RATE, TranscribeRequest, Transcript, WordTiming

#: Whisper's window, in mel frames (10 ms each)
FULL_WINDOW_FRAMES = 3000
#: a decode cap well above any speech rate (English is ~4 tokens/s, CJK ~15), so a
#: loop the padding lets start costs a fraction of the 448-token maximum
MAX_TOKENS_PER_S = 20.0
MIN_NEW_TOKENS = 32
#: the first pass of a greedy decode (``DecodeOptions.first_pass_tokens_per_s``) may write this many
#: tokens more than its rate allows: the start-of-text timestamp, the closing one and end of text
FIRST_PASS_MIN_TOKENS = 8
#: tokens of context (key terms, initial prompt) before the start of transcript: faster-whisper's
#: bound, half of Whisper's 448-token context
MAX_CONTEXT_TOKENS = 223
#: Whisper's normalised log-mel of zero power: (log10(1e-10) + 4) / 4
SILENCE_FLOOR = -1.5
PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    beam_size: int = 1
    temperature: float = 0.0
    #: seconds of padding after the audio; None: Whisper's full 30 s window
    padding_s: float | None = 10.0
    #: decode text only (``<|notimestamps|>``): no timestamp tokens, so no segment cuts
    without_timestamps: bool = False
    #: fill the window after the audio with the log-mel value of silence (Whisper's own
    #: padding); False: with 0, as faster-whisper's ``pad_or_trim`` does
    pad_silence: bool = False
    #: greedy decoding only: decode first with a cap of ``FIRST_PASS_MIN_TOKENS`` + this many tokens a
    #: second of audio, and again with the full cap only when the first pass reached its cap with
    #: neither a loop nor text past the audio's end to cut (``None``: one pass, the full cap)
    first_pass_tokens_per_s: float | None = None


def generation_length(prompt_tokens: int, new_tokens: int, model_max: int) -> tuple[int, int]:
    """CTranslate2's ``max_length`` for a decode that may write ``new_tokens`` after a prompt of
    ``prompt_tokens``, and how many it may then write.

    CTranslate2's Whisper stops at ``max_length - prompt_tokens + 1`` new tokens and also at half of
    ``max_length`` (Whisper's own ``sample_len``, half its text context): a ``max_length`` of prompt +
    N allowed about N / 2 (measured on 4.8; tests/model/test_whisper_engine.py).
    """
    length = min(model_max, max(2 * new_tokens, prompt_tokens + new_tokens - 1))
    return length, max(1, min(length // 2, length - prompt_tokens + 1))


def compression_ratio(text: str) -> float:
    """The gzip compression ratio of ``text``, as faster-whisper computes it (0 for empty text)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data))


def silence_level(features: npt.NDArray[np.float32]) -> float:
    """The value Whisper's normalised log-mel gives digital silence in these features.

    The feature extractor floors the power at 1e-10 (log10: -10), clamps the log at its
    maximum - 8 and maps it through (x + 4) / 4, so silence sits at the larger of -1.5 and the
    features' maximum - 2. A 0 (what ``pad_or_trim`` pads with) is far louder than that: a
    flat, noise-like spectrum the model never saw after speech in training (OpenAI's Whisper
    pads the *audio* with zeros), and Whisper base reads it as the end of the transcript,
    cutting sentences short.
    """
    return max(SILENCE_FLOOR, float(features.max()) - 2.0) if features.size else SILENCE_FLOOR


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
        joined = bool(out) and not text[:1].isspace()  # Whisper writes the space into the word
        out.append(WordTiming(text=word, start=start, end=end, probability=float(probability), joined=joined))
        prev_end = end
    return tuple(out)


@dataclass(slots=True)
class _Item:
    index: int
    request: TranscribeRequest
    features: npt.NDArray[np.float32]  # (n_mels, content_frames)
    context: list[int]  # the tokens before the start of transcript: key terms, initial prompt
    language: str | None  # None until detected
    language_probability: float | None = None


class WindowDecoder:
    """Decodes clips of at most 30 s with one encoder pass and one ``generate()`` per prompt shape.

    Thread-safe: it keeps no per-call state (tokenizers are cached per language and task).
    A request without a language is decoded in the language detected on its own encoder
    output (one decoder step, no second encoder pass).
    """

    def __init__(self, model: Any, options: DecodeOptions) -> None:
        self._model = model  # faster_whisper.WhisperModel
        self._options = options
        self._tokenizers: dict[tuple[str, str], tuple[Any, list[int]]] = {}
        self._lock = threading.Lock()

    @property
    def max_samples(self) -> int:
        return FULL_WINDOW_FRAMES * int(self._model.feature_extractor.hop_length)

    def decode(self, requests: Sequence[TranscribeRequest], want_words: bool) -> list[Transcript]:
        """Transcripts in the order of ``requests`` (each at most :attr:`max_samples` long).

        CTranslate2 needs the start-of-transcript token at the same index in every
        prompt of a batch, so requests whose prompts differ in length (another
        ``initial_prompt`` or key terms), language or task go to separate ``generate()``
        calls; requests to detect share one encoder pass and split by what was detected.
        """
        groups: dict[tuple[str | None, str, int], list[_Item]] = {}
        for index, request in enumerate(requests):
            item = self._prepare(index, request)
            groups.setdefault((item.language, request.task, len(item.context)), []).append(item)
        results: list[Transcript | None] = [None] * len(requests)
        for items in groups.values():
            for item, transcript in self._decode_group(items, want_words):
                results[item.index] = transcript
        return [t for t in results if t is not None]

    # ------------------------------------------------------------------ steps

    def _prepare(self, index: int, request: TranscribeRequest) -> _Item:
        if request.audio.shape[0] > self.max_samples:
            raise ValueError(f"clip of {request.audio.shape[0]} samples is longer than the 30 s window")
        language = model_language(self._model, request.language)
        tokenizer, _ = self._tokenizer(language or "en", request.task)  # text tokens do not depend on either
        # key terms first (at most half the room), then the end of the initial prompt
        keyterms = hotwords(request.keyterms)
        context: list[int] = tokenizer.encode(" " + keyterms)[: MAX_CONTEXT_TOKENS // 2] if keyterms else []
        if request.initial_prompt and request.initial_prompt.strip():
            room = MAX_CONTEXT_TOKENS - len(context)
            context.extend(tokenizer.encode(" " + request.initial_prompt.strip())[-room:])
        features = self._model.feature_extractor(request.audio)
        content_frames = min(features.shape[-1] - 1, FULL_WINDOW_FRAMES)
        return _Item(index, request, features[:, :content_frames], context, language)

    def _prompt(self, item: _Item) -> list[int]:
        tokenizer, _ = self._tokenizer(item.language or "en", item.request.task)
        prompt = [tokenizer.sot_prev, *item.context] if item.context else []
        prompt.extend(tokenizer.sot_sequence)
        if self._options.without_timestamps:
            prompt.append(tokenizer.no_timestamps)
        return prompt

    def _window_frames(self, content_frames: int) -> int:
        if self._options.padding_s is None:
            return FULL_WINDOW_FRAMES
        frames = min(content_frames + round(self._options.padding_s * 100), FULL_WINDOW_FRAMES)
        return frames + frames % 2  # the encoder's convolution halves the frames

    def _encode(self, items: list[_Item]) -> Any:
        frames = max(self._window_frames(item.features.shape[-1]) for item in items)
        batch = np.zeros((len(items), items[0].features.shape[0], frames), dtype=np.float32)
        for row, item in enumerate(items):
            batch[row, :, : item.features.shape[-1]] = item.features
            if self._options.pad_silence:
                batch[row, :, item.features.shape[-1] :] = silence_level(item.features)
        return self._model.encode(batch)

    def _decode_group(self, items: list[_Item], want_words: bool) -> list[tuple[_Item, Transcript]]:
        encoder_output = self._encode(items)
        if items[0].language is not None:
            return list(zip(items, self._generate(items, encoder_output, want_words), strict=True))
        for item, (language, probability) in zip(items, detect_language(self._model, encoder_output), strict=True):
            item.language, item.language_probability = language, probability
        by_language: dict[str | None, list[_Item]] = {}
        for item in items:
            by_language.setdefault(item.language, []).append(item)
        if len(by_language) == 1:
            return list(zip(items, self._generate(items, encoder_output, want_words), strict=True))
        out: list[tuple[_Item, Transcript]] = []
        for same in by_language.values():  # alignment takes one language a batch: encode each anew
            out.extend(zip(same, self._generate(same, self._encode(same), want_words), strict=True))
        return out

    def _generate(self, items: list[_Item], encoder_output: Any, want_words: bool) -> list[Transcript]:
        tokenizer, suppress = self._tokenizer(items[0].language or "en", items[0].request.task)
        prompts = [self._prompt(item) for item in items]
        longest_s = max(item.request.audio.shape[0] for item in items) / SAMPLE_RATE
        full_new = MIN_NEW_TOKENS + math.ceil(MAX_TOKENS_PER_S * longest_s)
        first_new = self._first_pass_tokens(longest_s)
        max_new = full_new if first_new is None or first_new >= full_new else first_new
        decoded = self._decode_tokens(items, prompts, encoder_output, tokenizer, suppress, max_new)
        if max_new < full_new and not all(settled for _, _, _, settled in decoded):
            # a first pass cut short where no loop was found: speech this dense needs the full cap
            # (greedy decoding writes the same tokens up to any cap, so only the cap changed)
            decoded = self._decode_tokens(items, prompts, encoder_output, tokenizer, suppress, full_new)
        words: list[tuple[WordTiming, ...]] = [() for _ in items]
        if want_words and any(text for text, _, _, _ in decoded):
            words = self._align(items, [segments for _, segments, _, _ in decoded], encoder_output, tokenizer)
        out = []
        for item, (text, _, stats, _), item_words in zip(items, decoded, words, strict=True):
            avg_logprob, no_speech_prob = stats
            out.append(
                Transcript(
                    text=text,
                    words=item_words if item.request.word_timestamps else (),
                    avg_logprob=avg_logprob,
                    no_speech_prob=no_speech_prob,
                    compression_ratio=compression_ratio(text),
                    language=item.language,
                    language_probability=item.language_probability,
                )
            )
        return out

    def _first_pass_tokens(self, audio_s: float) -> int | None:
        """New tokens the first pass may write, or None when there is one pass (beam search, sampling:
        their text up to a cap is not the text the full cap would give)."""
        rate = self._options.first_pass_tokens_per_s
        if rate is None or self._options.beam_size != 1 or self._options.temperature > 0:
            return None
        return FIRST_PASS_MIN_TOKENS + math.ceil(rate * audio_s)

    def _decode_tokens(
        self,
        items: list[_Item],
        prompts: list[list[int]],
        encoder_output: Any,
        tokenizer: Any,
        suppress: list[int],
        max_new: int,
    ) -> list[tuple[str, list[dict[str, Any]], tuple[float, float], bool]]:
        max_length, max_new = generation_length(len(prompts[0]), max_new, int(self._model.max_length))
        results = self._model.model.generate(
            encoder_output,
            prompts,
            max_length=max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=suppress,
            max_initial_timestamp_index=50,
            **self._sampling(),
        )
        return [self._tokens(item, result, tokenizer, max_new) for item, result in zip(items, results, strict=True)]

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
    ) -> tuple[str, list[dict[str, Any]], tuple[float, float], bool]:
        """Text, segments for alignment, (avg_logprob, no_speech_prob) of one decode, loops cut, and
        whether the decode is settled: it ended by itself before ``max_new`` tokens, or a loop or text
        past the audio's end was cut from it."""
        tokens = list(result.sequences_ids[0])
        # the average log-probability of the whole decode, recovered as faster-whisper does
        avg_logprob = float(result.scores[0]) * len(tokens) / (len(tokens) + 1)
        audio_s = item.request.audio.shape[0] / SAMPLE_RATE
        capped = len(tokens) >= max_new - 1
        kept = cut_past_end(tokens, tokenizer.timestamp_begin, tokenizer.eot, audio_s)
        settled = not capped or len(kept) < len(tokens)
        text_tokens = [t for t in kept if t < tokenizer.eot]
        if text_tokens:
            words, word_tokens = tokenizer.split_to_word_tokens(text_tokens)
            cut = loop_start(words, min_copies=2 if capped else 3)
            if cut is not None:
                keep = sum(len(w) for w in word_tokens[:cut])
                kept = _keep_text_tokens(kept, keep, tokenizer.eot)
                text_tokens = text_tokens[:keep]
                settled = True
        segments = _segments(kept, tokenizer, audio_s)
        text = spoken(tokenizer.decode(text_tokens))
        return text, segments if text else [], (avg_logprob, float(result.no_speech_prob)), settled

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

    def _tokenizer(self, language: str, task: str) -> tuple[Any, list[int]]:
        """The tokenizer and the suppressed tokens for ``language`` and ``task``, built once."""
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        model = self._model
        key = (language, task if model.model.is_multilingual else "transcribe")
        with self._lock:
            cached = self._tokenizers.get(key)
            if cached is None:
                tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task=key[1], language=language)
                cached = (tokenizer, list(get_suppressed_tokens(tokenizer, [-1])))
                self._tokenizers[key] = cached
        return cached


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
