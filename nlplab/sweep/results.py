"""A sweep's results: trials aggregated per configuration over seeds, sweep.json, sweep.tsv
and the printed table.

sweep.json (read by `nlplab report`):
    {"kind": "sweep", "name", "task", "metric", "greater_is_better", "params": [swept fields],
     "trials": [{"id", "params", "seed", "run", "status": "done"|"failed", "metric", "train_samples_per_s"}],
     "configs": [{"params", "seeds", "n", "mean", "std", "best"}],   # best first
     "best": {"params", "mean", "std"}}                               # null while no trial is done
A configuration none of whose trials is done has no mean and is left out of "configs".
"""

from __future__ import annotations

import json
import statistics


def aggregate(trials: list[dict], greater_is_better: bool = True) -> list[dict]:
    """One entry per distinct `params`, over the seeds of its done trials: mean and sample
    std (ddof=1; 0.0 for one seed), sorted best first (ties keep the run order)."""
    groups: dict[str, dict] = {}
    for t in trials:
        g = groups.setdefault(json.dumps(t["params"], sort_keys=True), {"params": t["params"], "seeds": [], "values": []})
        if t["status"] == "done" and t["metric"] is not None:
            g["seeds"].append(t["seed"])
            g["values"].append(t["metric"])
    configs = [{"params": g["params"], "seeds": g["seeds"], "n": len(v), "mean": statistics.fmean(v),
                "std": statistics.stdev(v) if len(v) > 1 else 0.0, "best": False}
               for g in groups.values() if (v := g["values"])]
    configs.sort(key=lambda c: -c["mean"] if greater_is_better else c["mean"])
    if configs:
        configs[0]["best"] = True
    return configs


def summary(name: str, task: str, metric: str, greater_is_better: bool, params: list[str], trials: list[dict]) -> dict:
    """sweep.json's object from the trial records (in id order)."""
    configs = aggregate(trials, greater_is_better)
    best = {k: configs[0][k] for k in ("params", "mean", "std")} if configs else None
    return {"kind": "sweep", "name": name, "task": task, "metric": metric, "greater_is_better": greater_is_better,
            "params": params, "trials": sorted(trials, key=lambda t: t["id"]), "configs": configs, "best": best}


def _value(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def tsv(s: dict) -> str:
    """One row per configuration, best first: raw metric values (fractions, as metrics.json)."""
    head = ["best", *s["params"], "n", "seeds", f"{s['metric']}_mean", f"{s['metric']}_std"]
    rows = [["*" if c["best"] else "", *(_value(c["params"][p]) for p in s["params"]), str(c["n"]),
             ",".join(map(str, c["seeds"])), repr(c["mean"]), repr(c["std"])] for c in s["configs"]]
    return "".join("\t".join(r) + "\n" for r in [head, *rows])


def table(s: dict) -> str:
    """The configurations as aligned text, mean ± std x100 as GLUE tables show them, the
    best marked `*`; then the failed trials, if any."""
    direction = "higher" if s["greater_is_better"] else "lower"
    head = ["", *s["params"], "n", f"{s['metric']} x100 ({direction} is better)"]
    rows = [["*" if c["best"] else "", *(_value(c["params"][p]) for p in s["params"]), str(c["n"]),
             f"{100 * c['mean']:.2f} ± {100 * c['std']:.2f}"] for c in s["configs"]]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [head, *rows]]
    failed = [t["id"] for t in s["trials"] if t["status"] == "failed"]
    if failed:
        lines.append(f"failed: {', '.join(failed)} (see sweep.log)")
    return "\n".join(lines)
