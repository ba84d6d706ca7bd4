"""The soak's markdown report (``bench-results/soak-<label>.md``) from its JSON result."""

from __future__ import annotations

from typing import Any

from bench.report import OTHER_LOAD_CORES
from bench.soak_score import verdict_line


def markdown(result: dict[str, Any]) -> str:
    m, cfg = result["machine"], result["config"]
    events = ", ".join(f"{k} {v}" for k, v in sorted(result["events"].items())) or "none"
    lines = [
        f"## Soak: {result['label']}",
        "",
        f"`{result['command']}`",
        "",
        f"{result['started_at']}, {m['cpu_model']}, {m['logical_cores']} cores, {m['memory_gb']} GB, "
        f"ray {m['packages']['ray']}; {cfg['minutes']:g} min, {cfg['sessions']} concurrent streams of the benchmark "
        f"stream ({result['stream']['duration_s']:.1f} s, looped) in {cfg['chunk_ms']:g} ms chunks paced in real "
        f"time; an event every ~{cfg['event_every_s']:g} s of speech per stream (seed {cfg['seed']}); "
        f"{result['finals']['sessions']} sessions in all.",
        "",
        f"Events: {events}.",
        "",
        f"**{verdict_line(result['verdict'])}**",
        "",
        f"Thresholds: {result['verdict']['thresholds']}.",
    ]
    if result.get("latency") is not None:
        lines += ["", *_latency(result["latency"])]
    lines += ["", *_cpu(result), "", *_memory(result["memory"]), "", *_errors(result["errors"])]
    lines += ["", *_finals(result["finals"])]
    return "\n".join(lines) + "\n"


def _latency(latency: dict[str, Any]) -> list[str]:
    out = [
        "### Latency by slice",
        "",
        "| minutes | word emission median / p95 (s) | words (never shown) | final latency median / p95 (s) | finals |",
        "|---|---|---|---|---|",
    ]
    for row in latency["slices"]:
        w, f = row["word_emission"], row["final"]
        out.append(
            f"| {row['from_min']:g}–{row['to_min']:g} | {_s(w['median'])} / {_s(w['p95'])} | "
            f"{w['n']} ({row['words_never_shown']}) | {_s(f['median'])} / {_s(f['p95'])} | {f['n']} |"
        )
    w, f = latency["word_emission"], latency["final"]
    out.append(
        f"| all | {_s(w['median'])} / {_s(w['p95'])} | {w['n']} ({latency['words_never_shown']}) | "
        f"{_s(f['median'])} / {_s(f['p95'])} | {f['n']} |"
    )
    out += [
        "",
        "Word emission: from the end of a word's audio (as an offline word-timestamped transcription places it) to "
        "the first partial or final showing it; words paused, or within 0.3 s of a break, are not counted. Final: "
        "from the end of the utterance's speech to the final's arrival.",
    ]
    return out


def _memory(memory: dict[str, Any]) -> list[str]:
    snapshots = memory["snapshots"]
    if memory["growth"] is None:
        return ["### Memory", "", "No Ray/Serve process was found at the start or at the end."]
    heads = [f"{s['at_min']:g} min ({s['phase']})" for s in snapshots]
    out = [
        "### Memory of the Ray/Serve processes, RSS / PSS (MB)",
        "",
        "| process (pid) | " + " | ".join(heads) + " | PSS growth |",
        "|" + "---|" * (len(heads) + 2),
    ]
    growth = {g["pid"]: g for g in (memory["growth"] or {}).get("per_process", [])}
    pids: dict[int, str] = {}
    for s in snapshots:
        for proc in s["processes"]:
            label = proc["label"] + (" [jemalloc]" if proc.get("malloc") == "jemalloc" else "")
            pids.setdefault(proc["pid"], label)
    for pid, label in sorted(pids.items(), key=lambda kv: (kv[1], kv[0])):
        cells = []
        for s in snapshots:
            proc = next((p for p in s["processes"] if p["pid"] == pid), None)
            cells.append("—" if proc is None else f"{proc['rss_mb']:.0f} / {_mb(proc['pss_mb'])}")
        g = growth.get(pid)
        out.append(f"| {label} ({pid}) | " + " | ".join(cells) + f" | {_signed(g['pss_growth_mb']) if g else '—'} |")
    totals = [f"**{t['rss_mb']:.0f} / {_mb(t['pss_mb'])}**" for t in memory["total"]]
    g = memory["growth"]
    out.append("| **all** | " + " | ".join(totals) + f" | **{_signed(g['pss_mb'])}** |")
    trend = (
        f" Under load, from the first to the last slice snapshot ({g['load_minutes']:g} min): PSS "
        f"{_signed(g['load_pss_mb'])} MB."
        if g["load_pss_mb"] is not None
        else ""
    )
    out += [
        "",
        f"Whole app from the first to the last snapshot (both idle): RSS {_signed(g['rss_mb'])} MB, PSS "
        f"{_signed(g['pss_mb'])} MB.{trend} New processes: {', '.join(g['new_processes']) or 'none'}; gone: "
        f"{', '.join(g['gone_processes']) or 'none'}.",
    ]
    return out


def _cpu(result: dict[str, Any]) -> list[str]:
    cpu = result["cpu"]
    audio_s = sum(s["audio_s"] for s in result["sessions"])
    per_audio = f"{cpu['cpu_s'] / audio_s:.2f}" if audio_s else "—"
    top = ", ".join(f"{name} {seconds:.0f}" for name, seconds in list(cpu["cpu_s_by_process"].items())[:6])
    out = [
        f"CPU: {cpu['cpu_s']:.0f} core-seconds for {audio_s:.0f} s of audio streamed ({per_audio} per audio second; "
        f"{top}; the soak's client {cpu['client_cpu_s'] or 0:.0f}); the machine kept {_s(cpu['machine_busy_cores'])} "
        f"cores busy, {_s(cpu['other_busy_cores'])} of them for neither the app nor the client."
    ]
    if (cpu["other_busy_cores"] or 0) > OTHER_LOAD_CORES:
        out += ["", "**Warning: other processes kept cores busy during the soak; the latencies are disturbed.**"]
    return out


def _errors(errors: dict[str, Any]) -> list[str]:
    out = [
        "### Errors and warnings by code",
        "",
        "| kind:code | injected | answered | unanswered | unexpected |",
        "|---|---|---|---|---|",
    ]
    for code, row in errors["by_code"].items():
        out.append(f"| {code} | {row['injected']} | {row['answered']} | {row['unanswered']} | {row['unexpected']} |")
    if not errors["by_code"]:
        out.append("| none | | | | |")
    if errors["client_failures"]:
        out += ["", "Client failures:", *[f"- {f}" for f in errors["client_failures"][:20]]]
    return out


def _finals(finals: dict[str, Any]) -> list[str]:
    out = [
        "### Finals delivered vs stored",
        "",
        f"{finals['sessions']} sessions, {finals['checked']} compared with `GET /v1/sessions/{{id}}/transcript`: "
        f"{finals['delivered']} finals delivered, {finals['stored']} stored; {finals['consistent']} sessions where "
        "the stored finals equal the delivered ones (seq and text), seqs run 1, 2, 3 … and `session_ended.finals` "
        "agrees.",
    ]
    if finals["unchecked"]:
        out.append(f"Not compared (no session_ended): {', '.join(finals['unchecked'])}.")
    for bad in finals["mismatches"][:10]:
        out.append(f"- mismatch: {bad}")
    return out


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _mb(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.0f}"
