"""Running a sweep's trials: one after another in this process, or one per GPU at once.

    nlplab sweep SWEEP.yaml -o DIR              # in this process: nlplab.finetune.train.run per trial
    nlplab sweep SWEEP.yaml -o DIR --gpus 4     # 4 workers, each `python -m nlplab finetune` on its own GPU

Each trial is a run folder DIR/trials/tNNN; its metrics.json (with "best" once finished)
is the only source of its result. A trial that fails is logged with its error and the
sweep goes on. --resume skips finished trials, continues those with a checkpoint and
starts the others again.

The GPU workers are a pool over the trial queue: worker i runs its trials with
CUDA_VISIBLE_DEVICES set to the i-th visible GPU; the subprocess writes its stdout and
stderr to DIR/trials/tNNN.out and reads its whole FinetuneConfig from DIR/trials/tNNN.yaml.
`--cpu-workers N` gives N workers CUDA_VISIBLE_DEVICES="" (CPU) and cores / N torch threads
each: the same pool on a machine without GPUs (and in the tests).

`pool` is that machinery for any list of fine-tuning jobs: `nlplab bench` (nlplab/bench/)
runs a suite's tasks through it too, one job per task and seed, where a job may wait for
another whose model it starts from (RTE from MNLI).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from nlplab import NlplabError, config
from nlplab.finetune.config import FinetuneConfig
from nlplab.sweep.spec import Trial


class Log:
    """Progress lines on stderr and in DIR/sweep.log, appended so a resumed sweep keeps its
    history; several workers may write at once."""

    def __init__(self, path: Path):
        self.path, self.lock = path, threading.Lock()

    def __call__(self, msg: str, echo: bool = True) -> None:
        with self.lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}\n")
            if echo:
                print(msg, file=sys.stderr, flush=True)


def devices(gpus: str, cpu_workers: int = 0) -> list[str]:
    """CUDA_VISIBLE_DEVICES value for each worker ("" for a CPU worker); [] runs the trials in
    this process. `cpu_workers` N: N subprocesses on the CPU, the cores shared out among them."""
    if cpu_workers:
        if gpus.strip() not in ("0", ""):
            raise NlplabError(f"--gpus {gpus} and --cpu-workers {cpu_workers}: give one of them")
        if cpu_workers < 0:
            raise NlplabError(f"--cpu-workers {cpu_workers}: give a number of CPU workers, 1 or more")
        return [""] * cpu_workers
    if gpus.strip() in ("0", ""):
        return []
    if gpus != "auto" and not (gpus.isdigit() and int(gpus) > 0):
        raise NlplabError(f"--gpus {gpus}: give a number of GPUs, auto (every visible GPU) or 0 (in this process)")
    import torch

    count = torch.cuda.device_count()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")  # worker i gets the i-th GPU this process may use
    ids = [v.strip() for v in visible.split(",") if v.strip()] if visible is not None else [str(i) for i in range(count)]
    ids = ids[:count]
    if gpus == "auto":
        return ids
    if int(gpus) > len(ids):
        raise NlplabError(f"--gpus {gpus}: only {len(ids)} GPU(s) visible here; use --gpus {len(ids) or 0} "
                          f"(or auto), or leave it out to run the trials one after another in this process")
    return ids[:int(gpus)]


def state(run: Path) -> str:
    """done (metrics.json has the best evaluation), checkpoint (resumable), started, new."""
    metrics = run / "metrics.json"
    if metrics.is_file():
        try:
            if json.loads(metrics.read_text(encoding="utf-8")).get("best"):
                return "done"
        except json.JSONDecodeError:
            pass  # written atomically, so only a hand-edited file gets here: run the trial again
    if (run / "checkpoint" / "last.pt").is_file():
        return "checkpoint"
    return "started" if run.exists() else "new"


def result(run: Path, metric: str) -> tuple[float, float]:
    """(the best evaluation's `metric` on the selecting dev split, train samples/s)."""
    m = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    return float(m["best"]["splits"][m["main"]][metric]), float(m["samples_per_s"])


def in_process(trial: Trial, resume: bool, progress: bool | None) -> None:
    """The trial through the very function `nlplab finetune` calls."""
    import gc

    import torch

    from nlplab.finetune.train import run

    try:
        run(dataclasses.replace(trial.cfg, resume=resume), progress=progress)
    finally:  # the finished trial's model and optimizer are garbage now: free them before the next
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def threads_each(workers: list[str]) -> int:
    """Torch threads for each CPU worker: the cores shared out (at least one)."""
    return max(1, (os.cpu_count() or 1) // max(1, len(workers)))


def describe_workers(workers: list[str], noun: str) -> str:
    """How the pool runs, for the head line: in this process, one per GPU, or CPU workers."""
    if not workers:
        return "one after another in this process"
    if all(w == "" for w in workers):
        return f"{len(workers)} CPU workers, {threads_each(workers)} torch thread(s) each"
    return f"{len(workers)} workers, one {noun} per GPU"


def in_subprocess(trial: Trial, device: str, resume: bool, procs: dict, threads: int | None = None) -> None:
    """`python -m nlplab finetune` on one GPU (or on the CPU with `threads` torch threads, unless
    OMP_NUM_THREADS says otherwise); NlplabError with its last error line if it fails."""
    run = Path(trial.cfg.output)
    cfg_file, out_file = run.with_suffix(".yaml"), run.with_suffix(".out")
    config.save(trial.cfg, cfg_file)
    cmd = [sys.executable, "-m", "nlplab", "finetune", "--config", str(cfg_file), "-o", str(run), "--no-progress"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": device}
    if device == "" and threads and "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(threads)
    with open(out_file, "w", encoding="utf-8") as out:
        p = subprocess.Popen(cmd + (["--resume"] if resume else []), stdout=out, stderr=subprocess.STDOUT, env=env)
        procs[trial.id] = p
        try:
            code = p.wait()
        finally:
            procs.pop(trial.id, None)
    if code:
        lines = [x for x in out_file.read_text(encoding="utf-8", errors="replace").splitlines() if x.strip()]
        # the CLI's one-line error, else the traceback's last line
        last = next((x for x in reversed(lines) if x.startswith("nlplab finetune: error: ")), lines[-1] if lines else "")
        raise NlplabError(f"exit code {code}: {last.removeprefix('nlplab finetune: error: ')} (full output: {out_file})")


@dataclass
class Job:
    """One fine-tuning run for the pool: a sweep's trial, a bench's task and seed."""

    id: str  # names its log lines; a GPU worker writes <run folder>.yaml/.out beside its run folder
    cfg: FinetuneConfig
    what: str = ""  # what its log lines say it is (a trial's parameters and seed)
    after: str | None = None  # the id of a job whose run folder it starts from: it waits for that one


def execute(trials: list[Trial], workers: list[str], resume: bool, progress: bool | None, metric: str,
            log: Log, done) -> list[dict]:
    """Run the trials; `done(record)` is called as each one ends. Returns every trial's
    record (sweep.json's "trials")."""
    records, by_id = [], {t.id: t for t in trials}

    def ended(job: Job, error: str | None) -> tuple[str, str]:
        r, error = record(by_id[job.id], metric, error)
        records.append(r)
        done(r)
        return r["status"], f"{metric} {r['metric']:.4f}" if r["status"] == "done" else f"FAILED: {error}"

    pool([Job(t.id, t.cfg, describe(t)) for t in trials], workers, resume, progress, log, ended)
    return records


def pool(jobs: list[Job], workers: list[str], resume: bool, progress: bool | None, log: Log, ended,
         noun: str = "trial") -> None:
    """Run the jobs in this process one after another (no workers), or one per worker at
    once, each worker on its own GPU. With `resume`, a job whose run folder is finished is
    skipped and one with a checkpoint goes on from it; any other earlier folder starts
    over. A job with `after` waits for that job and fails at once when it failed.
    `ended(job, error)` -> (status, text for the log) is called, under a lock, as each job
    ends: first for the skipped ones (error None), then as the others finish."""
    todo, total, status = [], len(jobs), {}  # status: job id -> "done" | "failed", as ended() says
    ids = [j.id for j in jobs]
    if len(set(ids)) < len(ids) or any(j.after is not None and j.after not in ids for j in jobs):
        raise ValueError(f"job ids must be distinct and `after` one of them: {ids}")
    for j in jobs:
        s = state(Path(j.cfg.output))
        if resume and s == "done":
            log(f"{j.id}: finished earlier, skipped{f' ({j.what})' if j.what else ''}")
            status[j.id] = "skipped"
        else:
            todo.append((j, s))
    for j in jobs:
        if status.get(j.id) == "skipped":
            status[j.id] = ended(j, None)[0]
    times: list[float] = []
    lock, procs = threading.Condition(), {}  # procs: the running subprocesses, stopped on Ctrl-C
    queue = list(todo)

    def take() -> tuple[Job, str] | None:
        """The first queued job whose `after` has ended (under the lock); None: none is ready."""
        for k, (j, _) in enumerate(queue):
            if j.after is None or j.after in status:
                return queue.pop(k)
        return None

    def one(j: Job, s: str, slot: int | None) -> None:
        go_on = resume and s == "checkpoint"
        if not go_on and s != "new":  # an earlier attempt's folder: start it again
            j.cfg = dataclasses.replace(j.cfg, force=True)
        device = None if slot is None else workers[slot]
        shown = device if device else '"" (CPU)'
        where = "" if device is None else f" on worker {slot} (CUDA_VISIBLE_DEVICES={shown})"
        t0, error = time.perf_counter(), None
        if j.after is not None and status.get(j.after) != "done":
            error = f"{j.after} failed, and {j.id} starts from its model"
        else:
            log(f"{noun} {jobs.index(j) + 1}/{total} {j.id}{where}: {j.what}{' (resumed)' if go_on else ''}")
            try:
                if device is None:
                    in_process(j, go_on, progress)
                else:
                    in_subprocess(j, device, go_on, procs, threads_each(workers))
            except NlplabError as e:
                error = str(e)
            except Exception as e:  # a bug or a crash in one job must not lose the others
                error = f"{type(e).__name__}: {e}"
                log(traceback.format_exc().rstrip(), echo=False)
        with lock:
            status[j.id], shown = ended(j, error)
            times.append(time.perf_counter() - t0)
            left = len(todo) - len(times)
            eta = sum(times) / len(times) * left / max(1, len(workers))
            log(f"{j.id} {status[j.id]} in {duration(times[-1])}: {shown}; {len(status)}/{total} finished"
                + (f", ETA {duration(eta)}" if left else ""))
            lock.notify_all()

    if not workers:
        while queue:
            j, s = take()  # `after` comes earlier in the queue (or was skipped): one is always ready
            one(j, s, None)
        return
    stop = threading.Event()

    def worker(slot: int) -> None:
        while not stop.is_set():
            with lock:
                got = take()
                while got is None and queue and not stop.is_set():  # the rest wait for a running job
                    lock.wait(0.5)
                    got = take()
                if got is None:
                    return
            one(*got, slot)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(len(workers))]
    for th in threads:
        th.start()
    try:
        for th in threads:
            while th.is_alive():  # join with a timeout: Ctrl-C reaches this thread
                th.join(0.5)
    except KeyboardInterrupt:
        stop.set()
        for p in list(procs.values()):
            p.terminate()  # their run folders keep the last checkpoint: --resume goes on from it
        raise


def record(t: Trial, metric: str, error: str | None) -> tuple[dict, str | None]:
    """The trial's entry in sweep.json (the metric from its own metrics.json), and its error."""
    run = Path(t.cfg.output)
    value = rate = None
    if error is None:
        try:
            value, rate = result(run, metric)
        except (OSError, KeyError, TypeError, ValueError) as e:
            error = f"{run / 'metrics.json'}: no result ({type(e).__name__}: {e})"
    return {"id": t.id, "params": t.params, "seed": t.seed, "run": f"trials/{t.id}",
            "status": "failed" if error else "done", "metric": value, "train_samples_per_s": rate}, error


def duration(seconds: float) -> str:
    """42s, 3m05s, 2h10m."""
    s = round(seconds)
    return f"{s}s" if s < 60 else f"{s // 60}m{s % 60:02d}s" if s < 3600 else f"{s // 3600}h{s % 3600 // 60:02d}m"


def describe(t: Trial) -> str:
    return " ".join([*(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items()),
                     f"seed={t.seed}"])
