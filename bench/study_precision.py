"""What bf16 changes against fp32 at the article's settings: Lite0's 7 stage ends, 512 steps, 224 px.

    .venv/bin/python bench/study_precision.py               # 8 photos, both precisions (resumable)
    .venv/bin/python bench/study_precision.py --summary     # the table of what is there

The default precision is bf16 on CPUs and GPUs that have it (lucid's recipe computes in fp32). Both runs use
the same photos, seed and draws, so each caricature is compared with its own fp32 twin: per layer, the mean
gain and cosine in each precision and the paired difference (bf16 − fp32) with its range over photos.
Results are kept per chunk of photos under .cache/study-precision/ (study_gain's format).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from caricatures.runtime import ensure_malloc_env

if __name__ == "__main__":
    ensure_malloc_env()

import caricatures
from bench.study_gain import collect, out_dir, run_chunk, spread_photos
from caricatures.files import write_json
from caricatures.models import load_model

PRECISIONS = ("fp32", "bf16")


def compare(runs: dict[str, dict[str, dict[str, dict]]], layers: list[str]) -> list[dict]:
    """Per layer: mean gain and cosine per precision and the paired bf16 − fp32 differences."""
    photos = sorted(set.intersection(*(set(r) for r in runs.values())))
    rows = []
    for name in layers:
        row = {"layer": name, "n": len(photos)}
        for metric in ("gain", "cosine"):
            values = {p: [runs[p][photo][name][metric] for photo in photos] for p in PRECISIONS}
            diffs = [b - f for f, b in zip(values["fp32"], values["bf16"])]
            row[metric] = {**{p: statistics.fmean(v) for p, v in values.items()},
                           "diff_mean": statistics.fmean(diffs), "diff_min": min(diffs), "diff_max": max(diffs),
                           "abs_diff_max": max(abs(d) for d in diffs)}
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    lines = [("| layer | n | gain fp32 | gain bf16 | Δ gain mean (min … max) | cosine fp32 | cosine bf16 | "
              "Δ cosine mean (min … max) |"), "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        g, c = r["gain"], r["cosine"]
        lines.append(f"| {r['layer']} | {r['n']} | {g['fp32']:.3f} | {g['bf16']:.3f} | {g['diff_mean']:+.3f} "
                     f"({g['diff_min']:+.3f} … {g['diff_max']:+.3f}) | {c['fp32']:.3f} | {c['bf16']:.3f} | "
                     f"{c['diff_mean']:+.3f} ({c['diff_min']:+.3f} … {c['diff_max']:+.3f}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=8)
    ap.add_argument("--steps", type=int, default=512)
    ap.add_argument("--batch", type=int, default=4, help="photos in one run (the build packs four)")
    ap.add_argument("--out", type=Path, default=ROOT / ".cache" / "study-precision")
    ap.add_argument("--summary", action="store_true")
    args = ap.parse_args(argv)
    model = load_model("efficientnet_lite0")
    layers, photos = list(model.meta["stage_ends"]), spread_photos(args.photos)
    runs = {}
    for precision in PRECISIONS:
        settings = {"engine": caricatures.ENGINE_VERSION, "model": model.name, "layers": layers,
                    "steps": args.steps, "size": 224, "seed": 0, "batch": args.batch, "device": "cpu",
                    "precision": precision}
        folder = out_dir(args.out, settings)
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(0, len(photos), args.batch):
            chunk = photos[i:i + args.batch]
            path = folder / ("+".join(Path(p).stem for p in chunk) + ".json")
            if args.summary or path.exists():
                continue
            t0 = time.perf_counter()
            write_json(path, run_chunk(model, chunk, layers, settings))
            print(f"{precision} {', '.join(chunk)}: {time.perf_counter() - t0:.0f} s", flush=True)
        runs[precision] = collect(folder)
    rows = compare(runs, layers)
    write_json(args.out / "summary.json", rows)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
