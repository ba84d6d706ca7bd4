"""faster-whisper (CTranslate2) as the service's speech model.

:class:`WhisperEngine` is the blocking engine a model deployment holds: it loads
the model named by :class:`~app.config.ModelSettings`, warms it with one call,
and transcribes one request or a batch. :class:`WhisperTranscriber` puts it
behind the async :class:`~app.transcript.Transcriber` port.

Windows (``settings.window``):

* ``"full"``: faster-whisper's ``transcribe()``, Whisper's 30 s window, any length;
* ``"trimmed"``: the encoder sees the audio + ``window_padding_s`` only
  (:mod:`app.engines.whisper_window`); clips over 30 s fall back to ``"full"``.

Batches (``settings.batch_strategy``):

* ``"parallel"``: one call a request on ``num_workers`` threads (the CPU lever:
  CTranslate2 runs ``num_workers`` calls at once, each on ``cpu_threads`` threads);
* ``"stacked"``: one encoder batch and one ``generate()`` for the whole batch (the GPU lever).

Decoding is deterministic at temperature 0: one temperature, no fallback ladder,
no conditioning on previous text. The engine reports what the model wrote with
its no-speech probability, average log-probability and compression ratio; text
without a letter or digit (Whisper's "." on silence) is reported as empty. Beyond
that it judges nothing: the streaming guards decide what is a hallucination.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from types import TracebackType
from typing import Any

import numpy as np

from app.config import ModelSettings
from app.engines.device import limit_blas_threads
from app.engines.errors import BackendMissingError, EngineError
from app.engines.languages import can_decode, is_multilingual, model_language
from app.engines.memory import limit_primitive_cache
from app.engines.resolve import resolve_model
from app.engines.whisper_window import (
    APPEND_PUNCTUATIONS,
    PREPEND_PUNCTUATIONS,
    DecodeOptions,
    WindowDecoder,
    compression_ratio,
    spoken,
    words_from_seconds,
)
from app.heap import HeapTrimmer
from app.languages import hotwords
from app.transcript import SAMPLE_RATE, TranscribeRequest, Transcript

logger = logging.getLogger(__name__)

#: clips shorter than this (0.1 s) get an empty transcript without a model call
MIN_SAMPLES = SAMPLE_RATE // 10
#: faster-whisper's rule for a silent window in the "full" path: both must hold
NO_SPEECH_THRESHOLD = 0.6
LOG_PROB_THRESHOLD = -1.0


def empty_transcript(processing_s: float = 0.0) -> Transcript:
    """What the engine returns for audio it did not (or could not) hear anything in."""
    return Transcript(text="", no_speech_prob=1.0, compression_ratio=compression_ratio(""), processing_s=processing_s)


def unsupported_transcript() -> Transcript:
    """What a ``strict_language`` request gets from a model that cannot decode its language."""
    return replace(empty_transcript(), language_supported=False)


class WhisperEngine:
    """A loaded, warmed faster-whisper model.

    :meth:`transcribe` is thread-safe: up to ``num_workers`` callers run at once,
    more wait inside CTranslate2. :meth:`close` releases the batch threads.
    ``settings.batch_strategy`` may be changed on a live engine; the model, device
    and window are fixed when it loads.
    """

    def __init__(self, settings: ModelSettings, *, warm_up: bool = True) -> None:
        self.settings = settings.model_copy()
        limit_blas_threads(settings.cpu_threads)
        self.model_path = resolve_model(settings.model, cache_dir=settings.cache_dir)
        limit_primitive_cache()  # before the first call: one cached kernel per window length grows RSS
        self._heap = HeapTrimmer()  # gives what its threads freed back once the engine falls idle (app/heap.py)
        self._model = _load_model(self.model_path, settings)
        self.multilingual = is_multilingual(self._model)
        decode = DecodeOptions(
            beam_size=settings.beam_size,
            temperature=settings.temperature,
            without_timestamps=settings.without_timestamps,
            pad_silence=settings.window_fill == "silence",
            first_pass_tokens_per_s=settings.first_pass_tokens_per_s,
        )
        self._trimmed = WindowDecoder(self._model, replace(decode, padding_s=settings.window_padding_s))
        # the full window stacked is faster-whisper's transcribe() batched: its zero fill too
        self._full = WindowDecoder(self._model, replace(decode, padding_s=None, pad_silence=False))
        self._pool = ThreadPoolExecutor(max_workers=settings.num_workers, thread_name_prefix="whisper")
        self.warmup_s = self._warm_up() if warm_up else 0.0
        self._heap.run()

    # ------------------------------------------------------------------ public

    def transcribe(self, request: TranscribeRequest) -> Transcript:
        """One request, on the calling thread."""
        started = time.perf_counter()
        request = _checked(request)
        if request.strict_language and not can_decode(self._model, request.language):
            return unsupported_transcript()
        if request.audio.shape[0] < MIN_SAMPLES:
            return empty_transcript()
        if self.settings.window == "trimmed" and request.audio.shape[0] <= self._trimmed.max_samples:
            result = self._trimmed.decode([request], self._want_words([request]))[0]
        else:
            result = self._transcribe_full(request)
        return replace(result, processing_s=time.perf_counter() - started)

    def transcribe_batch(self, requests: Sequence[TranscribeRequest]) -> list[Transcript]:
        """Transcripts in the order of ``requests``, run as ``settings.batch_strategy`` says."""
        with self._heap.call():
            if len(requests) <= 1:
                return [self.transcribe(r) for r in requests]
            if self.settings.batch_strategy == "parallel":
                return list(self._pool.map(self.transcribe, requests))
            return self._stacked([_checked(r) for r in requests])

    def close(self) -> None:
        self._heap.close()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> WhisperEngine:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ paths

    def _stacked(self, requests: list[TranscribeRequest]) -> list[Transcript]:
        started = time.perf_counter()
        decoder = self._trimmed if self.settings.window == "trimmed" else self._full
        results = [empty_transcript() for _ in requests]
        heard: list[int] = []  # requests the model sees; the rest are too short
        batch: list[int] = []
        for i, request in enumerate(requests):
            n = request.audio.shape[0]
            if request.strict_language and not can_decode(self._model, request.language):
                results[i] = unsupported_transcript()
                continue
            if n < MIN_SAMPLES:
                continue
            heard.append(i)
            if n > decoder.max_samples:
                results[i] = self._transcribe_full(request)  # over 30 s: faster-whisper's own seeking
            else:
                batch.append(i)
        if batch:
            stacked = [requests[i] for i in batch]
            for i, result in zip(batch, decoder.decode(stacked, self._want_words(stacked)), strict=True):
                results[i] = result
        elapsed = time.perf_counter() - started  # each request waited for the whole batch
        for i in heard:
            results[i] = replace(results[i], processing_s=elapsed)
        return results

    def _transcribe_full(self, request: TranscribeRequest) -> Transcript:
        want_words = self._want_words([request])
        segments, info = self._model.transcribe(
            request.audio,
            language=model_language(self._model, request.language),
            task=request.task if self.multilingual else "transcribe",
            hotwords=hotwords(request.keyterms),
            without_timestamps=self.settings.without_timestamps,
            beam_size=self.settings.beam_size,
            best_of=1,
            temperature=self.settings.temperature,
            condition_on_previous_text=False,
            initial_prompt=request.initial_prompt or None,
            word_timestamps=want_words,
            prepend_punctuations=PREPEND_PUNCTUATIONS,
            append_punctuations=APPEND_PUNCTUATIONS,
            # faster-whisper's no-speech rule (the streaming guards' too) drops the silent
            # windows it decodes after the speech; there is no fallback to trigger
            no_speech_threshold=NO_SPEECH_THRESHOLD,
            log_prob_threshold=LOG_PROB_THRESHOLD,
            vad_filter=False,
        )
        segments = list(segments)
        detected = info.language_probability if self.multilingual and request.language is None else None
        if not segments:  # every window was silent, or the model ended it at once
            return replace(empty_transcript(), language=info.language, language_probability=detected)
        text = spoken("".join(s.text for s in segments))
        n_tokens = [max(len(s.tokens), 1) for s in segments]
        avg_logprob = sum(s.avg_logprob * n for s, n in zip(segments, n_tokens, strict=True)) / sum(n_tokens)
        raw = [(w.word, w.start, w.end, w.probability) for s in segments for w in (s.words or ())]
        return Transcript(
            text=text,
            words=words_from_seconds(raw, request.audio.shape[0]) if want_words and text else (),
            avg_logprob=float(avg_logprob),
            no_speech_prob=float(min(s.no_speech_prob for s in segments)),
            compression_ratio=compression_ratio(text),
            language=info.language,
            language_probability=None if detected is None else float(detected),
        )

    def _want_words(self, requests: Sequence[TranscribeRequest]) -> bool:
        return self.settings.word_timestamps and any(r.word_timestamps for r in requests)

    def _warm_up(self) -> float:
        # the first call pays for allocations and kernels (4 to 8 s for float32, docs/architecture.md §5)
        started = time.perf_counter()
        rng = np.random.default_rng(0)
        self.transcribe(TranscribeRequest(audio=(rng.standard_normal(SAMPLE_RATE) * 1e-3).astype(np.float32)))
        elapsed = time.perf_counter() - started
        logger.info("model %s warmed up in %.2f s", self.settings.model, elapsed)
        return elapsed


class WhisperTranscriber:
    """The :class:`~app.transcript.Transcriber` port over an engine: blocking calls run in a thread."""

    def __init__(self, engine: WhisperEngine) -> None:
        self.engine = engine

    async def transcribe(self, request: TranscribeRequest) -> Transcript:
        return await asyncio.to_thread(self.engine.transcribe, request)

    async def transcribe_batch(self, requests: Sequence[TranscribeRequest]) -> list[Transcript]:
        return await asyncio.to_thread(self.engine.transcribe_batch, requests)


def _checked(request: TranscribeRequest) -> TranscribeRequest:
    audio = np.asarray(request.audio)
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio (1-D samples), got shape {audio.shape}")
    if audio.dtype != np.float32 or not audio.flags.c_contiguous:
        return replace(request, audio=np.ascontiguousarray(audio, dtype=np.float32))
    return request


def _load_model(path: str, settings: ModelSettings) -> Any:
    try:
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise BackendMissingError("faster-whisper is not installed; pip install faster-whisper") from exc
    started = time.perf_counter()
    try:
        model = WhisperModel(
            path,
            device=settings.device,
            device_index=settings.gpu_device_index,
            compute_type=settings.compute_type,
            cpu_threads=settings.cpu_threads,
            num_workers=settings.num_workers,
        )
    except Exception as exc:  # CTranslate2 and the Hub raise many kinds; the cause stays chained
        raise EngineError(
            f"could not load model {settings.model!r} (from {path!r}) on {settings.device} "
            f"as {settings.compute_type}: {type(exc).__name__}: {exc}"
        ) from exc
    logger.info("model %s loaded from %s in %.2f s", settings.model, path, time.perf_counter() - started)
    return model
