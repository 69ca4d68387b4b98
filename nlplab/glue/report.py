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
from nlplab.glue.tasks import ENTRIES, SUITES, TASKS, canonical, select, task


def score_dir(pred_dir: str | Path, source, names: list[str] | None = None, suite: str | None = None) -> dict:
    """Score every `<ENTRY>.dev.tsv` in the folder that the source has a task for (only
    those of `names`, any spelling, or of `suite`, when given), and every `<ENTRY>.test.tsv`
    whose test file is labelled (NSMC, KorSTS, KorNLI, IMDB; GLUE's never is) under "test"."""
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise NlplabError(f"{pred_dir}: no such folder of predictions (<ENTRY>.dev.tsv files)")
    # GLUE: any task may have predictions (its gold is loaded on demand); custom: its one task
    if isinstance(source, Glue):
        wanted = {task(n).name for n in names or ()}  # an unknown name fails here, listing the known ones
        tasks = [t for t in TASKS.values() if (not wanted or t.name in wanted) and (suite is None or t.suite == suite)]
    else:
        tasks = select(source.tasks(), names, source)
    entries, tests = {}, {}
    for t in tasks:
        for b in t.boards:
            for kind, split, into in (("dev", b.dev, entries), ("test", b.test, tests)):
                path = pred_path(pred_dir, b.name, kind)
                if split is None or not path.is_file() or (kind == "test" and not _labelled_test(source, t, split)):
                    continue
                into[b.name] = _score(path, t, source.load(t, split), kind)
    if not entries and not tests:
        raise NlplabError(f"{pred_dir}: no <ENTRY>.dev.tsv predictions for the tasks in {source} "
                          f"(e.g. CoLA.dev.tsv, MNLI-m.dev.tsv, NSMC.dev.tsv)")
    out = {"run": pred_dir.name, "path": str(pred_dir), "data": str(source), "entries": entries,
           **metrics.summarize(entries)}
    if tests:
        out["test"] = {"entries": tests, **metrics.summarize(tests)}
    return out


def _labelled_test(source, t, split: str) -> bool:
    """A test split with gold labels here: a custom --test file with its label column, or a
    Korean task's labelled test file (GLUE keeps its test labels private: never loaded)."""
    if not source.has(t, split) or (isinstance(source, Glue) and t.suite == "glue"):
        return False
    return source.load(t, split).labels is not None


def _score(path: Path, t, gold, kind: str) -> dict:
    if gold.labels is None:
        raise NlplabError(f"{gold.source}: has no labels to score {path} against")
    values, problems = validate(path.read_text(encoding="utf-8"), t, str(path), gold.ids, strict=False, what=kind)
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
    return {**values, "score": metrics.entry_score(values, t.metrics, t.main), "n": len(gold),
            "metrics": list(t.metrics)}


def load_run(path: str, source, names: list[str] | None = None, suite: str | None = None) -> dict:
    p = Path(path)
    if p.is_file() and p.suffix == ".json":
        try:
            result = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise NlplabError(f"{p}:{e.lineno}: not valid JSON ({e.msg}); write it with nlplab glue score --json") from None
        if not isinstance(result, dict) or "entries" not in result:
            raise NlplabError(f"{p}: not a score file; write it with nlplab glue score --json")
        if suite is not None:
            names = [n for n in SUITES[suite] if not names or n in {canonical(x) for x in names}]
        if not names:
            return result
        # the entries of the asked tasks (MNLI: both halves), summed up again
        wanted = {canonical(n) for n in names} | set(names)
        keep = lambda es: {k: v for k, v in es.items() if (ENTRIES[k][0].name if k in ENTRIES else k) in wanted}  # noqa: E731
        entries = keep(result["entries"])
        if not entries:
            raise NlplabError(f"{p}: no scores for {', '.join(names)}; it scores {', '.join(result['entries'])}")
        out = {**result, "entries": entries, **metrics.summarize(entries)}
        tests = keep(result.get("test", {}).get("entries", {}))
        out.pop("test", None)
        if tests:
            out["test"] = {"entries": tests, **metrics.summarize(tests)}
        return out
    return score_dir(p, source, names, suite)


TOTALS = ("GLUE score", "Korean score", "average of tasks present", "Korean score, test")


def _entry_rows(results: list[dict], part, suffix: str = "") -> list:
    """One row per entry of `part(result)` (dev entries, or test ones), GLUE's order first."""
    names = [n for n in ENTRIES if any(n in part(r) for r in results)]
    names += [n for r in results for n in part(r) if n not in names]
    rows = []
    for name in names:
        entries = [part(r).get(name) for r in results]
        sample = next(e for e in entries if e is not None)
        label = f"{name}{suffix} ({'/'.join(metrics.SHORT[m] for m in sample['metrics'])})"
        cells = ["/".join(f"{100 * e[m]:.1f}" for m in e["metrics"]) if e else "-" for e in entries]
        rows.append((label, cells, [e["score"] if e else None for e in entries]))
    return rows


def _korean_row(label: str, scored: list[dict]) -> tuple:
    ko = [s.get("korean") for s in scored]
    return (label, [f"{100 * k:.1f} ({len(s['korean_tasks'])} task{'s' * (len(s['korean_tasks']) != 1)})" if k is not None else "-"
                    for k, s in zip(ko, scored)], ko)


def _rows(results: list[dict]) -> tuple[list[str], list[tuple[str, list[str], list[float | None]]]]:
    """Header and rows of the leaderboard: one row per entry, then the scores (GLUE's when a
    GLUE task is there, the Korean score when a Korean one is), then the labelled test
    entries of Korean tasks. Each row is (label, cells, numbers to rank the runs by)."""
    head = ["task (metric)"] + [r["run"] for r in results]
    rows = _entry_rows(results, lambda r: r["entries"])
    present = {ENTRIES[n][0].suite if n in ENTRIES else "custom" for r in results for n in r["entries"]}
    if present - {"ko", "en"}:
        glue = [r.get("glue") for r in results]
        rows.append(("GLUE score", [f"{100 * g:.1f}" if g is not None else "-" for g in glue], glue))
    if "ko" in present:
        rows.append(_korean_row("Korean score", results))
    mixed = [r for r in results if r.get("average") is not None and r.get("glue") is None
             and set(r["averaged_tasks"]) != set(r.get("korean_tasks", ()))]
    if mixed:
        avg = [r.get("average") for r in results]
        rows.append(("average of tasks present", [
            f"{100 * a:.1f} ({len(r['averaged_tasks'])} tasks)" if a is not None else "-"
            for a, r in zip(avg, results)], avg))
    tests = [r.get("test") or {"entries": {}} for r in results]
    if any(t["entries"] for t in tests):
        rows += _entry_rows(tests, lambda r: r["entries"], " test")
        if any(t.get("korean") is not None for t in tests):
            rows.append(_korean_row("Korean score, test", tests))
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
        total = ' class="total"' if label in TOTALS else ""
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
mean of -m and -mm). AX is never in it. Korean score: the mean of the Korean tasks' main metrics
(NSMC acc, KorSTS Spearman, KorNLI and KLUE-NLI acc, KLUE-STS Pearson, KorHate macro-F1).</p>
<ul>{runs}</ul>
</body></html>
"""
