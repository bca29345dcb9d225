"""Runs, the unit of work: a frozen request for one optimization (or attribution), the key of its result, and
computing it.

    run = caricature(ModelRef("efficientnet_lite0"), ["images/animals/panda.jpg"], ["block2"], steps=128, size=128)
    where = Where("cpu", "fp32", threads=1)        # how it is computed: part of the key, since it moves pixels
    key = run_key(run, where)                       # engine, weights and photo digests, every setting
    arrays, provenance = execute(run, where)        # what the figure scripts read back

A figure script declares the runs it needs (`runs(spec)`); the build computes each missing run once, wherever
its executor puts it, and the script's `make` only reads results.

    run.py          a run and its key: Run, ModelRef, Where, the constructors (caricature, channel, attribution,
                    finetune), run_key
    execute.py      executing a run: execute, execute_pack, photo_view
    checkpoints.py  runs on a fine-tuned checkpoint: finetuned, resolve, and shipping checkpoints to workers
    store.py        the run cache: RunStore

The names below are re-exported here, so `from sitegen.runs import caricature, execute` works; a test that
patches a name patches it in the module that looks it up (e.g. sitegen.runs.run.weights_sha256). Note that
`sitegen.runs.execute` is the function: import the module as `from sitegen.runs.execute import ...`.
"""
from sitegen.runs.checkpoints import SHIPPED, checkpoint_arrays, finetuned, resolve, ship
from sitegen.runs.execute import WorkProgress, cpu_name, execute, execute_pack, photo_view
from sitegen.runs.run import (
    KINDS,
    PREPROCESS,
    ModelRef,
    ParentPending,
    Run,
    Where,
    attribution,
    caricature,
    caricature_settings,
    channel,
    finetune,
    make_run,
    pack_key,
    parse_target,
    photo_sha256,
    resolve_where,
    run_key,
    weights_sha256,
)
from sitegen.runs.store import RunStore

__all__ = [
    "KINDS", "PREPROCESS", "SHIPPED", "ModelRef", "ParentPending", "Run", "RunStore", "Where", "WorkProgress",
    "attribution", "caricature", "caricature_settings", "channel", "checkpoint_arrays", "cpu_name", "execute",
    "execute_pack", "finetune", "finetuned", "make_run", "pack_key", "parse_target", "photo_sha256", "photo_view",
    "resolve", "resolve_where", "run_key", "ship", "weights_sha256",
]
