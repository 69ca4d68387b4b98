"""Scoring dev predictions and the leaderboard table of several runs (text and HTML).

    nlplab glue score runs/tfidf --data-dir glue_data [--json] [--tasks sst2,cola]
    nlplab glue report runs/majority runs/tfidf runs/bert --data-dir glue_data --html report.html

A run is a folder of `<ENTRY>.dev.tsv` predictions (see nlplab.glue.submission), scored
against the gold dev labels, or a JSON file written by `nlplab glue score --json`.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from nlplab import NlplabError
from nlplab.glue import metrics
from nlplab.glue.data import Glue
from nlplab.glue.submission import pred_path, validate
from nlplab.glue.tasks import BOARDS, TASKS, canonical, select, task


def score_dir(pred_dir: str | Path, source, names: list[str] | None = None) -> dict:
    """Score every `<ENTRY>.dev.tsv` in the folder that the source has a task for (only
    those of `names`, any spelling, when given)."""
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise NlplabError(f"{pred_dir}: no such folder of predictions (<ENTRY>.dev.tsv files)")
    # GLUE: any task may have predictions (its gold is loaded on demand); custom: its one task
    if isinstance(source, Glue):
        wanted = {task(n).name for n in names or ()}  # an unknown name fails here, listing the known ones
        tasks = [t for t in TASKS.values() if not wanted or t.name in wanted]
    else:
        tasks = select(source.tasks(), names, source)
    entries = {}
    for t in tasks:
        for b in t.boards:
            path = pred_path(pred_dir, b.name, "dev")
            if b.dev is None or not path.is_file():
                continue
            gold = source.load(t, b.dev)
            if gold.labels is None:
                raise NlplabError(f"{gold.source}: has no labels to score {path} against")
            values, problems = validate(path.read_text(encoding="utf-8"), t, str(path), gold.ids,
                                        strict=False, what="dev")
            if problems:
                more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
                raise NlplabError(problems[0] + more)
            pred = [values[i] for i in gold.ids]
            if t.regression:
                y_true, y_pred = np.asarray(gold.labels, float), np.asarray(pred, float)
            else:
                index = {label: k for k, label in enumerate(t.labels)}
                y_true = np.array([index[v] for v in gold.labels])
                y_pred = np.array([index[v] for v in pred])
            values = metrics.compute(t.metrics, y_true, y_pred)
            entries[b.name] = {**values, "score": metrics.entry_score(values, t.metrics), "n": len(gold),
                               "metrics": list(t.metrics)}
    if not entries:
        raise NlplabError(f"{pred_dir}: no <ENTRY>.dev.tsv predictions for the tasks in {source} "
                          f"(e.g. CoLA.dev.tsv, MNLI-m.dev.tsv)")
    return {"run": pred_dir.name, "path": str(pred_dir), "data": str(source), "entries": entries,
            **metrics.summarize(entries)}


def load_run(path: str, source, names: list[str] | None = None) -> dict:
    p = Path(path)
    if p.is_file() and p.suffix == ".json":
        try:
            result = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise NlplabError(f"{p}:{e.lineno}: not valid JSON ({e.msg}); write it with nlplab glue score --json") from None
        if not isinstance(result, dict) or "entries" not in result:
            raise NlplabError(f"{p}: not a score file; write it with nlplab glue score --json")
        if not names:
            return result
        # the entries of the asked tasks (MNLI: both halves), summed up again
        wanted = {canonical(n) for n in names} | set(names)
        entries = {k: v for k, v in result["entries"].items() if (BOARDS[k][0].name if k in BOARDS else k) in wanted}
        if not entries:
            raise NlplabError(f"{p}: no scores for {', '.join(names)}; it scores {', '.join(result['entries'])}")
        return {**result, "entries": entries, **metrics.summarize(entries)}
    return score_dir(p, source, names)


def _rows(results: list[dict]) -> tuple[list[str], list[tuple[str, list[str], list[float | None]]]]:
    """Header and rows of the leaderboard: one row per entry, then the scores. Each row is
    (label, cells, numbers to rank the runs by)."""
    names = [n for n in BOARDS if any(n in r["entries"] for r in results)]
    names += [n for r in results for n in r["entries"] if n not in names]
    head = ["task (metric)"] + [r["run"] for r in results]
    rows = []
    for name in names:
        entries = [r["entries"].get(name) for r in results]
        sample = next(e for e in entries if e is not None)
        label = f"{name} ({'/'.join(metrics.SHORT[m] for m in sample['metrics'])})"
        cells = ["/".join(f"{100 * e[m]:.1f}" for m in e["metrics"]) if e else "-" for e in entries]
        rows.append((label, cells, [e["score"] if e else None for e in entries]))
    glue = [r.get("glue") for r in results]
    rows.append(("GLUE score", [f"{100 * g:.1f}" if g is not None else "-" for g in glue], glue))
    if any(r.get("glue") is None and r.get("average") is not None for r in results):
        avg = [r.get("average") for r in results]
        rows.append(("average of tasks present", [
            f"{100 * a:.1f} ({len(r['averaged_tasks'])} tasks)" if a is not None else "-"
            for a, r in zip(avg, results)], avg))
    return head, rows


def table(results: list[dict]) -> str:
    """A markdown table: entries x runs, metrics x100 like the leaderboard."""
    head, rows = _rows(results)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join([label, *cells]) + " |" for label, cells, _ in rows]
    return "\n".join(lines)


def to_html(results: list[dict], title: str = "GLUE dev scores") -> str:
    """A standalone page (inline CSS, no scripts) with the same table; the best run per row is bold."""
    head, rows = _rows(results)

    body = []
    for label, cells, scores in rows:
        top = max((x for x in scores if x is not None), default=None)
        bold = [len(results) > 1 and x is not None and x == top for x in scores]
        tds = "".join(f"<td>{'<b>' if b else ''}{html.escape(c)}{'</b>' if b else ''}</td>" for c, b in zip(cells, bold))
        total = ' class="total"' if label in ("GLUE score", "average of tasks present") else ""
        body.append(f"<tr{total}><th>{html.escape(label)}</th>{tds}</tr>")
    runs = "".join(f"<li>{html.escape(r['run'])}: {html.escape(r.get('path', ''))} "
                   f"(data: {html.escape(r.get('data', ''))})</li>" for r in results)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: .3em .8em; text-align: right; }}
th:first-child {{ text-align: left; }} thead th {{ background: #f3f3f3; }}
tr.total th, tr.total td {{ border-top: 2px solid #888; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<table><thead><tr>{''.join(f'<th>{html.escape(h)}</th>' for h in head)}</tr></thead>
<tbody>
{chr(10).join(body)}
</tbody></table>
<p>Metrics x100, as on the GLUE leaderboard; two metrics read as F1/acc or Pearson/Spearman.
GLUE score: the mean of the 9 task scores (a task score is the mean of its metrics; MNLI is the
mean of -m and -mm). AX is never in it.</p>
<ul>{runs}</ul>
</body></html>
"""
