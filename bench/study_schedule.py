"""Which schedule reaches lucid's 512-step caricature in ≤ 128 steps? Candidate recipes against the reference.

    .venv/bin/python bench/study_schedule.py                         # Lite0, 8 photos × 7 stage ends, 224 px
    .venv/bin/python bench/study_schedule.py --model mobilenet_v2    # MobileNetV2's stage ends
    .venv/bin/python bench/study_schedule.py --photos 2 --size 96 --ref-steps 64 --steps 16   # a smoke run
    .venv/bin/python bench/study_schedule.py --summary               # the table of what has been computed

For each photo it makes the reference (recipe "lucid", --ref-steps, seed fixed) and each candidate
(`RECIPE@STEPS`, default every recipe of caricatures/schedule.py at --steps, "lucid" among them as the
constant-rate baseline), one caricature per layer, and records each pair's `objective` (lucid's dot_compare
on the un-transformed images), `cosine` and `gain`. The summary gives per candidate and layer the mean
reference and candidate objective and gain, the mean ratio to the reference, and the share of pairs whose
objective and gain both reach 95% of the reference's. Resumable: each photo's results are saved to
OUT/<photo stem>.json (atomically) after every recipe, and a rerun computes only what is missing
(a second process started with --reverse works from the other end).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from caricatures.runtime import ensure_malloc_env

if __name__ == "__main__":
    ensure_malloc_env()

import caricatures
from caricatures.files import write_json
from caricatures.images import load_photo
from caricatures.models import load_model
from caricatures.schedule import RECIPES

REACHED = 0.95     # a candidate pair "reaches" the reference at this share of its objective and gain
REFERENCE = "reference"


def spread_photos(n: int, images: Path = ROOT / "images") -> list[str]:
    """Return n photos spread evenly over the sorted shared set (so every category is represented)."""
    photos = sorted(str(p.relative_to(ROOT)) for p in images.glob("*/*.jpg"))
    if not 1 <= n <= len(photos):
        raise SystemExit(f"study_schedule: --photos must be between 1 and {len(photos)}, got {n}")
    return [photos[i * len(photos) // n] for i in range(n)]


def parse_candidates(text: str, steps: int) -> list[tuple[str, int]]:
    """Return (recipe, steps) pairs from "rows,coarse@96" (steps default to --steps)."""
    out = []
    for item in text.split(","):
        name, _, n = item.partition("@")
        if name not in RECIPES:
            raise SystemExit(f"study_schedule: unknown recipe {name!r}; choose from {', '.join(RECIPES)}")
        out.append((name, int(n) if n else steps))
    return out


def out_dir(base: Path, settings: dict) -> Path:
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    return base / f"{settings['model']}-{settings['size']}px-{digest}"


def run_one(model, photo: str, layers: list[str], recipe: str, steps: int, settings: dict) -> dict:
    """Return layer → metrics of one photo's caricatures by `recipe` in `steps` steps, and the seconds."""
    from caricatures.make import make_caricatures
    t0 = time.perf_counter()
    result = make_caricatures(model, [load_photo(ROOT / photo, settings["size"])], layers, steps=steps,
                              seed=settings["seed"], size=settings["size"], device=settings["device"],
                              recipe=recipe)
    return {"metrics": dict(zip(layers, result.metrics[0])), "seconds": time.perf_counter() - t0}


def summarize(results: dict[str, dict], layers: list[str], candidates: list[str]) -> dict:
    """Per candidate and layer (and "all"): mean reference and candidate objective and gain, mean ratios to
    the reference, the lowest gain ratio, and the share of pairs reaching REACHED of both."""
    out = {}
    for cand in candidates:
        rows, every = {}, []
        for name in layers:
            pairs = [(r[REFERENCE][name], r[cand][name]) for r in results.values() if REFERENCE in r and cand in r]
            if pairs:
                rows[name], every = _row(pairs), every + pairs
        if every:
            rows["all"] = _row(every)
        out[cand] = rows
    return out


def _row(pairs: list[tuple[dict, dict]]) -> dict:
    rel_o = [c["objective"] / ref["objective"] for ref, c in pairs]
    rel_g = [c["gain"] / ref["gain"] for ref, c in pairs]
    return {"n": len(pairs), "ref_objective": statistics.fmean(ref["objective"] for ref, _ in pairs),
            "objective": statistics.fmean(c["objective"] for _, c in pairs),
            "ref_gain": statistics.fmean(ref["gain"] for ref, _ in pairs),
            "gain": statistics.fmean(c["gain"] for _, c in pairs),
            "ref_cosine": statistics.fmean(ref["cosine"] for ref, _ in pairs),
            "cosine": statistics.fmean(c["cosine"] for _, c in pairs),
            "rel_objective": statistics.fmean(rel_o), "rel_gain": statistics.fmean(rel_g), "min_rel_gain": min(rel_g),
            "reached": sum(o >= REACHED and g >= REACHED for o, g in zip(rel_o, rel_g)) / len(pairs)}


def table(summary: dict) -> str:
    head = "| candidate | layer | n | objective ref → cand (ratio) | gain ref → cand (ratio, min) | cosine ref → cand |"
    lines = [head + " ≥ 95% |", "|---|---|---|---|---|---|---|"]
    for cand, rows in summary.items():
        for name, r in rows.items():
            lines.append(f"| {cand} | {name} | {r['n']} | {r['ref_objective']:.4g} → {r['objective']:.4g} "
                         f"({r['rel_objective']:.2f}) | {r['ref_gain']:.2f} → {r['gain']:.2f} "
                         f"({r['rel_gain']:.2f}, {r['min_rel_gain']:.2f}) | {r['ref_cosine']:.2f} → {r['cosine']:.2f} "
                         f"| {r['reached']:.0%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--layers", default="ends", help="'ends' (the model's stage ends) or comma-separated names")
    ap.add_argument("--photos", type=int, default=8, help="how many shared photos (spread over the set)")
    ap.add_argument("--size", type=int, default=None, help="image size (default: the model's input size)")
    ap.add_argument("--ref-steps", type=int, default=512)
    ap.add_argument("--steps", type=int, default=128, help="the candidates' steps (unless RECIPE@STEPS)")
    ap.add_argument("--candidates", default=",".join(RECIPES), help="comma-separated RECIPE or RECIPE@STEPS")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--out", type=Path, default=ROOT / ".cache" / "study-schedule")
    ap.add_argument("--summary", action="store_true", help="only print what has been computed")
    ap.add_argument("--reverse", action="store_true", help="take the photos from the last")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.model)
    layers = list(model.meta["stage_ends"]) if args.layers == "ends" else args.layers.split(",")
    for name in layers:
        model.layer(name)
    photos = spread_photos(args.photos)
    size = args.size or model.input_size
    settings = {"engine": caricatures.ENGINE_VERSION, "model": args.model, "layers": layers, "size": size,
                "seed": args.seed, "device": args.device, "ref_steps": args.ref_steps}
    folder = out_dir(args.out, settings)
    folder.mkdir(parents=True, exist_ok=True)
    wanted = [(REFERENCE, "lucid", args.ref_steps)] + [
        (f"{r}@{n}", r, n) for r, n in parse_candidates(args.candidates, args.steps)]
    if not args.summary:
        order = range(len(photos) - 1, -1, -1) if args.reverse else range(len(photos))
        for i in order:
            path = folder / f"{Path(photos[i]).stem}.json"
            data = json.loads(path.read_text()) if path.exists() else {"photo": photos[i], "settings": settings,
                                                                      "results": {}}
            for key, recipe, steps in wanted:
                if key in data["results"]:
                    continue
                data["results"][key] = run_one(model, photos[i], layers, recipe, steps, settings)
                write_json(path, data)
                print(f"[{i + 1}/{len(photos)}] {photos[i]} {key}: {data['results'][key]['seconds']:.0f} s",
                      flush=True)
    results = {}
    for path in sorted(folder.glob("*.json")):
        if path.name != "summary.json":
            data = json.loads(path.read_text())
            if data["photo"] in photos:
                results[data["photo"]] = {k: v["metrics"] for k, v in data["results"].items()}
    summary = summarize(results, layers, [key for key, _, _ in wanted[1:]])
    write_json(folder / "summary.json", summary)
    print(f"{folder}\n{table(summary)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
