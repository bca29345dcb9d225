"""Executors: where the build's runs are computed, behind one small interface.

    InProcess()                  --jobs 0: here, one run at a time (for debugging)
    Local(workers)               the default: worker processes on this machine, every core busy
    RayCluster("auto")           --cluster auto | ray://HOST:PORT | local:N (a throwaway cluster on 127.0.0.1)

`submit(runs, where, key)` computes a job, one run or a pack of runs optimized as one batch (on a GPU), and
returns a concurrent.futures.Future of `[(arrays, provenance)]`, one per run; `slots` is how many jobs the
executor computes at once; `progress()` drains `(key, caricature-steps done)` reports from the workers;
`shutdown()` stops them, the jobs in flight included. Workers only compute and send results back:
the driver alone writes the run cache.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import time
from concurrent.futures import Future, ProcessPoolExecutor

from caricatures.runtime import MALLOC_ENV
from sitegen import ROOT
from sitegen.runs import Run, Where, checkpoint_arrays, execute_pack, ship

log = logging.getLogger("build")
REPORT_EVERY_S = 1.0


_SINK = None   # a local worker's progress queue, handed over when the worker starts


def _init_worker(sink) -> None:
    global _SINK
    _SINK = sink


def compute(runs: list[Run], where: Where, key: str, sink=None, checkpoints=None) -> list[tuple[dict, dict]]:
    """Compute one job (a run, or runs packed into one batch) in a worker, reporting its progress to `sink` (a
    queue; default the worker's own) about once a second; `checkpoints` (from `checkpoint_arrays`) carries the
    fine-tuned weights the runs use to a worker that does not see the run cache."""
    sink = sink if sink is not None else _SINK
    ship(checkpoints or {})
    last = [0.0]

    def report(done: int) -> None:
        now = time.monotonic()
        if now - last[0] >= REPORT_EVERY_S:
            last[0] = now
            sink.put((key, done))

    return execute_pack(runs, where, report)


def _drain(sink) -> list[tuple[str, int]]:
    out = []
    while True:
        try:
            out.append(sink.get_nowait())
        except queue.Empty:   # ray.util.queue.Empty is one too
            return out


class InProcess:
    """Compute each run here, when it is submitted."""

    name, slots = "in-process", 1

    def __init__(self):
        self.sink: queue.Queue = queue.Queue()

    def submit(self, runs: list[Run], where: Where, key: str) -> Future:
        f: Future = Future()
        try:
            f.set_result(compute(runs, where, key, self.sink))
        except Exception as e:  # noqa: BLE001 -- the scheduler reports it with the run's name
            f.set_exception(e)
        return f

    def progress(self) -> list[tuple[str, int]]:
        return _drain(self.sink)

    def restart(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


class Local:
    """Worker processes on this machine (spawned with glibc malloc tuned); a worker that dies is replaced."""

    name = "local"

    def __init__(self, workers: int):
        for k, v in MALLOC_ENV.items():   # read by glibc when a worker starts, so set before any is spawned
            os.environ.setdefault(k, v)
        self.slots = workers
        self.ctx = multiprocessing.get_context("spawn")
        self._start()

    def _start(self) -> None:
        self.sink = self.ctx.Queue()    # a queue travels to a process only when the process starts
        self.pool = ProcessPoolExecutor(self.slots, mp_context=self.ctx, initializer=_init_worker,
                                        initargs=(self.sink,))

    def submit(self, runs: list[Run], where: Where, key: str) -> Future:
        return self.pool.submit(compute, runs, where, key)

    def progress(self) -> list[tuple[str, int]]:
        return _drain(self.sink)

    def _kill(self) -> None:
        for p in list(getattr(self.pool, "_processes", {}).values()):   # running workers stop now
            p.kill()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def restart(self) -> None:
        """Replace a broken pool (a worker died) with a fresh one."""
        self._kill()
        self._start()

    def shutdown(self) -> None:
        self._kill()


RAY_EXCLUDES = [".git", ".venv", ".cache", "public", "public.*", "out", "test-artifacts", "node_modules", "bench",
                "tests", "*.pth", "*.pt", "__pycache__"]


class _NoProgress:
    def put(self, item) -> None:
        pass


class RayCluster:
    """Runs as Ray tasks on a cluster: an existing one ("auto", "ray://HOST:PORT", "HOST:PORT") or a throwaway
    one of N nodes on 127.0.0.1 ("local:N"). The code and photos travel as the job's working directory;
    every node needs the same Python environment (./setup.sh). A task whose worker dies is retried by Ray."""

    name = "ray"

    def __init__(self, address: str, where: Where, retries: int = 3):
        self.cluster = None
        if address.startswith("local:"):
            address = self._start_local(int(address.split(":", 1)[1]))
        import ray
        env = {**MALLOC_ENV, "OMP_NUM_THREADS": str(where.threads)}
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING,
                 runtime_env={"working_dir": str(ROOT), "excludes": RAY_EXCLUDES, "env_vars": env})
        self.ray = ray
        gpus = 1 if where.device == "cuda" else 0
        self.task = ray.remote(compute).options(num_cpus=1 if gpus else where.threads, num_gpus=gpus,
                                                max_retries=retries)
        resources = ray.cluster_resources()
        self.slots = max(1, int(resources.get("GPU", 0) if gpus else resources.get("CPU", 1) // where.threads))
        log.info("ray: %d node(s), %s", len([n for n in ray.nodes() if n["Alive"]]),
                 ", ".join(f"{k} {v:g}" for k, v in sorted(resources.items()) if k in ("CPU", "GPU")))

    def _start_local(self, nodes: int) -> str:
        if nodes < 1:
            raise ValueError(f"--cluster local:{nodes}: give at least one node")
        # Resolve "this node" to 127.0.0.1 and stay off the network: the variable for the processes Ray starts,
        # the constant for this one (Ray may have been imported already).
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        from ray._private import ray_constants
        from ray.cluster_utils import Cluster
        ray_constants.ENABLE_RAY_CLUSTER = False
        cpus = max(1, (os.cpu_count() or 1) // nodes)
        node = {"num_cpus": cpus, "node_ip_address": "127.0.0.1"}
        self.cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
        for _ in range(nodes - 1):
            self.cluster.add_node(**node)
        self.cluster.wait_for_nodes()
        return self.cluster.address

    def submit(self, runs: list[Run], where: Where, key: str) -> Future:
        # A fine-tuned checkpoint travels with the job: Ray's workers do not see this machine's run cache.
        return self.task.remote(runs, where, key, _NoProgress(), checkpoint_arrays(runs)).future()

    def progress(self) -> list[tuple[str, int]]:
        return []   # a run counts when it finishes: a queue actor would hold a worker and make Ray churn others

    def restart(self) -> None:
        pass   # Ray retries a task whose worker died by itself

    def shutdown(self) -> None:
        self.ray.shutdown()
        if self.cluster is not None:
            self.cluster.shutdown()


def make_executor(jobs: int | None, cluster: str | None, where: Where):
    """Return the executor the options ask for: Ray when `cluster` is given, in-process for jobs 0, else local
    workers (default: one per `where.threads` cores, or one per GPU)."""
    if cluster:
        return RayCluster(cluster, where)
    return InProcess() if jobs == 0 else Local(local_workers(jobs, where))


def local_workers(jobs: int | None, where: Where) -> int:
    """Return how many local workers --jobs asks for: as given, else one per GPU, or one per `threads` cores."""
    if jobs is None:
        import torch
        jobs = torch.cuda.device_count() if where.device == "cuda" else (os.cpu_count() or 1) // where.threads
    return max(1, jobs)
