"""A run folder (finetune, lm or pretrain), a sweep folder or a corpus folder, read into a small dataclass.

    python -c "from nlplab.report.runs import load; print(load('runs/sst2').summary())"

What each kind of folder holds is written by nlplab/finetune/train.py, nlplab/lm/train.py,
nlplab/pretrain/train.py (+ nlplab/runlog.py), nlplab/sweep (sweep.json) and nlplab/corpus/build.py (manifest.json):
this module only reads. A run still training (no metrics.json yet) is read from its
metrics.jsonl.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from nlplab import NlplabError
from nlplab.corpus import read as corpus_read
from nlplab.corpus import stats as corpus_stats
from nlplab.glue import metrics
from nlplab.glue.tasks import TASKS
from nlplab.runlog import read_jsonl


def _json(path: Path, fix: str = "the run folder is damaged"):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise NlplabError(f"{path}:{e.lineno}:{e.colno}: not valid JSON ({e.msg}); {fix}") from None
    except UnicodeDecodeError as e:
        raise NlplabError(f"{path}: byte 0x{e.object[e.start]:02x} at byte {e.start} is not UTF-8; {fix}") from None


def percent(metric: str) -> bool:
    """GLUE metrics (fractions) read x100 like the leaderboard; anything else as it is."""
    return metric in metrics.METRICS or metric == "score"


def shown(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.2f}" if percent(metric) else f"{value:.4g}"


@dataclass
class Run:
    path: Path
    kind: str  # finetune | lm | pretrain
    config: dict
    metrics: dict | None  # metrics.json (None while the run is going)
    records: list[dict]  # metrics.jsonl
    environment: dict | None = None
    labels: dict | None = None  # finetune: labels.json
    name: str = ""

    @property
    def task(self) -> str:
        if self.kind in ("lm", "pretrain"):  # the corpus it learns
            return Path(self.config.get("train") or self.config.get("corpus") or "?").name
        return (self.metrics or {}).get("task") or self.config.get("task") or "?"

    @property
    def model(self) -> str:
        c = self.config
        if self.kind == "lm":
            return f"biLM {c.get('encoder')} {c.get('layers')}x{c.get('hidden_dim')}/{c.get('proj_dim')}"
        if self.kind == "pretrain":
            return f"{c.get('objective')} {c.get('size')}" + (f" from {Path(str(c['model'])).name}" if c.get("model") else "")
        model = str(c.get("model"))
        if model == "scratch":
            return f"scratch-{c.get('size')}"
        kind, sep, lm_run = model.partition(":")  # an ELMo task model: bilm:LM_RUN (or its bilstm: control)
        if sep and kind in ("bilm", "bilstm"):
            return f"{kind}:{Path(lm_run).name}"
        return Path(model).name

    @property
    def regression(self) -> bool:
        return bool(self.labels and self.labels.get("regression"))

    @property
    def steps(self) -> int | None:
        if self.metrics and "steps" in self.metrics:
            return self.metrics["steps"]
        return max((r["step"] for r in self.records), default=None)

    @property
    def seconds(self) -> float | None:
        return (self.metrics or {}).get("seconds")

    @property
    def throughput(self) -> tuple[float | None, str]:
        """(value, unit): finetune in train samples/s, lm and pretrain in tokens/s."""
        key = "samples_per_s" if self.kind == "finetune" else "tokens_per_s"
        if self.metrics and self.metrics.get(key) is not None:
            return self.metrics[key], key.replace("_per_s", "/s")
        rates = [r[key] for r in self.records if r.get("split") == "train" and r.get(key)]
        return (statistics.mean(rates) if rates else None), key.replace("_per_s", "/s")

    def best(self) -> tuple[str, float | None]:
        """(label, value) of the run's best: the main dev score, the best valid mean perplexity,
        or a pretraining run's last valid masked-token accuracy (its kept weights are the last)."""
        if self.kind == "pretrain":
            valid = [r for r in self.records if r.get("split") == "valid" and "mlm_accuracy" in r]
            return "valid masked acc", (valid[-1]["mlm_accuracy"] if valid else None)
        if self.kind == "lm":
            best = (self.metrics or {}).get("best")
            ppl = [r["mean_ppl"] for r in self.records if r.get("split") == "valid" and "mean_ppl" in r]
            value = best.get("mean_ppl") if isinstance(best, dict) else min(ppl) if ppl else None
            return "valid ppl", value
        main = (self.metrics or {}).get("main", "dev")
        best = (self.metrics or {}).get("best")
        rows = [r for r in self.records if r.get("split") == main and "score" in r]
        if best:
            return f"{main} score", best["splits"][main]["score"]
        return f"{main} score", max((r["score"] for r in rows), default=None)

    def glue_entries(self) -> dict[str, dict]:
        """The run's best dev scores as GLUE leaderboard entries ({} for a custom task or an lm)."""
        t = TASKS.get(self.task)
        best = (self.metrics or {}).get("best")
        if self.kind != "finetune" or t is None or not best:
            return {}
        return {b.name: {**{m: best["splits"][b.dev][m] for m in t.metrics}, "score": best["splits"][b.dev]["score"],
                         "metrics": list(t.metrics)}
                for b in t.boards if b.dev in best["splits"]}

    def dev_predictions(self) -> tuple[list, list] | None:
        """(gold, predicted) of the main dev split from dev_predictions.tsv: label strings, or
        floats for regression. None when the run has none (an lm, or one still training)."""
        path = self.path / "dev_predictions.tsv"
        if self.kind != "finetune" or not path.is_file():
            return None
        rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()[1:] if line]
        gold, pred = [r[1] for r in rows], [r[2] for r in rows]
        if self.regression:
            return [float(g) for g in gold], [float(p) for p in pred]
        return gold, pred

    def confusion(self) -> tuple[np.ndarray, list[str]] | None:
        """(counts (gold, predicted), class names) on the main dev split of a classification run."""
        got = self.dev_predictions()
        if got is None or self.regression:
            return None
        labels = list(self.labels["labels"]) or sorted(set(got[0]) | set(got[1]))  # a custom task's own labels
        index = {label: k for k, label in enumerate(labels)}
        m = np.zeros((len(labels), len(labels)), dtype=np.int64)
        for g, p in zip(*got):
            m[index[g], index[p]] += 1
        names = self.labels.get("label_names") or labels
        return m, [str(n) for n in names]

    def summary(self) -> dict:
        label, value = self.best()
        best = f"{label} {shown('ppl' if self.kind == 'lm' else 'score', value)}"
        if self.kind == "finetune" and (self.metrics or {}).get("best"):  # the task's own metrics: "dev F1/acc 81.2/70.1"
            main = self.metrics["main"]
            split = self.metrics["best"]["splits"][main]
            ms = [k for k in split if k != "score"]
            best = f"{main} {'/'.join(metrics.SHORT.get(k, k) for k in ms)} {'/'.join(shown(k, split[k]) for k in ms)}"
        rate, unit = self.throughput
        return {"name": self.name, "kind": self.kind, "task": self.task, "model": self.model, "steps": self.steps,
                "best": best,
                "throughput": f"{rate:,.0f} {unit}" if rate is not None else "-",
                "wall": f"{self.seconds:.0f}s" if self.seconds is not None else "-"}


@dataclass
class Sweep:
    path: Path
    data: dict  # sweep.json (schema in nlplab/sweep)
    trials: list[Run] = field(default_factory=list)  # the trials that finished and could be read
    name: str = ""
    kind: str = "sweep"

    def summary(self) -> dict:
        d, best = self.data, self.data.get("best") or {}
        rates = [t["train_samples_per_s"] for t in d["trials"] if t.get("train_samples_per_s") is not None]
        seconds = [r.seconds for r in self.trials if r.seconds is not None]
        done = sum(t.get("status") == "done" for t in d["trials"])
        models = sorted({r.model for r in self.trials})
        return {"name": self.name, "kind": "sweep", "task": d.get("task", "?"), "model": ", ".join(models) or "-",
                "steps": f"{done}/{len(d['trials'])} trials",
                "best": f"{d['metric']} {shown(d['metric'], best.get('mean'))} ± {shown(d['metric'], best.get('std'))}"
                if best else "-",
                "throughput": f"{statistics.mean(rates):,.0f} samples/s" if rates else "-",
                "wall": f"{sum(seconds):.0f}s" if seconds else "-"}


@dataclass
class Corpus:
    path: Path
    manifest: dict  # manifest.json of nlplab corpus build
    name: str = ""
    kind: str = "corpus"

    def summary(self) -> dict:
        m = self.manifest
        tr, va = m["splits"]["train"], m["splits"]["valid"]
        sources = ", ".join(Path(i["source"]).name for i in m["inputs"])
        return {"name": self.name, "kind": "corpus", "task": f"{m.get('config', {}).get('lang')}: {sources}", "model": "-",
                "steps": f"{m['rows_in']:,} rows in", "best": f"train {tr['rows']:,} / valid {va['rows']:,} rows",
                "throughput": f"{m['rows_per_s']:,.0f} rows/s" if m.get("rows_per_s") is not None else "-",
                "wall": f"{m['seconds']:.0f}s" if m.get("seconds") is not None else "-"}


NOT_A_RUN = "give -o folders of nlplab finetune, nlplab lm train, nlplab sweep or nlplab corpus build"


def load_run(path: Path) -> Run:
    cfg_path = path / "config.yaml"
    has_metrics = (path / "metrics.json").is_file() or (path / "metrics.jsonl").is_file()
    if not cfg_path.is_file() or not has_metrics:
        raise NlplabError(f"{path}: not a run folder (no config.yaml with metrics.json or metrics.jsonl, nor a "
                          f"sweep.json or a corpus manifest.json); {NOT_A_RUN}")
    try:
        config = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise NlplabError(f"{cfg_path}{where}: not a readable YAML file; the run folder is damaged") from None
    if not isinstance(config, dict):
        raise NlplabError(f"{cfg_path}: not a mapping of option: value; the run folder is damaged")
    pretrain = config.get("objective") in ("mlm", "electra") and "corpus" in config
    if not (path / "labels.json").is_file() and not (path / "vocab.json").is_file() and not pretrain:
        raise NlplabError(f"{path}: neither labels.json (nlplab finetune) nor vocab.json (nlplab lm train) nor a "
                          "pretraining config.yaml; the run folder is damaged or was not written by nlplab")
    # lm: vocab.json, no labels; pretrain: its config names the objective and the corpus
    kind = "finetune" if (path / "labels.json").is_file() else "pretrain" if pretrain else "lm"
    m = _json(path / "metrics.json") if (path / "metrics.json").is_file() else None
    records = read_jsonl(path / "metrics.jsonl") if (path / "metrics.jsonl").is_file() else []
    if not records and m and kind == "finetune":  # a run from before metrics.jsonl: its evaluations only
        records = [{"split": s, "step": e["step"], "epoch": e["epoch"], **v} for e in m.get("evaluations", [])
                   for s, v in e["splits"].items()]
    env = _json(path / "environment.json") if (path / "environment.json").is_file() else None
    labels = _json(path / "labels.json") if kind == "finetune" else None
    return Run(path, kind, config, m, records, env, labels, name=path.name)


def load_sweep(path: Path) -> Sweep:
    data = _json(path / "sweep.json")
    need = ("trials", "configs", "metric", "params")
    if not isinstance(data, dict) or data.get("kind") != "sweep" or any(k not in data for k in need):
        raise NlplabError(f"{path / 'sweep.json'}: not a sweep record (kind: sweep with {', '.join(need)}); "
                          "write it with nlplab sweep")
    trials = []
    for t in data["trials"]:
        folder = path / t["run"] if t.get("run") else None
        if t.get("status") == "done" and folder is not None and (folder / "config.yaml").is_file():
            trials.append(load_run(folder))
            trials[-1].name = f"{path.name}/{t['id']}"
    return Sweep(path, data, trials, name=path.name)


def load(path: str | Path) -> Run | Sweep | Corpus:
    p = Path(path)
    if not p.is_dir():
        raise NlplabError(f"{p}: no such run folder; {NOT_A_RUN}")
    if (p / "sweep.json").is_file():
        return load_sweep(p)
    if (p / corpus_read.MANIFEST).is_file():
        m = corpus_read.manifest(p)
        if isinstance(m, dict) and "splits" in m:  # a corpus folder (a manifest of another kind: read as a run)
            return Corpus(p, corpus_stats.check(m, p), name=p.name)
    return load_run(p)


def load_all(paths: list) -> list[Run | Sweep | Corpus]:
    """Every folder once (a folder given twice, or by two spellings, is listed at its first
    place), named by its last path part (parent/name where two share a name)."""
    unique = {Path(p).resolve(): p for p in reversed(paths)}  # reversed: the first spelling wins
    got = [load(unique[k]) for k in dict.fromkeys(Path(p).resolve() for p in paths)]
    names = [g.path.name for g in got]
    for g in got:
        if names.count(g.path.name) > 1:
            g.name = f"{g.path.parent.name}/{g.path.name}"
    return got


# ---- the GLUE table: runs' best dev scores next to the baselines

def load_baselines(path: str | Path) -> list[dict]:
    """Scored baselines: benchmarks/results/glue_baselines.json ({"results": {kind: scores}}) or
    the output of `nlplab glue score --json` (one run's scores)."""
    p = Path(path)
    if not p.is_file():
        raise NlplabError(f"{p}: no such baselines file; give benchmarks/results/glue_baselines.json, a file "
                          "from nlplab glue score --json, or --baselines none")
    data = _json(p, "give GLUE scores: benchmarks/results/glue_baselines.json or nlplab glue score --json output")
    results = list(data["results"].values()) if isinstance(data, dict) and "results" in data else [data]
    if not all(isinstance(r, dict) and "entries" in r for r in results):
        raise NlplabError(f"{p}: not GLUE scores (no entries); write it with nlplab glue score --json")
    return results


def glue_results(runs: list[Run], baselines: list[dict]) -> list[dict]:
    """Score dicts as nlplab.glue.report reads them: one per finetune run on a GLUE task, the
    best run per task when there are several runs, then each baseline on the same tasks (so
    that the averages cover the same tasks). Scores are summed up by nlplab.glue.metrics."""
    out = []
    for r in runs:
        entries = r.glue_entries()
        if entries:
            out.append({"run": r.name, "entries": entries, **metrics.summarize(entries)})
    if len(out) > 1:  # what the lab would submit: per task, the run with the best main dev score
        best: dict[str, tuple[float, dict]] = {}
        for r in runs:
            entries = r.glue_entries()
            if entries and (r.task not in best or r.best()[1] > best[r.task][0]):
                best[r.task] = (r.best()[1], entries)
        merged = {k: v for _, entries in best.values() for k, v in entries.items()}
        out.append({"run": "best per task", "entries": merged, **metrics.summarize(merged)})
    boards = {b for res in out for b in res["entries"]}
    for b in baselines:
        entries = {k: v for k, v in b["entries"].items() if k in boards}
        if entries:
            out.append({"run": f"{b.get('run', 'baseline')} (baseline)", "entries": entries,
                        **metrics.summarize(entries)})
    return out
