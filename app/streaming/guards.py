"""Guards against Whisper's hallucinations on silence, noise and short padding.

Used on every realtime and main result. The VAD keeps most silence from the
model in the first place; these catch what slips through:

* the no-speech rule Whisper itself uses (high no-speech probability with a low
  average log-probability);
* a compression ratio that only looping text reaches;
* repeated phrases (the decoder restating the sentence after speech ended);
* stock phrases Whisper emits on non-speech, when the utterance is short;
* words timed outside the audio that was transcribed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from app.streaming.agreement import normalize_word
from app.transcript import SAMPLE_RATE, Transcript, WordTiming, join_words


@dataclass(frozen=True, slots=True)
class GuardSettings:
    no_speech_threshold: float = 0.6
    logprob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    #: these alone, in an utterance shorter than ``stock_phrase_max_s``, are noise
    stock_phrases: tuple[str, ...] = (
        "thank you",
        "thanks for watching",
        "thank you for watching",
        "you",
        "bye",
        "so",
        "okay",
        "oh",
    )
    stock_phrase_max_s: float = 1.5
    max_repeats: int = 2


DEFAULT_GUARDS = GuardSettings()


def is_hallucination(
    t: Transcript, audio_samples: int, g: GuardSettings = DEFAULT_GUARDS, *, continues: bool = False
) -> bool:
    """``continues``: the text continues committed words of its utterance (a tail-only partial), so a
    stock phrase there is not alone in a short utterance."""
    if not t.text:
        return False
    if t.no_speech_prob > g.no_speech_threshold and t.avg_logprob < g.logprob_threshold:
        return True
    if t.compression_ratio > g.compression_ratio_threshold:
        return True
    if continues:
        return False
    key = " ".join(normalize_word(w) for w in t.text.split()).strip()
    return key in g.stock_phrases and audio_samples < g.stock_phrase_max_s * SAMPLE_RATE


def collapse_repeats(words: tuple[WordTiming, ...], max_repeats: int = 2) -> tuple[WordTiming, ...]:
    """Cut a phrase that repeats back to back more than ``max_repeats`` times, and a
    trailing restatement of the whole opening (the decoder looping after speech)."""
    keys = [normalize_word(w.text) for w in words]
    n = len(keys)
    # the decoder restating the opening after the speech ended: at least 4 words
    for size in range(n // 2, 3, -1):
        if keys[n - size :] == keys[:size]:
            words, keys, n = words[: n - size], keys[: n - size], n - size
            break
    out: list[WordTiming] = []
    out_keys: list[str] = []
    for word, key in zip(words, keys, strict=True):
        out.append(word)
        out_keys.append(key)
        for size in range(1, 9):
            reps = max_repeats + 1
            if len(out_keys) < size * reps:
                break
            unit = out_keys[-size:]
            if all(out_keys[-size * (k + 1) : len(out_keys) - size * k] == unit for k in range(reps)):
                del out[-size:]
                del out_keys[-size:]
                break
    return tuple(out)


def clean(
    t: Transcript, audio_samples: int, g: GuardSettings = DEFAULT_GUARDS, *, continues: bool = False
) -> Transcript:
    """The transcript with guards applied; an empty transcript when it is a hallucination."""
    if is_hallucination(t, audio_samples, g, continues=continues):
        return Transcript(text="", no_speech_prob=t.no_speech_prob, processing_s=t.processing_s)
    if not t.words:
        return t
    limit = audio_samples + SAMPLE_RATE // 10
    words = tuple(w for w in t.words if w.start < limit and w.text.strip())
    words = collapse_repeats(words, g.max_repeats)
    if len(words) == len(t.words):
        return t
    return replace(t, words=words, text=join_words(words))


def tidy_partial(words: tuple[WordTiming, ...]) -> tuple[WordTiming, ...]:
    """Partials are cut mid-speech, and Whisper marks the cut: an ellipsis on the last word
    ("child...") or a dangling dash. Neither belongs in the text, and an ellipsis that
    LocalAgreement made stable would stay in every later partial."""
    out = []
    for w in words:
        text = w.text.strip().removesuffix("...").removesuffix("…").removeprefix("...").removeprefix("…")
        if any(ch.isalnum() for ch in text):
            out.append(w if text == w.text else replace(w, text=text))
    return tuple(out)
