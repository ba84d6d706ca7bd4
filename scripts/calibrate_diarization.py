"""Calibrate the diarization thresholds on the conversation dev set, in numpy, with cached embeddings.

The dev set (``scripts/diar/devset.py``) marks its tuning recordings; the search scores settings on
those only (mean DER at collar 0.25, plus a penalty for each wrong speaker count, single-speaker
recordings included) and then reports every recording, tuning and held-out, with the chosen
settings. Resemblyzer runs only for windows the cache (``/tmp/rtstt-diar-cache``) lacks: run it
once with ``--prefill`` under the heavy-job lock, after that the search is pure numpy.

    flock /tmp/rtstt-heavy.lock .venv/bin/python scripts/calibrate_diarization.py --prefill
    .venv/bin/python scripts/calibrate_diarization.py --search            # coordinate search
    .venv/bin/python scripts/calibrate_diarization.py --set t_threshold=0.55 --set revise=1   # one setting
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import sys
import time
from typing import Any

from diar.devset import Recording, dev_set
from diar.simulate import EmbeddingCache, Score, SimParams, SimResult, score, simulate, utterances

from app.enrich.clustering import ClusterParams
from app.enrich.settings import DiarizationSettings
from app.enrich.turns import ChangeParams

COUNT_PENALTY = 0.1

#: the search's space: a parameter's candidates (prefix c_: clustering, t_: speaker-change tracker)
SPACE: dict[str, list[Any]] = {
    "window_s": [1.0, 1.2, 1.6],
    "t_threshold": [0.35, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75],
    "t_confirm_s": [1.0, 1.2, 1.6, 2.0, 2.4],
    "t_hop_s": [0.2, 0.4, 0.6],
    "change_threshold": [0.5, 0.6, 0.7, 0.8],
    "min_turn_s": [0.8, 1.2, 1.6],
    "c_threshold_long": [0.6, 0.65, 0.7, 0.72, 0.75, 0.8],
    "c_threshold_short": [0.45, 0.5, 0.55, 0.6],
    "c_min_new_speaker_s": [0.5, 1.0, 1.5],
    "revise": [False, True],
    "c_merge_threshold": [0.7, 0.75, 0.8, 0.85, 0.9],
    "c_revise_margin": [0.05, 0.1, 0.15, 0.2],
}


def defaults() -> SimParams:
    """The service's current defaults (``DiarizationSettings``), as a simulation setting."""
    s = DiarizationSettings()
    cluster = ClusterParams(
        threshold_long=s.threshold_long,
        threshold_short=s.threshold_short,
        long_s=s.long_s,
        short_s=s.short_s,
        min_new_speaker_s=s.min_new_speaker_s,
        merge_threshold=s.merge_threshold,
        revise_margin=s.revise_margin,
    )
    track = ChangeParams(
        window_s=s.window_s,
        hop_s=s.track_hop_s,
        threshold=s.track_threshold,
        confirm_s=s.track_confirm_s,
        snap_s=s.track_snap_s,
    )
    return SimParams(
        window_s=s.window_s,
        hop_s=s.hop_s,
        change_threshold=s.change_threshold,
        min_turn_s=s.min_turn_s,
        cluster=cluster,
        track=track,
        revise=s.revise,
    )


class Bench:
    def __init__(self, recordings: list[Recording], allow_model: bool) -> None:
        self.recordings = recordings
        self.utts = {r.name: utterances(r.audio) for r in recordings}
        self.allow_model = allow_model
        self._caches: dict[tuple[str, float], EmbeddingCache] = {}

    def cache(self, rec: Recording, window_s: float) -> EmbeddingCache:
        key = (rec.name, window_s)
        if key not in self._caches:
            self._caches[key] = EmbeddingCache(rec, window_s, allow_model=self.allow_model)
        return self._caches[key]

    def run(self, rec: Recording, params: SimParams) -> tuple[SimResult, Score, Score]:
        c = self.cache(rec, params.window_s)
        result = simulate(rec, self.utts[rec.name], c, params)
        return (
            result,
            score(rec.reference, result.segments, rec.seconds),
            score(rec.reference, result.online, rec.seconds),
        )

    def objective(self, params: SimParams) -> float:
        total = []
        for rec in self.recordings:
            if not rec.tuning:
                continue
            _, s, _ = self.run(rec, params)
            der = s.der25 if rec.kind != "single" else 0.0
            total.append(der + COUNT_PENALTY * abs(s.speakers - s.reference_speakers))
        return statistics.mean(total)

    def save(self) -> None:
        for c in self._caches.values():
            c.save()


def sample(rng: random.Random, base: SimParams) -> SimParams:
    """A random setting of the search space (window sizes with their hops)."""
    pick = {name: rng.choice(values) for name, values in SPACE.items()}
    w = pick.pop("window_s")
    return base.with_(window_s=w, hop_s=w / 2, t_window_s=w, **pick)


def search(bench: Bench, start: SimParams, rounds: int, samples: int = 0) -> SimParams:
    best, best_obj = start, bench.objective(start)
    print(f"start: {best_obj:.4f}", flush=True)
    rng = random.Random(0)
    for n in range(samples):  # random settings first: the objective is far from smooth
        cand = sample(rng, start)
        obj = bench.objective(cand)
        if obj < best_obj - 1e-4:
            best, best_obj = cand, obj
            print(f"sample {n}: {obj:.4f} {cand}", flush=True)
    for r in range(rounds):
        improved = False
        for name, values in SPACE.items():
            for v in values:
                try:
                    cand = best.with_(**{name: v})
                    if name == "window_s":
                        cand = cand.with_(hop_s=v / 2, t_window_s=v)
                    obj = bench.objective(cand)
                except ValueError:
                    continue
                if obj < best_obj - 1e-4:
                    best, best_obj, improved = cand, obj, True
                    print(f"round {r + 1}: {name}={v} → {obj:.4f}", flush=True)
        bench.save()
        if not improved:
            break
    return best


def report(bench: Bench, params: SimParams) -> list[dict[str, Any]]:
    rows = []
    print(
        f"{'recording':38} {'set':7} {'kind':9} {'spk':>3} {'found':>5} {'DER0':>6} {'DER25':>6} {'JER':>6} "
        f"{'conf':>6} {'DER25 online':>12} {'finals':>6} {'splits':>6} {'revised':>7}"
    )
    for rec in bench.recordings:
        res, s, online = bench.run(rec, params)
        row = {
            "recording": rec.name,
            "set": "tuning" if rec.tuning else "report",
            "kind": rec.kind,
            "speakers": s.reference_speakers,
            "found": s.speakers,
            "der0": round(s.der0, 4),
            "der25": round(s.der25, 4),
            "jer": round(s.jer, 4),
            "confusion25": round(s.confusion, 4),
            "der25_online": round(online.der25, 4),
            "finals": len(res.finals),
            "splits": res.splits,
            "revised_turns": res.revised_turns,
        }
        rows.append(row)
        print(
            f"{rec.name:38} {row['set']:7} {rec.kind:9} {s.reference_speakers:3d} {s.speakers:5d} "
            f"{s.der0:6.1%} {s.der25:6.1%} {s.jer:6.1%} {s.confusion:6.1%} {online.der25:12.1%} "
            f"{len(res.finals):6d} {res.splits:6d} {res.revised_turns:7d}"
        )
    return rows


def parse_set(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        k, _, v = item.partition("=")
        out[k] = json.loads(v) if v not in ("none", "None") else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prefill", action="store_true", help="embed every whole window (80 ms grid) first")
    ap.add_argument("--search", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--samples", type=int, default=0, help="random settings tried before the coordinate search")
    ap.add_argument("--set", action="append", default=[], help="name=value (JSON) over the defaults")
    ap.add_argument("--no-track", action="store_true", help="no speaker-change split (today's behaviour)")
    ap.add_argument(
        "--cached",
        action="store_true",
        help="never run the model: a window not cached takes its nearest cached neighbour's embedding, and is "
        "noted for --fill-pending",
    )
    ap.add_argument("--fill-pending", action="store_true", help="embed the windows --cached runs approximated")
    ap.add_argument("--only", action="append", help="recordings to use (names)")
    ap.add_argument("--json", help="write the report rows here")
    args = ap.parse_args()

    recs = [r for r in dev_set() if not args.only or r.name in args.only]
    bench = Bench(recs, allow_model=not args.cached)
    t0 = time.perf_counter()
    if args.prefill:
        for rec, w in itertools.product(recs, SPACE["window_s"]):
            bench.cache(rec, w).prefill()
            bench.cache(rec, w).save()
            print(f"prefilled {rec.name} w={w} ({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.fill_pending:
        for rec, w in itertools.product(recs, SPACE["window_s"]):
            done = bench.cache(rec, w).fill_pending()
            bench.cache(rec, w).save()
            print(f"filled {done} windows of {rec.name} w={w}", flush=True)
    params = defaults()
    if args.no_track:
        params = SimParams(
            window_s=params.window_s,
            hop_s=params.hop_s,
            change_threshold=params.change_threshold,
            min_turn_s=params.min_turn_s,
            cluster=params.cluster,
            track=None,
            revise=False,
        )
    if args.set:
        params = params.with_(**parse_set(args.set))
    if args.search:
        params = search(bench, params, args.rounds, args.samples)
    print(f"\nsetting: {params}\n", file=sys.stderr)
    rows = report(bench, params)
    bench.save()
    approximated = sum(c.approximated for c in bench._caches.values())
    if approximated:
        print(f"\n{approximated} windows were approximated (not cached): run --fill-pending under the lock")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"params": repr(params), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
