"""The seed's formatting options, applied to result text."""

from __future__ import annotations

from app.options import FormattingOptions


def format_text(text: str, options: FormattingOptions, *, final: bool) -> str:
    text = " ".join(text.split())
    if not text:
        return text
    if options.ensure_sentence_starting_uppercase:
        first = next((i for i, ch in enumerate(text) if ch.isalpha()), None)
        if first is not None:
            text = text[:first] + text[first].upper() + text[first + 1 :]
    # partials end mid-sentence; a period there would flicker in and out
    if final and options.ensure_sentence_ends_with_period and text[-1].isalnum():
        text += "."
    return text
