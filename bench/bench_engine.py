"""Benchmark the caricature engine against a naive port, side by side on the same photos (docs/FACTS.md).

    .venv/bin/python bench/bench_engine.py                    # ~3 min on an idle 2-core CPU (32 steps, 3 rounds)
    .venv/bin/python bench/bench_engine.py --steps 128 --rounds 5 --ablation
    .venv/bin/python bench/bench_engine.py --photos 4         # the build's packing: four photos a run (~8 min)

Both make one caricature per photo and layer (EfficientNet-Lite0, the 7 stage-end blocks, 224 px, lucid's
recipe); the engine optimizes them in one batch, as a build's run does with its photos (default one photo).
The naive one is a straightforward lucent-style port written below: one caricature per layer run one after
another (batch [original, caricature]), the full network to the logits, NCHW float32, weights left with
requires_grad=True, lucid's transforms step by step. Prints caricature-steps/s for both (medians of
interleaved rounds), their ratio, each layer's final objective (dot_compare on the un-transformed images,
float32) and their relative difference, and achieved GFLOP/s against this machine's measured matmul peak.

    .venv/bin/python bench/bench_engine.py --time-to-quality [--size 128] [--rounds 3] [--recipe lucid]

Time to quality as well: the naive port runs lucid's 512 steps; the engine (the recipe given, default the
engine's default) runs until the mean over layers of its objective ÷ the naive port's 512-step objective
reaches 1 (checked at snapshots every 16 steps, on un-transformed images). Prints both times and their ratio
per round and the median; the seeds differ per round and are shared by the two. The summary line prints
both ratios (throughput and time to quality), each as N×.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from caricatures.runtime import ensure_malloc_env

if __name__ == "__main__":
    ensure_malloc_env()

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from caricatures.images import load_photo
from caricatures.make import TRANSFORM_SEED_OFFSET, caricature_row
from caricatures.metrics import evaluate
from caricatures.models import load_model
from caricatures.objectives import Objective, dot_compare
from caricatures.param import image_param
from caricatures.prepare import prepare_model, resolve_precision
from caricatures.render import optimize
from caricatures.transforms import build_transforms

IMAGES = Path(__file__).resolve().parents[1] / "images"
PHOTOS = ["objects/coffee.jpg", "animals/cat.jpg", "animals/owl.jpg", "animals/koala.jpg", "objects/astronaut.jpg",
          "animals/panda.jpg", "animals/jaguar.jpg", "animals/sheep.jpg"]
COLOR = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])


# --- the naive port --------------------------------------------------------------------------------------

def naive_image(spectrum_init: torch.Tensor):
    """lucent's fft_image + to_valid_rgb, for one image (3, h, w//2+1, 2) spectrum."""
    spectrum = spectrum_init[None].clone().requires_grad_(True)
    h, w = spectrum.shape[2], 2 * (spectrum.shape[3] - 1)
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    scale = 1.0 / torch.maximum(torch.sqrt(fx * fx + fy * fy), torch.tensor(1.0 / max(h, w)))
    color = COLOR / COLOR.norm(dim=0).max()

    def image():
        t = torch.fft.irfft2(torch.view_as_complex(spectrum) * scale, s=(h, w), norm="ortho") / 4
        t = torch.einsum("ij,bjhw->bihw", color, t)
        return torch.sigmoid(t)
    return spectrum, image


def naive_transform(x: torch.Tensor, size: int, draw) -> torch.Tensor:
    """lucid's standard transforms one after another (choices from `draw`), then centred crop/pad to size."""
    x = F.pad(x, (12, 12, 12, 12), value=0.5)
    (oy, ox), (o2y, o2x) = draw.offset, draw.offset2
    x = x[..., oy:oy + x.shape[-2] - 8, ox:ox + x.shape[-1] - 8]
    x = F.interpolate(x, size=(int(draw.scale * x.shape[-2]), int(draw.scale * x.shape[-1])), mode="bilinear",
                      align_corners=False)
    a = math.radians(draw.angle)
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]])[None]
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    x = F.grid_sample(x - 0.5, grid, align_corners=False) + 0.5
    x = x[..., o2y:o2y + x.shape[-2] - 4, o2x:o2x + x.shape[-1] - 4]
    top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
    if top >= 0:
        return x[..., top:top + size, left:left + size]
    top, left = (size - x.shape[-2]) // 2, (size - x.shape[-1]) // 2
    return F.pad(x, (left, size - x.shape[-1] - left, top, size - x.shape[-2] - top), value=0.5)


def naive_caricature(model, photo: torch.Tensor, layer: str, spectrum_init: torch.Tensor, draws) -> torch.Tensor:
    """One caricature at one layer: full network to the logits, weights with gradients, NCHW float32."""
    spectrum, image = naive_image(spectrum_init)
    opt = torch.optim.Adam([spectrum], lr=0.05)
    for draw in draws:
        opt.zero_grad()
        x = naive_transform(torch.cat([photo[None], image()]), photo.shape[-1], draw)
        acts = model.activations(x, [layer, "logits"])  # to the logits, as a full forward would
        a = acts[layer]
        (-(a[0].detach() * a[1]).sum()).backward()
        opt.step()
    return image().detach()


# --- measurement -----------------------------------------------------------------------------------------

def matmul_peak(dtype=torch.float32, n=2048, reps=5) -> float:
    """Best GFLOP/s of an n×n matmul on this machine with torch's threads."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(reps))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def caricature_objective(n_photos: int, layers) -> Objective:
    """dot_compare of each photo's caricature at each layer against that photo, rows as in make_caricatures."""
    return Objective([t for p in range(n_photos) for i, n in enumerate(layers)
                      for t in dot_compare(n, caricature_row(p, i, n_photos, len(layers)), p).terms])


def engine_run(model, photos, layers, steps, seed, precision="auto", transforms_fast=True, drop_rows=True,
               streams=None):
    """Run the engine once on photos (P, 3, S, S), every caricature in one batch; return (seconds, images
    (P·L, 3, S, S), photo-major)."""
    size = photos.shape[-1]
    param = image_param("fft", size, len(photos) * len(layers), seed=seed)
    trans = build_transforms("standard", size, seed + TRANSFORM_SEED_OFFSET, fast=transforms_fast)
    r = optimize(model, caricature_objective(len(photos), layers), param, trans, steps, originals=photos,
                 precision=precision, drop_rows=drop_rows, streams=streams)
    return r.seconds, torch.from_numpy(r.images).permute(0, 3, 1, 2)


def naive_run(model, photos, layers, steps, seed):
    """Run the naive port caricature after caricature with the engine's random choices (same initial spectra,
    same transform draws), so objectives compare implementations, not luck; return (seconds, images)."""
    size = photos.shape[-1]
    (spectra,), _ = image_param("fft", size, len(photos) * len(layers), seed=seed)
    trans = build_transforms("standard", size, seed + TRANSFORM_SEED_OFFSET)
    draws = [trans.draw() for _ in range(steps)]
    t = time.perf_counter()
    images = torch.cat([naive_caricature(model, photo, n, spectra[p * len(layers) + i].detach(), draws)
                        for p, photo in enumerate(photos) for i, n in enumerate(layers)])
    return time.perf_counter() - t, images


def objectives(exact, photos, layers, images) -> list[float]:
    return evaluate(exact, caricature_objective(len(photos), layers), images, photos)[0]


def first_reaching(curve: dict[int, list[float]]) -> tuple[int, float] | None:
    """Return the first step whose mean ratio over layers (objective ÷ the reference's) is ≥ 1, with that mean."""
    for step in sorted(curve):
        mean = statistics.mean(curve[step])
        if mean >= 1:
            return step, mean
    return None


def time_to_quality(base, exact, naive_model, photos, layers, rounds: int, recipe: str, precision: str,
                    naive_steps: int = 512, max_steps: int = 1024, every: int = 16) -> None:
    """Print, per round, the naive port's seconds for `naive_steps` and the engine's seconds to reach its
    objective (mean ratio over layers ≥ 1); return the median ratio of the two (None if never reached)."""
    from caricatures.make import make_caricatures
    print(f"\ntime to quality: naive port {naive_steps} steps vs the engine (recipe {recipe!r}) until its "
          f"objective reaches the naive one (mean over {len(photos)} photo(s) × {len(layers)} layers), "
          f"{photos.shape[-1]} px")
    ratios = []
    for r in range(rounds):
        n_seconds, n_images = naive_run(naive_model, photos, layers, naive_steps, r)
        target = objectives(exact, photos, layers, n_images)
        t = time.perf_counter()
        result = make_caricatures(base, photos, layers, steps=max_steps, seed=r, recipe=recipe, precision=precision,
                                  snapshots=list(range(every, max_steps, every)), device="cpu")
        e_seconds = time.perf_counter() - t
        snaps = {**result.snapshots, max_steps: result.images}
        curve = {step: [o / n for o, n in zip(objectives(exact, photos, layers, as_batch(x)), target)]
                 for step, x in snaps.items()}
        reached = first_reaching(curve)
        if reached is None:
            print(f"round {r + 1}: naive {n_seconds:.1f} s; engine did not reach it in {max_steps} steps "
                  f"({e_seconds:.1f} s)", flush=True)
            continue
        seconds = e_seconds * reached[0] / max_steps   # steps cost the same; the final evaluation is small
        ratios.append(n_seconds / seconds)
        print(f"round {r + 1}: naive {n_seconds:.1f} s; engine reached {reached[1]:.3f} of it at step {reached[0]} "
              f"in {seconds:.1f} s: {ratios[-1]:.1f}× faster", flush=True)
    if ratios:
        print(f"time to quality (median of {len(ratios)}): {statistics.median(ratios):.1f}×")
    return statistics.median(ratios) if ratios else None


def as_batch(images) -> torch.Tensor:
    """make_caricatures' (P, L, S, S, 3) array as the bench's photo-major (P·L, 3, S, S) tensor."""
    return torch.from_numpy(images.reshape(-1, *images.shape[2:])).permute(0, 3, 1, 2)


def count_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=32, help="optimization steps per run (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: %(default)s)")
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--size", type=int, default=None, help="image size (default: the model's)")
    p.add_argument("--photos", type=int, default=1, choices=range(1, len(PHOTOS) + 1), metavar=f"1…{len(PHOTOS)}",
                   help="photos optimized together, one caricature each per layer (default: %(default)s)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    p.add_argument("--ablation", action="store_true", help="also time the engine with one optimization "
                   "turned off at a time")
    p.add_argument("--time-to-quality", action="store_true", help="also time reaching the naive port's 512-step "
                   "objective (several minutes per round)")
    p.add_argument("--recipe", default="lucid", help="the engine's recipe for --time-to-quality")
    p.add_argument("--engine-only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.manual_seed(0)
    base = load_model(args.model)
    size = args.size or base.input_size
    layers = list(base.meta["stage_ends"])
    photos = torch.stack([load_photo(IMAGES / name, size) for name in PHOTOS[:args.photos]])
    n = args.photos * len(layers)  # caricatures per run
    precision = resolve_precision(args.precision, "cpu")
    fast = prepare_model(base, "cpu", precision)
    exact = prepare_model(base, "cpu", "fp32")
    if args.engine_only:
        engine_run(fast, photos, layers, 2, 0, precision)
        times = [engine_run(fast, photos, layers, args.steps, 0, precision)[0] for _ in range(args.rounds)]
        print(f"engine-only {n * args.steps / statistics.median(times):.2f}")
        return
    naive_model = load_model(args.model)
    naive_model.stages.requires_grad_(True)
    print(f"{args.model}, {size} px, {args.photos} photo(s), layers {', '.join(layers)}, "
          f"{args.steps} steps × {args.rounds} rounds, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, engine precision {precision}, "
          f"malloc tuned: {'MALLOC_TOP_PAD_' in os.environ}")
    peak = matmul_peak()
    print(f"matmul peak: {peak:.0f} GFLOP/s fp32")
    engine_run(fast, photos, layers, 2, 0, precision)  # warm-up: oneDNN primitive caches
    naive_run(naive_model, photos[:1], layers[:1], 1, 0)
    e_times, n_times, e_obj, n_obj, seq_obj = [], [], [], [], []
    for r in range(args.rounds):
        runs = [("engine", lambda r=r: engine_run(fast, photos, layers, args.steps, r, precision)),
                ("naive", lambda r=r: naive_run(naive_model, photos, layers, args.steps, r))]
        for name, run in runs if r % 2 == 0 else runs[::-1]:
            seconds, images = run()
            (e_times if name == "engine" else n_times).append(seconds)
            (e_obj if name == "engine" else n_obj).append(objectives(exact, photos, layers, images))
        seq = engine_run(fast, photos, layers, args.steps, r, precision, transforms_fast=False)[1]
        seq_obj.append(objectives(exact, photos, layers, seq))
        print(f"round {r + 1}: engine {n * args.steps / e_times[-1]:.2f}, "
              f"naive {n * args.steps / n_times[-1]:.2f} caricature-steps/s", flush=True)
    cs = n * args.steps
    e_rate, n_rate = cs / statistics.median(e_times), cs / statistics.median(n_times)
    print(f"\ncaricature-steps/s (median of {args.rounds}): engine {e_rate:.2f}, naive {n_rate:.2f}, "
          f"ratio {e_rate / n_rate:.2f}×")
    print("\nfinal objective per layer (mean over photos and rounds; dot_compare on un-transformed images; the "
          "naive run shares the engine's initial spectra and transform draws):")
    print(f"  {'layer':<8} {'engine':>12} {'naive':>12} {'difference':>10}   {'engine, sequential transforms':>30}")
    diffs, seq_diffs = [], []
    def layer_mean(runs, i):
        return statistics.mean(o[j] for o in runs for j in range(i, n, len(layers)))
    for i, name in enumerate(layers):
        e, nv, q = layer_mean(e_obj, i), layer_mean(n_obj, i), layer_mean(seq_obj, i)
        diffs.append((e - nv) / abs(nv))
        seq_diffs.append((q - nv) / abs(nv))
        print(f"  {name:<8} {e:12.1f} {nv:12.1f} {diffs[-1]:+10.2%}   {q:18.1f} {seq_diffs[-1]:+10.2%}")
    for label, runs in (("engine", e_obj), ("engine with sequential transforms", seq_obj)):
        d = [(o[i] - b[i]) / abs(b[i]) for o, b in zip(runs, n_obj) for i in range(n)]
        se = statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
        print(f"  {label} vs naive, all layers and rounds: mean relative difference {statistics.mean(d):+.2%} "
              f"± {se:.2%} (standard error)")
    print("  (rounding differences alone move deep layers' short-run objectives by several %: compare the "
          "sequential-transform column, whose arithmetic differs from the naive run only in layout and folding)")
    # Count useful FLOPs: no zero-padded kernels, no fused ops the counter does not know, and one stream (the
    # counter sees only its own thread).
    plain = prepare_model(base, "cpu", "fp32", same_padding=False, relu6=False)
    e_flops = count_flops(lambda: engine_run(plain, photos, layers, 1, 0, "fp32", streams=1)) / n
    frozen = load_model(args.model)
    n_flops = count_flops(lambda: naive_run(frozen, photos[:1], layers, 1, 0)) / len(layers)
    print(f"\nFLOPs per caricature-step: engine {e_flops / 1e9:.2f} G (truncated, rows dropped), naive "
          f"{n_flops / 1e9:.2f} G (full network, not counting its wasted weight gradients)")
    print(f"achieved: engine {e_flops * e_rate / 1e9:.1f} GFLOP/s ({e_flops * e_rate / 1e9 / peak:.0%} of "
          f"matmul peak), naive {n_flops * n_rate / 1e9:.1f} GFLOP/s ({n_flops * n_rate / 1e9 / peak:.0%})")
    ttq = None
    if args.time_to_quality:
        ttq = time_to_quality(base, exact, naive_model, photos, layers, args.rounds, args.recipe, precision)
    print(f"\nsummary: throughput {e_rate / n_rate:.1f}× the naive port ({e_rate:.1f} caricature-steps/s); "
          + (f"time to quality {ttq:.1f}×" if ttq else "time to quality not measured (--time-to-quality)"
             if not args.time_to_quality else "time to quality: the engine never reached the naive objective"))
    if args.ablation:
        ablation(base, photos, layers, args.steps, args.rounds, precision)


def ablation(base, photos, layers, steps, rounds, precision) -> None:
    """Time the engine with one optimization off at a time (interleaved with the full engine)."""
    variants = {
        "full engine": {"model": prepare_model(base, "cpu", precision)},
        "no BN folding": {"model": prepare_model(base, "cpu", precision, fold_bn=False)},
        "no channels_last": {"model": prepare_model(base, "cpu", precision, channels_last=False)},
        "SAME pad as a copy": {"model": prepare_model(base, "cpu", precision, same_padding=False)},
        "ReLU6 not fused": {"model": prepare_model(base, "cpu", precision, relu6=False)},
        "no row dropping": {"model": prepare_model(base, "cpu", precision), "drop_rows": False},
        "sequential transforms": {"model": prepare_model(base, "cpu", precision), "transforms_fast": False},
        "one stream": {"model": prepare_model(base, "cpu", precision), "streams": 1},
    }
    if precision == "bf16":
        variants["fp32 instead of bf16"] = {"model": prepare_model(base, "cpu", "fp32"), "precision": "fp32"}
    times = {k: [] for k in variants}
    for r in range(rounds):
        for name, v in variants.items():
            kw = {k: v[k] for k in ("drop_rows", "transforms_fast", "streams") if k in v}
            times[name].append(engine_run(v["model"], photos, layers, steps, r, v.get("precision", precision),
                                          **kw)[0])
    print("\nablation (caricature-steps/s, median of interleaved rounds):")
    cs = len(photos) * len(layers) * steps
    full = cs / statistics.median(times["full engine"])
    for name, t in times.items():
        rate = cs / statistics.median(t)
        print(f"  {name:<24} {rate:6.2f}  ({full / rate:.2f}× slower than full)" if name != "full engine"
              else f"  {name:<24} {rate:6.2f}")
    base_env = {**os.environ, "CARICATURES_NO_REEXEC": "1"}
    envs = {"as configured": base_env,
            "malloc untuned": {k: v for k, v in base_env.items() if not k.startswith("MALLOC_")},
            "OpenMP default spinning": {k: v for k, v in base_env.items() if k != "GOMP_SPINCOUNT"}}
    rates = {k: [] for k in envs}
    for _ in range(rounds):
        for label, env in envs.items():
            out = subprocess.run([sys.executable, __file__, "--engine-only", "--steps", str(steps), "--rounds",
                                  "1", "--photos", str(len(photos))],
                                 env=env, capture_output=True, text=True, check=True).stdout
            rates[label].append(float(out.split()[-1]))
    print("  separate processes (median of interleaved rounds): " + ", ".join(
        f"{label} {statistics.median(r):.2f}" for label, r in rates.items()))


if __name__ == "__main__":
    main()
