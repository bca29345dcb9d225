"""`build.py --verify N`: do the frozen figures still reproduce? Recompute N of their runs here and compare.

Runs are sampled at random (the seed is printed, so a sample can be repeated) from the runs of every figure
taken from frozen/ that hold per-caricature metrics; runs on fine-tuned checkpoints are left out (their key
needs the parent's weights, which only the run cache holds). Each recomputed caricature's gain and cosine
are compared with the frozen ones: where this machine computes as the frozen run did (same device kind,
precision, threads and processor) they must be equal; elsewhere within TOLERANCE,
measured in docs/FREEZE.md.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from sitegen import freeze
from sitegen.config import BuildConfig
from sitegen.figures import discover
from sitegen.runs import Run, Where, resolve_where, run_key
from sitegen.runs.execute import device_name, execute

# the largest |bf16 − fp32| of one caricature, 512 steps at 224 px, rounded up (bench/study_precision.py:
# cosine 0.042, gain 5.4% of 56 caricatures; docs/FREEZE.md)
TOLERANCE = {"cosine": 0.05, "gain": 0.06}   # cosine absolute, gain relative
EXACT = 0.0                                    # RUNS.json keeps every float exactly


@dataclass
class Check:
    figure: str                # the figures that use the run, joined
    key: str
    run: Run
    frozen: list[dict]         # the run's record in each of those figures' RUNS.json
    where: Where
    same_machine: bool
    differences: dict[str, float] | None = None
    passed: bool | None = None


def _where(record: dict) -> Where:
    w = record["where"]
    return Where(w["device"], w["precision"], w.get("threads") or 1)


def candidates(config: BuildConfig) -> list[Check]:
    """Every frozen run that --verify can recompute, once each, with the figure that uses it."""
    here = resolve_where(config.device, config.precision, config.threads)
    out: dict[str, Check] = {}
    for fig_id, script in discover(config).items():
        folder = freeze.frozen_dir(config.frozen, fig_id, script.key)
        if freeze.read_frozen(config.frozen, fig_id, script.key) is None:
            continue
        records = freeze.frozen_runs(folder)
        for run in script.runs():
            if run.model.weights == "finetune" or run.kind == "finetune":
                continue
            for key, record in records.items():
                if not record.get("metrics") or key != run_key(run, _where(record)):
                    continue
                if key in out:   # a run two figures share: each figure's copy is checked
                    if fig_id not in out[key].figure.split(", "):
                        out[key].figure += f", {fig_id}"
                        out[key].frozen.append(record)
                    continue
                same = (here == _where(record)
                        and record["where"].get("device_name") == device_name(here.device))
                out[key] = Check(fig_id, key, run, [record], here, same)
    return list(out.values())


def compare(frozen: dict, arrays: dict[str, np.ndarray]) -> dict[str, float]:
    """Largest |Δ cosine| and largest relative |Δ gain| over a run's caricatures."""
    diff = {}
    if "cosine" in frozen:
        diff["cosine"] = float(np.abs(np.asarray(arrays["cosine"], float) - np.asarray(frozen["cosine"])).max())
    if "gain" in frozen:
        want = np.asarray(frozen["gain"])
        got = np.asarray(arrays["gain"], float)
        diff["gain"] = float((np.abs(got - want) / np.maximum(np.abs(want), 1e-12)).max())
    if "objective" in frozen and not diff:
        want = np.asarray(frozen["objective"])
        got = np.asarray(arrays["objective"], float)
        diff["objective"] = float((np.abs(got - want) / np.maximum(np.abs(want), 1e-12)).max())
    return diff


def verify(config: BuildConfig, out=print) -> int:
    """Recompute config.verify sampled frozen runs; print a table; return the exit status (0: all agree)."""
    pool = candidates(config)
    if config.verify_under is not None:
        pool = [c for c in pool if c.run.work <= config.verify_under]
    if not pool:
        out("verify: no frozen run to recompute (is frozen/ there, and are the figures' keys current?)")
        return 1
    seed = config.verify_seed if config.verify_seed is not None else random.SystemRandom().randrange(2**31)
    chosen = random.Random(seed).sample(sorted(pool, key=lambda c: c.key), min(config.verify, len(pool)))
    out(f"verify: {len(chosen)} of {len(pool)} frozen runs, seed {seed} (repeat: --verify {config.verify} "
        f"--seed {seed}), here {chosen[0].where.describe()}")
    out("| figure | run | caricature-steps | frozen where | exact? | max Δ cosine | max rel. Δ gain | verdict |")
    out("|---|---|---|---|---|---|---|---|")
    failed = 0
    for c in chosen:
        arrays, _ = execute(c.run, c.where)
        per_record = [compare(record["metrics"], arrays) for record in c.frozen]
        c.differences = {k: max(d[k] for d in per_record) for k in per_record[0]}
        limit = {k: EXACT if c.same_machine else TOLERANCE.get(k, TOLERANCE["gain"]) for k in c.differences}
        c.passed = all(v <= limit[k] for k, v in c.differences.items())
        failed += not c.passed
        w = c.frozen[0]["where"]
        out(f"| {c.figure} | {c.key[:12]} | {c.run.work:,} | {w['device']}/{w['precision']}/{w.get('threads')} "
            f"{w.get('device_name') or ''} | {'yes' if c.same_machine else 'no'} | "
            f"{c.differences.get('cosine', float('nan')):.2e} | {c.differences.get('gain', float('nan')):.2e} | "
            f"{'ok' if c.passed else 'OUTSIDE'} |")
    out(f"verify: {len(chosen) - failed} agree, {failed} outside "
        f"({'exact' if all(c.same_machine for c in chosen) else 'tolerance: ' + str(TOLERANCE)})")
    return 1 if failed else 0
