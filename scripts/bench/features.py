"""``--features``: what each enrichment feature adds to the final latency.

Runs one session (N=1) with every feature off, then with each named feature on alone, then
with all of them on, all on the same stream, and reports each round's final latency (median
and p95: utterance end → final received) and what it adds over the round with every feature
off. The features' options are the session's ``--options`` merged with :data:`FEATURES`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

FEATURES: dict[str, dict[str, Any]] = {
    "diarization": {"speaker_diarization": True},
    "sentiment": {"sentiment_analysis": {"enabled": True}},
    "topics": {"topic_detection": {"enabled": True}},
    "profanity": {"profanity_filter": {"enabled": True}},
    "wake_words": {"wake_words": {"enabled": True, "phrases": ["hey computer"]}},
}


def parse(value: str) -> list[str]:
    """``all`` or a comma-separated list of :data:`FEATURES` names."""
    names = list(FEATURES) if value.strip() == "all" else [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in FEATURES]
    if unknown or not names:
        raise ValueError(f"unknown features {unknown}; use 'all' or some of {', '.join(FEATURES)}")
    return names


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def plan(base: dict[str, Any], names: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """(label, session options) of each round: off, each feature alone, all together."""
    rounds = [("off", base)]
    rounds += [(n, _merge(base, {"features": FEATURES[n]})) for n in names]
    if len(names) > 1:
        every: dict[str, Any] = {}
        for n in names:
            every = _merge(every, FEATURES[n])
        rounds.append(("all", _merge(base, {"features": every})))
    return rounds


def compare(
    run_one: Callable[[dict[str, Any]], dict[str, Any]],
    base: dict[str, Any],
    names: list[str],
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Runs :func:`plan`'s rounds through ``run_one(options) -> round result``; one row a round."""
    rows: list[dict[str, Any]] = []
    for label, options in plan(base, names):
        log(f"features={label}: one session ...")
        result = run_one(options)
        final = result["final"]
        rows.append(
            {
                "features": label,
                "options": options,
                "final": final,
                "wer": result["wer"],
                "cpu_s_per_audio_s": result["cpu_s_per_audio_s"],
                "errors": result["errors"],
            }
        )
        log(f"features={label}: final median {final['median']} s p95 {final['p95']} s")
    off = rows[0]["final"]
    for row in rows:
        for stat in ("median", "p95"):
            value, baseline = row["final"][stat], off[stat]
            row[f"added_{stat}_s"] = None if value is None or baseline is None else round(value - baseline, 3)
    return rows


def markdown(rows: list[dict[str, Any]], result: dict[str, Any] | None = None) -> str:
    """The table of :func:`compare`'s rows; with the run's ``result``, under a heading that says
    how it was made (command, time, machine, stream)."""
    head: list[str] = []
    if result is not None:
        m, st = result["machine"], result["stream"]
        head = [
            f"## Enrichment features: {result['label']}",
            "",
            f"`{result['command']}`",
            "",
            f"{result['started_at']}, {m['cpu_model']}, {m['logical_cores']} cores; stream {st['duration_s']} s "
            f"({len(st['clips'])} clips) paced in real time, one session a round; final latency: utterance end "
            "→ final received; added: the round's value less the round with every feature off.",
            "",
        ]
    lines = [
        *head,
        "| features (N=1) | final latency median / p95 (s) | added median / p95 (s) | CPU s / audio s | WER |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        f = r["final"]
        added = " / ".join("—" if r[k] is None else f"{r[k]:+.3f}" for k in ("added_median_s", "added_p95_s"))
        added = "—" if r["features"] == "off" else added
        wer = "—" if r["wer"] is None else f"{100 * r['wer']:.1f}%"
        lines.append(f"| {r['features']} | {f['median']} / {f['p95']} | {added} | {r['cpu_s_per_audio_s']} | {wer} |")
    return "\n".join(lines) + "\n"
