"""Partials whose cost does not grow with the utterance: only the audio after the committed words.

LocalAgreement-2 commits a word once two consecutive hypotheses agree on it, and a committed word
never changes. So a partial call need not decode the committed audio again: it decodes only the
*tail*, from the start of the last committed word (at least :data:`OVERLAP_S` before its end: a
call that starts inside a word hears a fragment of it as a word of its own), with the committed
text as the decoder's prompt, so the continuation reads on. The hypothesis's words that end in
the committed region (and a repeat of the last committed word) are dropped
(:meth:`~app.streaming.agreement.LocalAgreement.update`).

Two bounds keep the work finite:

* no call at all when no speech was heard after the committed words (a pause inside the
  utterance, or the silence before its end): nothing new to hear, and nothing to hallucinate on;
* the tail is at most ``max_tail_s``: when the model has agreed on nothing for that long, the
  tentative words of the older half are committed as they stand
  (:meth:`LocalAgreement.commit_through`), so the window moves on and its cost stays bounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.transcript import SAMPLE_RATE, WordTiming

#: audio before the committed end that a tail call hears again
OVERLAP_S = 0.1
OVERLAP = round(OVERLAP_S * SAMPLE_RATE)
#: how far the VAD's speech end may trail the last word's end (Silero's hold after speech)
VAD_HANGOVER = round(0.3 * SAMPLE_RATE)
#: committed words a tail call hears again (the answer's copies of them are dropped): context for the
#: model (measured, scripts/measure_partials.py: word emission p95 0.52 s with 1, 0.46 s with 3)
CONTEXT_WORDS = 3
#: committed text given as the prompt: its last characters (Whisper's prompt holds ~224 tokens)
PROMPT_CHARS = 200
#: of the previous final, the prompt of a fresh utterance's calls: its last characters
PREVIOUS_CHARS = 120


@dataclass(frozen=True, slots=True)
class Tail:
    start: int  # absolute offset where the call's audio begins
    committed_end: int  # end of the last committed word (the utterance start when none)
    prompt: str | None  # the committed text the call is conditioned on

    @property
    def fresh(self) -> bool:
        """No word committed yet: the call covers the whole utterance."""
        return self.prompt is None


def plan_tail(utterance_start: int, committed: Sequence[WordTiming], context_words: int | None = None) -> Tail:
    """Where the next partial call's audio starts, given the utterance's committed words: the last
    ``context_words`` of them are heard again (and dropped from the answer)."""
    if not committed:
        return Tail(utterance_start, utterance_start, None)
    last = committed[-1]
    first = committed[-min(CONTEXT_WORDS if context_words is None else context_words, len(committed))]
    prompt = last_chars(" ".join(w.text for w in committed), PROMPT_CHARS) or ""
    # from the start of the last committed word: a call that starts inside a word hears a fragment of
    # it as a word of its own ("country" -> "trick"); the whole word is recognised, and dropped
    return Tail(max(utterance_start, min(first.start, last.end - OVERLAP)), last.end, prompt)


def has_new_speech(tail: Tail, last_speech_end: int | None, *, tentative: bool) -> bool:
    """Whether there is anything left to hear: words not yet confirmed, or speech the VAD heard past
    the committed words by more than its own hangover (a fresh utterance always has some)."""
    if tail.fresh or tentative:
        return True
    return last_speech_end is not None and last_speech_end > tail.committed_end + VAD_HANGOVER


def overdue_commit(tail: Tail, now: int, max_tail: int) -> int | None:
    """The offset through which tentative words must be committed once the tail is longer than
    ``max_tail`` samples (the older half of it, so the window jumps on instead of creeping), or
    None when it is within."""
    if now - tail.start <= max_tail:
        return None
    return now - max_tail // 2


def prompt_for(session_prompt: str | None, tail: Tail, previous_text: str | None = None) -> str | None:
    """The session's own ``initial_prompt`` first, then the committed text; a fresh utterance (nothing
    committed yet) hears the end of the session's previous final instead, as Whisper conditions each
    window on the text before it. Alone, tiny.en misheard an utterance's first words after a pause
    ("what your country" as "Like your country", "ask not" as "S not"); with the previous final as
    its prompt, word emission p95 on the benchmark stream went from 0.51 to 0.45 s of audio time
    (scripts/measure_partials.py), the same words shown, five more calls in 191."""
    context = tail.prompt if not tail.fresh else last_chars(previous_text, PREVIOUS_CHARS)
    parts = [p.strip() for p in (session_prompt, context) if p and p.strip()]
    return " ".join(parts) or None


def last_chars(text: str | None, limit: int) -> str | None:
    """The end of ``text``, at most ``limit`` characters, cut at a word boundary."""
    if not text:
        return None
    cut = text[-limit:]
    return cut.split(" ", 1)[-1] if len(text) > limit else cut
