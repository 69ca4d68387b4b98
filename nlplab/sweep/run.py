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
Test hook: NLPLAB_TEST_SWEEP_CPU=1 gives every worker CUDA_VISIBLE_DEVICES="" (CPU), so
the same pool runs in tests on a machine without GPUs.
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
from pathlib import Path

from nlplab import NlplabError, config
from nlplab.sweep.spec import Trial

TEST_CPU = "NLPLAB_TEST_SWEEP_CPU"


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


def devices(gpus: str) -> list[str]:
    """CUDA_VISIBLE_DEVICES value for each worker; [] runs the trials in this process."""
    if gpus.strip() in ("0", ""):
        return []
    if gpus != "auto" and not (gpus.isdigit() and int(gpus) > 0):
        raise NlplabError(f"--gpus {gpus}: give a number of GPUs, auto (every visible GPU) or 0 (in this process)")
    if os.environ.get(TEST_CPU) and gpus != "auto":
        return [""] * int(gpus)  # the test hook: the same pool, every worker on CPU
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
        run(trial.cfg, progress=progress, resume=resume)
    finally:  # the finished trial's model and optimizer are garbage now: free them before the next
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def in_subprocess(trial: Trial, device: str, resume: bool, procs: dict) -> None:
    """`python -m nlplab finetune` on one GPU; NlplabError with its last error line if it fails."""
    run = Path(trial.cfg.output)
    cfg_file, out_file = run.with_suffix(".yaml"), run.with_suffix(".out")
    config.save(trial.cfg, cfg_file)
    cmd = [sys.executable, "-m", "nlplab", "finetune", "--config", str(cfg_file), "-o", str(run), "--no-progress"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": device}
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


def execute(trials: list[Trial], workers: list[str], resume: bool, progress: bool | None, metric: str,
            log: Log, done) -> list[dict]:
    """Run the trials; `done(record)` is called as each one ends. Returns every trial's
    record (sweep.json's "trials")."""
    records, todo, total = [], [], len(trials)
    for t in trials:
        s = state(Path(t.cfg.output))
        if resume and s == "done":
            records.append(record(t, metric, None)[0])
            log(f"{t.id}: finished earlier, skipped ({describe(t)})")
        else:
            todo.append((t, s))
    for r in records:
        done(r)
    times: list[float] = []
    lock, procs = threading.Lock(), {}  # procs: the running subprocesses, stopped on Ctrl-C

    def one(t: Trial, s: str, slot: int | None) -> None:
        go_on = resume and s == "checkpoint"
        if not go_on and s != "new":  # an earlier attempt's folder: start it again
            t.cfg = dataclasses.replace(t.cfg, force=True)
        device = None if slot is None else workers[slot]
        shown = device if device else '"" (CPU)'
        where = "" if device is None else f" on worker {slot} (CUDA_VISIBLE_DEVICES={shown})"
        log(f"trial {trials.index(t) + 1}/{total} {t.id}{where}: {describe(t)}{' (resumed)' if go_on else ''}")
        t0, error = time.perf_counter(), None
        try:
            if device is None:
                in_process(t, go_on, progress)
            else:
                in_subprocess(t, device, go_on, procs)
        except NlplabError as e:
            error = str(e)
        except Exception as e:  # a bug or a crash in one trial must not lose the others
            error = f"{type(e).__name__}: {e}"
            log(traceback.format_exc().rstrip(), echo=False)
        r, error = record(t, metric, error)
        with lock:
            times.append(time.perf_counter() - t0)
            records.append(r)
            left = len(todo) - len(times)
            eta = sum(times) / len(times) * left / max(1, len(workers))
            shown = f"{metric} {r['metric']:.4f}" if r["status"] == "done" else f"FAILED: {error}"
            log(f"{t.id} {r['status']} in {duration(times[-1])}: {shown}; {len(records)}/{total} finished"
                + (f", ETA {duration(eta)}" if left else ""))
            done(r)

    if not workers:
        for t, s in todo:
            one(t, s, None)
        return records
    queue, stop = list(todo), threading.Event()

    def worker(slot: int) -> None:
        while not stop.is_set():
            with lock:
                if not queue:
                    return
                t, s = queue.pop(0)
            one(t, s, slot)

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
    return records


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
