"""Run records shared by `nlplab finetune` and `nlplab lm train`: what ran where, and
what it measured, in plain files beside the weights (read by `nlplab report`).

    nlplab finetune --task SST-2 ... -o RUN --tracking mlflow      # also an MLflow run in RUN/mlruns
    mlflow ui --backend-store-uri RUN/mlruns                       # look at it (pip install mlflow)

RUN/environment.json  package versions, git commit (+ dirty), device, world size, host, start
                      time; a --resume appends its own record under "resumes".
RUN/metrics.jsonl     one JSON object per line: {"split": "train", "step", "epoch", "loss", "lr",
                      "samples_per_s" | "tokens_per_s", ...} every few steps and one line per
                      evaluated split ({"split": "dev" | "valid", "step", "epoch", <metrics>}).
                      --resume first drops the lines past the checkpoint's step (they are replayed).
MLflow (--tracking mlflow, optional: pip install nlplab[tracking]): the config as params, every
metrics.jsonl line as "<split>/<key>" metrics at its step, and the numbers of metrics.json at the
end under their path there ("best.splits.dev.accuracy"). RUN/tracking.json keeps the MLflow run id
so a --resume continues the same MLflow run. Only rank 0 writes any of these.
"""

from __future__ import annotations

import atexit
import dataclasses
import datetime
import json
import math
import os
import platform
import shlex
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import nlplab
from nlplab import NlplabError
from nlplab.config import opt, write_atomic

if TYPE_CHECKING:
    import torch

PACKAGES = ("transformers", "tokenizers", "datasets", "sentencepiece")
TRACKING = ("none", "mlflow")  # the choices of --tracking (FinetuneConfig, LMConfig: resume-free fields)


def tracking_options():
    """The `tracking` and `tracking_uri` fields of every training config (one definition)."""
    return (opt("none", "also log params and metrics to MLflow (pip install nlplab[tracking])", choices=list(TRACKING)),
            opt(None, "--tracking mlflow: tracking URI or folder (default: RUN/mlruns, a local file store)"))


# ---- environment.json

def _version(name: str) -> str | None:
    try:  # the installed metadata: no import of the package (datasets alone takes seconds)
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_state(folder: Path | None = None) -> dict | None:
    """{"commit", "dirty"} of the nlplab checkout; None for an installed package (not the
    top of a git work tree: site-packages inside some other repository does not count)."""
    root = folder or Path(nlplab.__file__).resolve().parent.parent
    try:
        def git(*args):
            return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10,
                                  check=True).stdout.strip()
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root:
            return None
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_name() -> str:
    try:  # platform.processor() is just "x86_64" on Linux; /proc/cpuinfo names the model
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def command(argv: list[str]) -> str:
    """The command line as typed: `python -m nlplab` and torchrun put nlplab/__main__.py in argv[0]."""
    prog = Path(argv[0]) if argv else Path("?")
    ours = prog.name == "nlplab" or (prog.name == "__main__.py" and prog.parent.name == "nlplab")
    return shlex.join(["nlplab" if ours else str(prog), *argv[1:]])


def environment(device: torch.device, world: int) -> dict:
    import torch  # here, not at the top: `nlplab report` reads metrics.jsonl without torch

    cuda = device.type == "cuda"
    return {
        "start_time": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "hostname": socket.gethostname(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     **{p: _version(p) for p in PACKAGES}, "nlplab": nlplab.__version__},
        "git": git_state(),
        "device": {"type": device.type, "name": torch.cuda.get_device_name(device) if cuda else cpu_name(),
                   "cuda": torch.version.cuda if cuda else None},
        "world_size": world,
        "torch_threads": torch.get_num_threads(),  # CPU throughput depends on it
        "platform": platform.platform(),
        "command": command(sys.argv),
    }


def write_environment(out: Path, device: torch.device, world: int, resumed: bool) -> dict:
    """RUN/environment.json; a resumed run may be on another machine, so it adds its own record."""
    env = environment(device, world)
    path = Path(out) / "environment.json"
    if resumed and path.is_file():
        first = json.loads(path.read_text(encoding="utf-8"))
        first.setdefault("resumes", []).append(env)
        env = first
    write_atomic(path, json.dumps(env, indent=1) + "\n")
    return env


# ---- metrics.jsonl

def read_jsonl(path: Path) -> list[dict]:
    """The records of a metrics.jsonl; a line cut short by a crash mid-write is skipped."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


class MetricsLog:
    """Appends records to RUN/metrics.jsonl (and to the tracker, and their numbers to a
    TensorBoard writer as "<split>/<key>"). Fresh run: an empty file; --resume: the lines up
    to the checkpoint's step, since the steps after it run again."""

    def __init__(self, out: Path, enabled: bool, resume_step: int | None = None, tracker=None, tb=None):
        self.path, self.enabled, self.tracker, self.tb = Path(out) / "metrics.jsonl", enabled, tracker, tb
        if not enabled:
            return
        if resume_step is None or not self.path.is_file():
            write_atomic(self.path, "")
        else:
            kept = [r for r in read_jsonl(self.path) if r["step"] <= resume_step]
            write_atomic(self.path, "".join(json.dumps(r) + "\n" for r in kept))

    def write(self, rec: dict) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as f:  # one line per write: a crash loses at most that line
            f.write(json.dumps(rec) + "\n")
        if self.tracker is not None:
            self.tracker.log(rec)
        if self.tb is not None:
            for k, v in rec.items():
                if k not in ("step", "epoch") and isinstance(v, (int, float)) and not isinstance(v, bool):
                    self.tb.add_scalar(f"{rec['split']}/{k}", v, rec["step"])

    def close(self, summary: dict | None = None) -> None:
        """The run's end: the tracker gets the summary (a finished run), TensorBoard is closed."""
        if self.tracker is not None and summary is not None:
            self.tracker.finish(summary)
        if self.tb is not None:
            self.tb.close()


# ---- optional MLflow tracking

def check_tracking(kind: str) -> None:
    """Fails before training when --tracking mlflow cannot work (every rank calls it)."""
    if kind not in TRACKING:
        raise NlplabError(f"--tracking {kind}: choose one of {', '.join(TRACKING)}")
    if kind == "mlflow":
        try:
            import mlflow  # noqa: F401
        except ImportError:
            raise NlplabError("--tracking mlflow needs the mlflow package: pip install nlplab[tracking]") from None


def flatten(obj, prefix: str = "") -> dict[str, float]:
    """Numbers of a nested dict as {"a.b.c": value}; lists, strings, bools and NaN are left out."""
    out = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out[key] = float(v)
    return out


def tracking_uri(out: Path, uri: str | None) -> str:
    """The MLflow store: a URI as given, a path as a file: URI (default RUN/mlruns)."""
    if uri and ("://" in uri or uri.startswith(("file:", "sqlite:", "databricks"))):
        return uri
    return Path(uri or Path(out) / "mlruns").resolve().as_uri()


class MlflowTracker:
    """One MLflow run through MlflowClient (not the fluent API: no process-global active run
    left behind when training raises inside a test or a notebook)."""

    def __init__(self, out: Path, kind: str, cfg, uri: str | None, resumed: bool):
        uri = tracking_uri(out, uri)
        if uri.startswith("file:"):  # MLflow 3 refuses file stores unless asked; a run folder wants no database
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow.entities import Param, RunTag
        from mlflow.tracking import MlflowClient

        self.client, self.record = MlflowClient(uri), Path(out) / "tracking.json"
        atexit.register(self._stopped)  # a run that raised or was interrupted is not left RUNNING
        saved = json.loads(self.record.read_text(encoding="utf-8")) if resumed and self.record.is_file() else {}
        self.run_id = saved.get("run_id") if saved.get("uri") == uri else None
        if self.run_id is not None:  # --resume: the same MLflow run goes on
            self.client.update_run(self.run_id, status="RUNNING")
            return
        name = f"nlplab-{kind}"
        exp = self.client.get_experiment_by_name(name)
        exp_id = exp.experiment_id if exp else self.client.create_experiment(name)
        self.run_id = self.client.create_run(exp_id, run_name=Path(out).resolve().name,
                                             tags={"nlplab.kind": kind, "nlplab.run": str(Path(out).resolve())}).info.run_id
        params = [Param(k, str(v)) for k, v in dataclasses.asdict(cfg).items()]
        env = Path(out) / "environment.json"
        git = json.loads(env.read_text(encoding="utf-8")).get("git") if env.is_file() else None
        tags = [RunTag("mlflow.source.git.commit", git["commit"])] if git else []
        self.client.log_batch(self.run_id, params=params, tags=tags)
        write_atomic(self.record, json.dumps({"tracking": "mlflow", "uri": uri, "run_id": self.run_id}, indent=1) + "\n")

    def _stopped(self) -> None:
        """At exit: KILLED if the run never got to finish() (--resume sets it RUNNING again)."""
        try:
            if self.client.get_run(self.run_id).info.status == "RUNNING":
                self.client.set_terminated(self.run_id, "KILLED")
        except Exception:  # the store may be gone (a temporary folder): nothing to mark
            pass

    def log(self, rec: dict) -> None:
        from mlflow.entities import Metric

        now = int(datetime.datetime.now().timestamp() * 1000)
        values = flatten({k: v for k, v in rec.items() if k not in ("split", "step")})
        self.client.log_batch(self.run_id, metrics=[Metric(f"{rec['split']}/{k}", v, now, rec["step"])
                                                    for k, v in values.items()])

    def finish(self, summary: dict) -> None:
        from mlflow.entities import Metric

        now = int(datetime.datetime.now().timestamp() * 1000)
        step = int(summary.get("steps") or 0)
        metrics = [Metric(k, v, now, step) for k, v in flatten(summary).items()]
        for i in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics per batch
            self.client.log_batch(self.run_id, metrics=metrics[i:i + 1000])
        self.client.set_terminated(self.run_id, "FINISHED")


def tracker(out: Path, kind: str, cfg, enabled: bool, resumed: bool):
    """The run's tracker, or None (--tracking none, or not rank 0)."""
    if not enabled or cfg.tracking == "none":
        return None
    return MlflowTracker(out, kind, cfg, cfg.tracking_uri, resumed)
