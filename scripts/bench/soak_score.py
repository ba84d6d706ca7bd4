"""The soak's figures from its lanes' records: latency by time slice, errors by code, finals delivered vs
stored, memory growth, and the verdict.

* word emission: a ground-truth word (:mod:`bench.corpus`) placed where the session sent it (speech that was
  neither paused nor within ``EDGE_MARGIN_S`` of a break) is emitted by the first partial or final holding
  the same normalised word at an overlapping time (``scoring.TOLERANCE_S``); latency = arrival - the word's
  end; it falls in the slice of the word's end;
* final: per non-empty final, arrival - the end of its speech (the last placed word inside its audio span,
  else its own last word, else its ``audio.end``); it falls in the slice of its arrival;
* errors: every ``error`` whose code a bad frame of the same session asked for is *expected* (up to the
  number injected); any other error, every warning and every failed client call is *unexpected*; an injected
  bad frame without its error is *unanswered*;
* memory: summed PSS (RSS beside it) of the Ray/Serve processes, idle before the lanes start and after they
  end, and every slice under load.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.corpus import GroundTruth
from bench.scoring import TOLERANCE_S, stats
from bench.soak_plan import EDGE_MARGIN_S, SessionRun


@dataclass(frozen=True)
class Thresholds:
    latency_drift_s: float = 0.25  # last slice median at most this much above the first (word emission, final)
    memory_growth_mb: float = 50.0  # whole-app PSS, end - start (both idle)

    def describe(self) -> str:
        return (
            f"flat latency: the last slice's word emission and final latency medians within "
            f"+{self.latency_drift_s:g} s of the first slice's; memory: the whole app's PSS grows at most "
            f"{self.memory_growth_mb:g} MB from start to end (both idle); no unexpected error, warning or client "
            f"failure and every bad frame answered with its code; every session ended and its stored transcript "
            f"equals the finals delivered"
        )


# ---------------------------------------------------------------------------- latency


def placed_words(run: SessionRun, truth: GroundTruth) -> list[tuple[str, float, float]]:
    """(normalised word, start, end) in the session's stream time, of the words it should have shown."""
    out: list[tuple[str, float, float]] = []
    for span in run.spans:
        if span.corpus_s is None:
            continue
        lo, hi = span.corpus_s + EDGE_MARGIN_S, span.corpus_s + (span.end_s - span.start_s) - EDGE_MARGIN_S
        shift = span.start_s - span.corpus_s
        out += [(w.key, w.start_s + shift, w.end_s + shift) for w in truth.words if lo <= w.start_s and w.end_s <= hi]
    return out


def latencies(runs: list[SessionRun], truth: GroundTruth, slice_s: float, slices: int) -> dict[str, Any]:
    words: list[list[float]] = [[] for _ in range(slices)]
    finals: list[list[float]] = [[] for _ in range(slices)]
    never = [0] * slices
    for run in runs:
        placed = placed_words(run, truth)
        for key, start, end in placed:
            at = _first_shown(run, key, start, end)
            index = _slice(run.t0 + end, slice_s, slices)
            if at is None:
                never[index] += 1
            else:
                words[index].append(at - (run.t0 + end))
        for final in run.finals:
            if not final.text.strip():
                continue
            inside = [e for _, s, e in placed if final.audio_start <= (s + e) / 2 <= final.audio_end]
            speech_end = max(inside) if inside else (final.last_word_end or final.audio_end)
            finals[_slice(final.at, slice_s, slices)].append(final.at - (run.t0 + speech_end))
    rows = [
        {
            "slice": i + 1,
            "from_min": round(i * slice_s / 60, 2),
            "to_min": round((i + 1) * slice_s / 60, 2),
            "word_emission": stats(words[i]),
            "words_never_shown": never[i],
            "final": stats(finals[i]),
        }
        for i in range(slices)
    ]
    every_word = [x for part in words for x in part]
    every_final = [x for part in finals for x in part]
    return {
        "slices": rows,
        "word_emission": stats(every_word),
        "final": stats(every_final),
        "words_never_shown": sum(never),
    }


def _first_shown(run: SessionRun, key: str, start: float, end: float) -> float | None:
    lo, hi = start - TOLERANCE_S, end + TOLERANCE_S
    times = [at for (s, e), at in run.shown.get(key, {}).items() if s <= hi and e >= lo]
    return min(times, default=None)


def _slice(at: float, slice_s: float, slices: int) -> int:
    return min(slices - 1, max(0, int(at // slice_s)))


def slice_count(duration_s: float, slice_s: float) -> int:
    return max(1, math.ceil(duration_s / slice_s - 1e-9))


# ---------------------------------------------------------------------------- errors and finals


def error_table(runs: list[SessionRun]) -> dict[str, Any]:
    rows: dict[str, dict[str, int]] = {}

    def row(kind: str, code: str) -> dict[str, int]:
        return rows.setdefault(f"{kind}:{code}", {"injected": 0, "answered": 0, "unexpected": 0, "unanswered": 0})

    for run in runs:
        received = Counter(code for _, kind, code in run.codes if kind == "error")
        for code, n in run.injected.items():
            r = row("error", code)
            r["injected"] += n
            r["answered"] += min(n, received[code])
            r["unanswered"] += max(0, n - received[code])
        for code, n in received.items():
            row("error", code)["unexpected"] += max(0, n - run.injected[code])
        for code, n in Counter(code for _, kind, code in run.codes if kind == "warning").items():
            row("warning", code)["unexpected"] += n
        for failure in run.client_errors:
            row("client", failure.split(":", 1)[0])["unexpected"] += 1
    return {
        "by_code": dict(sorted(rows.items())),
        "unexpected": sum(r["unexpected"] for r in rows.values()),
        "unanswered": sum(r["unanswered"] for r in rows.values()),
        "client_failures": [f"lane {r.lane} session {r.number}: {e}" for r in runs for e in r.client_errors],
    }


def finals_table(runs: list[SessionRun]) -> dict[str, Any]:
    checked = [r for r in runs if r.stored is not None and "stored" in r.stored]
    bad = [r for r in checked if not _consistent(r)]
    opened = [r for r in runs if r.session_id is not None]
    done = {id(r) for r in checked}
    return {
        "sessions": len(opened),
        "checked": len(checked),
        "unchecked": [f"lane {r.lane} session {r.number} ({r.session_id})" for r in opened if id(r) not in done],
        "delivered": sum(len(r.finals) for r in runs),
        "stored": sum(r.stored["stored"] for r in checked if r.stored is not None),
        "consistent": len(checked) - len(bad),
        "mismatches": [
            {"lane": r.lane, "session": r.number, "session_id": r.session_id, **(r.stored or {})} for r in bad
        ],
    }


def _consistent(run: SessionRun) -> bool:
    s = run.stored or {}
    return bool(s.get("equal") and s.get("seqs_in_order") and s.get("session_ended_finals") == s.get("delivered"))


# ---------------------------------------------------------------------------- memory


def memory_table(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """Per process and in all, at each snapshot; growth from the first (idle) to the last (idle)."""
    if not snapshots or not snapshots[0]["processes"] or not snapshots[-1]["processes"]:
        return {"snapshots": snapshots, "total": [], "growth": None}  # nothing measured: the verdict fails
    totals = [
        {
            "at_min": s["at_min"],
            "phase": s["phase"],
            "processes": len(s["processes"]),
            "rss_mb": round(sum(p["rss_mb"] for p in s["processes"]), 1),
            "pss_mb": _sum_pss(s["processes"]),
        }
        for s in snapshots
    ]
    first, last = snapshots[0]["processes"], snapshots[-1]["processes"]
    before = {p["pid"]: p for p in first}
    per_process = [
        {
            "pid": p["pid"],
            "label": p["label"],
            "rss_growth_mb": round(p["rss_mb"] - before[p["pid"]]["rss_mb"], 1),
            "pss_growth_mb": _delta(p["pss_mb"], before[p["pid"]]["pss_mb"]),
        }
        for p in last
        if p["pid"] in before
    ]
    after = {p["pid"] for p in last}
    loaded = [t for t in totals if t["phase"] == "load"]
    return {
        "snapshots": snapshots,
        "total": totals,
        "growth": {
            "rss_mb": round(totals[-1]["rss_mb"] - totals[0]["rss_mb"], 1),
            "pss_mb": _delta(totals[-1]["pss_mb"], totals[0]["pss_mb"]),
            # the trend under load, past the first slice's warm-up (needs two slices or more)
            "load_pss_mb": _delta(loaded[-1]["pss_mb"], loaded[0]["pss_mb"]) if len(loaded) > 1 else None,
            "load_minutes": round(loaded[-1]["at_min"] - loaded[0]["at_min"], 2) if len(loaded) > 1 else None,
            "per_process": sorted(per_process, key=lambda g: -(g["pss_growth_mb"] or g["rss_growth_mb"])),
            "new_processes": [f"{p['label']} ({p['pid']})" for p in last if p["pid"] not in before],
            "gone_processes": [f"{p['label']} ({p['pid']})" for p in first if p["pid"] not in after],
        },
    }


def _sum_pss(processes: list[dict[str, Any]]) -> float | None:
    values = [p["pss_mb"] for p in processes]
    return None if any(v is None for v in values) else round(sum(values), 1)


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 1)


# ---------------------------------------------------------------------------- verdict


def verdict(result: dict[str, Any], thresholds: Thresholds) -> dict[str, Any]:
    """Each criterion with its figure and whether it passed; ``pass`` when all did."""
    checks: dict[str, dict[str, Any]] = {}
    latency = result.get("latency")
    if latency is not None:
        for name in ("word_emission", "final"):
            first = latency["slices"][0][name]["median"]
            last = latency["slices"][-1][name]["median"]
            ok = first is not None and last is not None and last <= first + thresholds.latency_drift_s
            checks[f"{name}_flat"] = {"first_s": first, "last_s": last, "pass": ok}
    growth = result["memory"]["growth"]
    figure = None if growth is None else (growth["pss_mb"] if growth["pss_mb"] is not None else growth["rss_mb"])
    checks["memory_growth"] = {
        "growth_mb": figure,
        "measure": "PSS" if growth is not None and growth["pss_mb"] is not None else "RSS",
        "pass": figure is not None and figure <= thresholds.memory_growth_mb,
    }
    errors = result["errors"]
    checks["errors"] = {
        "unexpected": errors["unexpected"],
        "unanswered": errors["unanswered"],
        "pass": errors["unexpected"] == 0 and errors["unanswered"] == 0,
    }
    finals = result["finals"]
    checks["stored_equals_delivered"] = {
        "sessions": finals["sessions"],
        "consistent": finals["consistent"],
        "pass": finals["sessions"] > 0 and finals["consistent"] == finals["sessions"],
    }
    return {"pass": all(c["pass"] for c in checks.values()), "checks": checks, "thresholds": thresholds.describe()}


def verdict_line(v: dict[str, Any]) -> str:
    parts = []
    for name, check in v["checks"].items():
        figures = ", ".join(f"{k} {val}" for k, val in check.items() if k != "pass")
        parts.append(f"{name} {'ok' if check['pass'] else 'FAIL'} ({figures})")
    return f"{'PASS' if v['pass'] else 'FAIL'}: " + "; ".join(parts)
