"""The machine description and the markdown table of a benchmark run."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from bench.scoring import REALTIME_RULE

SPEAKERS_NOTE = {
    "unison": "every session streams the same audio (utterances end within ~1 s of each other: finals in bursts).",
    "independent": "independent speakers: session i of N streams the same clips from clip i x 13 / N on.",
}


def machine() -> dict[str, Any]:
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in ("ray", "faster-whisper", "ctranslate2")},
    }


def _speed(m: dict[str, Any]) -> str:
    """The machine's speed when the run started (bench/speed.py), for comparing runs."""
    probe = m.get("speed")
    return f", speed probe {probe['cpu_ms']} ms (a tiny.en call's CPU: lower is faster)" if probe else ""


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


OTHER_LOAD_CORES = 0.2  # busy cores used by neither the service nor the client that make a run suspect

COLUMNS = (
    "sessions",
    "word emission median / p95 (s)",
    "words never shown",
    "first partial median (s)",
    "final latency median / p95 (s)",
    "WER (offline)",
    "CPU s / audio s",
    "peak RSS (PSS) MB",
    "real-time",
)


def markdown(result: dict[str, Any]) -> str:
    offline = result["ground_truth"]["offline_wer"]
    rows = [_row(r, offline) for r in result["rounds"]]
    m = result["machine"]
    stream = result["stream"]
    lines = [
        f"## Streaming benchmark: {result['label']}",
        "",
        f"`{result['command']}`",
        "",
        f"{result['started_at']}, {m['cpu_model']}, {m['logical_cores']} cores, {m['memory_gb']} GB, "
        f"ray {m['packages']['ray']}{_speed(m)}; stream {stream['duration_s']:.1f} s "
        f"({len(stream['clips'])} clips, {stream['speech_s']:.1f} s of speech), "
        f"{stream['chunk_ms']:g} ms chunks paced in real time; session options `{result['options']}`; "
        + SPEAKERS_NOTE.get(result.get("speakers", "unison"), ""),
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *rows,
        "",
        f"Largest real-time N: **{result['largest_realtime_sessions']}**. Real-time means: {REALTIME_RULE}.",
        "Latencies run from the end (first partial: the start) of a word's audio, as an offline word-timestamped "
        "transcription places it, to the message's arrival at the client; words never shown are counted over all "
        "sessions. CPU and memory are summed over the Ray/Serve processes on this machine.",
    ]
    rounds = result["rounds"]
    disturbed = [r for r in rounds if (r["procs"]["other_busy_cores"] or 0) > OTHER_LOAD_CORES]
    if disturbed:
        other = ", ".join(f"N={r['sessions']}: {r['procs']['other_busy_cores']:.2f}" for r in disturbed)
        lines += [
            "",
            f"**Warning: other processes kept cores busy during the run ({other}); the figures are disturbed.**",
        ]
    lines += [
        "",
        "Where the time goes:",
        "",
        "| " + " | ".join(DETAIL_COLUMNS) + " |",
        "|" + "---|" * len(DETAIL_COLUMNS),
    ]
    lines += [_detail_row(r) for r in rounds]
    notes = [f"- N={r['sessions']}: {'; '.join(r['not_realtime_because'])}" for r in rounds if not r["realtime"]]
    if notes:
        lines += ["", "Not real-time:", *notes]
    return "\n".join(lines) + "\n"


def _row(r: dict[str, Any], offline_wer: float) -> str:
    word, final = r["word_emission"], r["final"]
    pss = r["procs"]["peak_pss_mb"]
    memory = f"{r['procs']['peak_rss_mb']:.0f}" + (f" ({pss:.0f})" if pss is not None else "")
    wer = "—" if r["wer"] is None else f"{100 * r['wer']:.1f}%"
    sessions = str(r["sessions"])
    if r.get("refused"):
        sessions += f" (+{r['refused']} refused)"
    if r.get("overload"):
        sessions = f"overload {r['overload']}: {sessions}"
    cells = [
        sessions,
        f"{_s(word['median'])} / {_s(word['p95'])}",
        f"{r['words_never_shown']} / {r['words_total']}",
        _s(r["first_partial"]["median"]),
        f"{_s(final['median'])} / {_s(final['p95'])}",
        f"{wer} ({100 * offline_wer:.1f}%)",
        f"{r['cpu_s_per_audio_s']:.2f}",
        memory,
        "yes" if r["realtime"] else "no",
    ]
    return "| " + " | ".join(cells) + " |"


DETAIL_COLUMNS = (
    "sessions",
    "utterance_end after speech median (s)",
    "final after utterance_end median (s)",
    "word emission median by third of the stream (s)",
    "words a final showed first: n, median / p95 (s)",
    "partials per session",
    "machine busy cores",
    "CPU s by process (top 6; client)",
)


def _detail_row(r: dict[str, Any]) -> str:
    details = r["session_details"]
    partials = sum(d["partials"] for d in details) / max(1, len(details))
    top = list(r["procs"]["cpu_s_by_process"].items())[:6]
    cells = [
        str(r["sessions"]),
        _s(r["endpoint"]["median"]),
        _s(r["after_endpoint"]["median"]),
        " / ".join(_s(v) for v in r["word_emission_by_part"]),
        _first_in_final(r.get("first_in_final")),
        f"{partials:.0f}",
        _s(r["procs"]["machine_busy_cores"]),
        ", ".join(f"{name} {cpu:.0f}" for name, cpu in top) + f"; client {r['procs']['client_cpu_s'] or 0:.0f}",
    ]
    return "| " + " | ".join(cells) + " |"


def _first_in_final(stats: dict[str, Any] | None) -> str:
    if stats is None:
        return "—"  # a result from before this was counted
    if not stats["n"]:
        return "0"
    return f"{stats['n']}, {_s(stats['median'])} / {_s(stats['p95'])}"


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"
