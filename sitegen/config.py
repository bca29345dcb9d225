"""BuildConfig: the command line parsed into one frozen dataclass that every build step receives."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from sitegen import ROOT


@dataclass(frozen=True)
class BuildConfig:
    """Where the build reads and writes, and how it runs figures; paths are absolute."""

    root: Path = ROOT                                 # figure inputs are relative to this
    article: Path = ROOT / "article"                  # index.md + references.bib
    figures: Path = ROOT / "figures"     # one <id>.py per figure
    templates: Path = ROOT / "templates"
    assets: Path = ROOT / "assets"
    credits: Path = ROOT / "images" / "credits.json"
    out: Path = ROOT / "public"
    cache: Path = ROOT / ".cache"
    quick: bool = False
    only: tuple[str, ...] = ()
    force: bool = False
    serve: bool = False
    port: int = 8000
    jobs: int | None = None                           # local worker processes (None: one per `threads` cores)
    cluster: str | None = None                        # Ray: "auto", "ray://HOST:PORT", "local:N"
    device: str = "auto"                              # CUDA when present, else the CPU
    precision: str = "auto"                           # bf16 where the hardware has it, else fp32
    threads: int = 1                                  # threads per run on the CPU
    pack: int | None = None                           # caricatures per packed batch (None: 64 on CUDA, off on CPU)
    plan: bool = False
    seed: int | None = None
    sheet_format: str = "webp"
    progress: bool = True                             # tqdm bar on stderr (off when stderr is not a terminal)
    frozen: Path = ROOT / "frozen"                    # the committed figures (sitegen/freeze.py)
    use_frozen: bool = True                           # take a figure from frozen/ when its key is there
    freeze: bool = False                              # after the build, write frozen/ from its figures
    verify: int | None = None                         # recompute this many frozen runs and compare metrics
    verify_under: int | None = None                   # … only among runs of at most this many caricature-steps
    verify_seed: int | None = None                    # the sample's seed (None: a fresh one, printed)


HELP = """\
Build the caricatures article into a self-contained static site.

Reads article/index.md (YAML front matter + Markdown, rendered through Jinja first so the text can use
figure numbers: {{ "%.2f"|format(fig.<id>.metrics.<name>) }}), article/references.bib, the figure
scripts figures/<id>.py, templates/ and assets/; regenerates only the figures whose spec, script,
inputs or engine version changed (cached under .cache/); writes public/index.html, which works from
file:// and makes no request outside public/.  Bad input stops the build with one line naming the
file:line or figure and exit code 2, leaving the previous public/ as it was.

examples:
  python build.py                      full build (a second run with nothing changed takes seconds)
  python build.py --quick              same pipeline, small step and image counts (for tests and drafts)
  python build.py --only in_context    regenerate one figure (repeatable); others come from the cache
  python build.py --serve --port 8000  build, serve on http://127.0.0.1:8000/, rebuild on change
  python build.py --plan               list the runs each stale figure needs, cached or not, and estimate
                                       the wall time on this machine; build nothing
  python build.py --cluster auto       compute the runs on the Ray cluster this machine belongs to
  python build.py --cluster local:2    ... on a throwaway two-node Ray cluster on 127.0.0.1 (to try it out)
  python build.py --jobs 0             compute every run inside this process (for debugging)

The work is done in runs (one optimization of a batch of caricatures); the build computes each missing run
once, wherever the executor puts it, keeps it in .cache/runs/ (a stopped build resumes from there), and only
then assembles the figures. A run's key covers everything that moves its pixels: engine version, weights and
photo digests, every setting, the device kind, the resolved precision and the threads per run.
"""


def parse_args(argv: list[str] | None = None) -> BuildConfig:
    """Parse command-line arguments into a BuildConfig."""
    d = BuildConfig()
    ap = argparse.ArgumentParser(prog="build.py", description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small steps/image counts: same pipeline, for tests")
    ap.add_argument("--only", action="append", default=[], metavar="FIG",
                    help="run only figure FIG when it is stale (always, with --force); repeatable; the "
                         "others are taken from the cache as they are")
    ap.add_argument("--force", action="store_true", help="assemble the selected figures again even if cached (their runs still come from "
                         ".cache/runs/: remove it to compute them again)")
    ap.add_argument("--serve", action="store_true",
                    help="serve the site on 127.0.0.1:PORT and rebuild when article/templates/assets/figures change")
    ap.add_argument("--port", type=int, default=d.port, help=f"port for --serve (default {d.port})")
    ap.add_argument("--plan", action="store_true",
                    help="list the runs of the stale figures (count, caricature-steps, cached) and estimate the "
                         "wall time from this machine's measured speed; build nothing")
    ap.add_argument("--jobs", type=int, default=d.jobs, metavar="N",
                    help="compute runs in N local worker processes (default: one per --threads cores, one per "
                         "GPU on CUDA; 0 = inside this process, for debugging)")
    ap.add_argument("--cluster", default=None, metavar="ADDRESS",
                    help="compute runs on Ray: auto (the cluster this machine belongs to), ray://HOST:PORT, or "
                         "local:N (a throwaway N-node cluster on 127.0.0.1)")
    ap.add_argument("--threads", type=int, default=d.threads, metavar="N",
                    help="threads per run on the CPU (default 1: every core runs its own run); part of the "
                         "run key, since the engine's row groups follow it")
    ap.add_argument("--pack", type=int, default=None, metavar="N",
                    help="optimize runs that share model, layers, steps and settings as one batch of up to N "
                         "caricatures at the model's input size (default: 64 on CUDA, where one small run would "
                         "leave the GPU idle; 0 = off, the default on the CPU)")
    ap.add_argument("--device", default=d.device, help="auto (default: CUDA when present), cpu or cuda")
    ap.add_argument("--precision", default=d.precision, choices=("auto", "fp32", "bf16"),
                    help="auto (default): bf16 where the processor or GPU has it, else fp32")
    ap.add_argument("--seed", type=int, default=None, help="override every figure's seed (default: the spec's); with --verify, the seed of the "
                    "sample of runs instead")
    ap.add_argument("--format", dest="sheet_format", choices=("webp", "jpeg", "png"), default=d.sheet_format,
                    help="sprite sheet format (default webp, quality 90)")
    ap.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    ap.add_argument("--no-frozen", dest="use_frozen", action="store_false",
                    help="compute every figure (from .cache/ or its runs) instead of taking it from frozen/")
    ap.add_argument("--freeze", action="store_true",
                    help="build the whole article (computing what is stale), then write frozen/ from its "
                         "figures and remove every entry no figure uses; refuses --quick and --only")
    ap.add_argument("--verify", type=int, default=None, metavar="N",
                    help="recompute N runs of the frozen figures, sampled at random (--seed S seeds the "
                         "sample), and compare each caricature's gain and cosine with the frozen ones; exit 1 "
                         "when one is outside the tolerance (docs/FREEZE.md); builds nothing")
    ap.add_argument("--verify-under", type=int, default=None, metavar="STEPS",
                    help="with --verify: sample only runs of at most STEPS caricature-steps (a cheap check)")
    for name, help_ in (("article", "article folder"), ("figures", "figure scripts folder"),
                        ("templates", "templates folder"), ("assets", "assets folder"),
                        ("credits", "photo credits JSON"), ("out", "output folder"), ("cache", "cache folder"),
                        ("frozen", "frozen figures folder")):
        ap.add_argument(f"--{name}", type=Path, default=getattr(d, name), metavar="PATH",
                        help=f"{help_} (default {getattr(d, name).relative_to(ROOT)})")
    a = ap.parse_args(argv)
    if a.jobs is not None and a.jobs < 0:
        ap.error("--jobs must be 0 or more")
    if a.pack is not None and a.pack < 0:
        ap.error("--pack must be 0 or more")
    if a.threads < 1:
        ap.error("--threads must be at least 1")
    if a.freeze and (a.quick or a.only):
        ap.error("--freeze writes the whole article at its full settings: drop --quick and --only")
    if a.verify is not None and a.verify < 1:
        ap.error("--verify N: N must be at least 1")
    if a.verify is not None and (a.quick or a.freeze or a.only):
        ap.error("--verify checks frozen/ and builds nothing: drop --quick, --only and --freeze")
    if a.cluster and not (a.cluster == "auto" or a.cluster.startswith("ray://") or ":" in a.cluster):
        ap.error(f"--cluster {a.cluster}: use auto, ray://HOST:PORT, HOST:PORT or local:N")
    paths = {k: getattr(a, k).resolve() for k in ("article", "figures", "templates", "assets", "credits", "out", "cache",
                                                  "frozen")}
    return BuildConfig(quick=a.quick, only=tuple(dict.fromkeys(a.only)), force=a.force, serve=a.serve, port=a.port,
                       jobs=a.jobs, cluster=a.cluster, device=a.device, precision=a.precision, threads=a.threads,
                       pack=a.pack, plan=a.plan, seed=None if a.verify else a.seed, sheet_format=a.sheet_format,
                       progress=a.progress, use_frozen=a.use_frozen, freeze=a.freeze, verify=a.verify,
                       verify_under=a.verify_under, verify_seed=a.seed,
                       **paths)
