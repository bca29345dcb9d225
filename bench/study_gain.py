"""Are caricatures "more extreme"? Lite0 caricatures of 30 shared photos at every block output, lucid's recipe.

    .venv/bin/python bench/study_gain.py                       # 30 photos × 16 blocks, 512 steps, 224 px
    .venv/bin/python bench/study_gain.py --summary             # the table of what has been computed so far
    .venv/bin/python bench/study_gain.py --summary --engine 0.2.0   # … by an earlier engine version

For each (photo, layer) pair it records `cosine` = cos(A_car, A_orig) and `gain` = <A_car, A_orig> / |A_orig|²
at that layer, measured on the un-transformed images, and prints per layer the distribution of both and the
share of pairs with gain > 1 (the engine's check: at least 90%). It takes hours on a 2-core CPU, so it
is resumable: each chunk of photos is saved to OUT/<photo stems>.json (atomically) as it finishes, and a
rerun with the same settings skips what is there (a second process started with --reverse works from the
other end). Settings are part of OUT's name, so runs never mix.
"""
from __future__ import annotations

import argparse
import hashlib
import json
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
from caricatures.files import write_json
from caricatures.images import load_photo
from caricatures.models import load_model

THRESHOLD = 0.9     # share of (photo, layer) pairs whose gain must exceed 1


def spread_photos(n: int, images: Path = ROOT / "images") -> list[str]:
    """n photos spread evenly over the sorted shared set (so every category is represented)."""
    photos = sorted(str(p.relative_to(ROOT)) for p in images.glob("*/*.jpg"))
    if not 1 <= n <= len(photos):
        raise SystemExit(f"study_gain: --photos must be between 1 and {len(photos)}, got {n}")
    return [photos[i * len(photos) // n] for i in range(n)]


def block_outputs(model) -> list[str]:
    return [name for name in model.layers if name.startswith("block") and "." not in name]


def out_dir(base: Path, settings: dict) -> Path:
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    return base / f"{settings['model']}-{settings['size']}px-{settings['steps']}steps-{digest}"


def run_chunk(model, photos: list[str], layers: list[str], settings: dict) -> dict:
    from caricatures.make import make_caricatures
    t0 = time.perf_counter()
    result = make_caricatures(model, [load_photo(ROOT / p, settings["size"]) for p in photos], layers,
                              steps=settings["steps"], seed=settings["seed"], size=settings["size"],
                              device=settings["device"], precision=settings.get("precision", "auto"))
    return {"photos": photos, "layers": layers, "settings": settings, "seconds": time.perf_counter() - t0,
            "metrics": {p: {name: result.metrics[i][j] for j, name in enumerate(layers)}
                        for i, p in enumerate(photos)}}


def collect(folder: Path) -> dict[str, dict[str, dict]]:
    """photo → layer → metrics, from every finished chunk in `folder`."""
    pairs: dict[str, dict[str, dict]] = {}
    for path in sorted(folder.glob("*.json")):
        if path.name != "summary.json":
            pairs.update(json.loads(path.read_text())["metrics"])
    return pairs


def summarize(pairs: dict[str, dict[str, dict]], layers: list[str]) -> dict:
    """Per layer: min / quartiles / max of cosine and gain and the share with gain > 1; overall share."""
    def spread(values: list[float]) -> dict[str, float]:
        q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
        return {"min": min(values), "q1": q[0], "median": q[1], "q3": q[2], "max": max(values)}

    rows, above, total = {}, 0, 0
    for name in layers:
        ms = [by_layer[name] for by_layer in pairs.values() if name in by_layer]
        if not ms:
            continue
        up = sum(m["gain"] > 1 for m in ms)
        above, total = above + up, total + len(ms)
        rows[name] = {"n": len(ms), "gain_above_1": up / len(ms),
                      "cosine": spread([m["cosine"] for m in ms]), "gain": spread([m["gain"] for m in ms])}
    share = above / total if total else 0.0
    return {"photos": len(pairs), "pairs": total, "gain_above_1": share, "passes": share >= THRESHOLD,
            "layers": rows}


def table(summary: dict) -> str:
    lines = ["| layer | n | gain > 1 | gain min · q1 · median · q3 · max | cosine min · median · max |",
             "|---|---|---|---|---|"]
    for name, r in summary["layers"].items():
        g, c = r["gain"], r["cosine"]
        lines.append(f"| {name} | {r['n']} | {r['gain_above_1']:.0%} | {g['min']:.2f} · {g['q1']:.2f} · "
                     f"{g['median']:.2f} · {g['q3']:.2f} · {g['max']:.2f} | {c['min']:.2f} · {c['median']:.2f}"
                     f" · {c['max']:.2f} |")
    verdict = "PASS" if summary["passes"] else "FAIL"
    lines.append(f"\n{summary['photos']} photos, {summary['pairs']} pairs: gain > 1 for "
                 f"{summary['gain_above_1']:.1%} (target ≥ {THRESHOLD:.0%}) — {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--photos", type=int, default=30, help="how many shared photos (spread over the set)")
    ap.add_argument("--layers", default="blocks", help="'blocks' (every block output) or comma-separated names")
    ap.add_argument("--steps", type=int, default=512)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=2, help="photos optimized together in one run")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=ROOT / ".cache" / "study-gain")
    ap.add_argument("--summary", action="store_true", help="only print what has been computed")
    ap.add_argument("--engine", default=caricatures.ENGINE_VERSION,
                    help="with --summary: read the results of another engine version (default: this one's)")
    ap.add_argument("--reverse", action="store_true",
                    help="take the chunks from the last: a second process run this way uses another core and "
                         "meets the first one in the middle")
    args = ap.parse_args(argv)
    if args.engine != caricatures.ENGINE_VERSION and not args.summary:
        raise SystemExit(f"study_gain: this checkout is engine {caricatures.ENGINE_VERSION}; --engine "
                         f"{args.engine} only goes with --summary (it cannot compute with another engine)")

    model = load_model(args.model)
    layers = block_outputs(model) if args.layers == "blocks" else args.layers.split(",")
    for name in layers:
        model.layer(name)
    photos = spread_photos(args.photos)
    settings = {"engine": args.engine, "model": args.model, "layers": layers, "steps": args.steps,
                "size": args.size, "seed": args.seed, "batch": args.batch, "device": args.device}
    folder = out_dir(args.out, settings)
    folder.mkdir(parents=True, exist_ok=True)
    chunks = [photos[i:i + args.batch] for i in range(0, len(photos), args.batch)]
    if not args.summary:
        order = range(len(chunks) - 1, -1, -1) if args.reverse else range(len(chunks))
        for i in order:
            chunk = chunks[i]
            path = folder / ("+".join(Path(p).stem for p in chunk) + ".json")
            if path.exists():
                continue
            data = run_chunk(model, chunk, layers, settings)
            write_json(path, data)
            print(f"[{i + 1}/{len(chunks)}] {', '.join(chunk)}: {data['seconds']:.0f} s", flush=True)
    pairs = {p: m for p, m in collect(folder).items() if p in photos}
    summary = summarize(pairs, layers)
    write_json(folder / "summary.json", summary)
    print(f"{folder}\n{table(summary)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
