"""The report as one static HTML page: inline CSS, PNG data URIs, no script, no URL.

Tables carry ids and classes a reader (or a test) can find: #summary, #glue (rows from
nlplab.glue.report, the `nlplab glue report` table), table.sweep with tr.best on the best
configuration, table.confusion beside each confusion-matrix image; per corpus folder
table.corpus-inputs, -stages, -excludes, -examples and -splits (data-corpus: its name).
"""

from __future__ import annotations

import datetime
from html import escape

import numpy as np

from nlplab.corpus import stats
from nlplab.glue import report as glue_report
from nlplab.report import plots
from nlplab.report.runs import Corpus, Run, Sweep, shown

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border: 1px solid #ccc; padding: .25em .7em; text-align: right; }
th:first-child { text-align: left; } thead th { background: #f3f3f3; }
#summary td:nth-child(-n+4), #summary td:nth-child(6) { text-align: left; }
tr.total th, tr.total td { border-top: 2px solid #888; }
tr.best td, tr.best th { background: #fff3c4; font-weight: bold; }
img { max-width: 100%; display: block; margin: .3em 0; }
.figs { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
.note { color: #555; font-size: .9em; } code { background: #f4f4f4; padding: 0 .2em; }
section.run, section.corpus { border-top: 1px solid #ddd; margin-top: 1.5em; }
table.corpus-stages td:last-child, table.corpus-examples td, table.corpus-inputs td:last-child { text-align: left; }
"""
COLUMNS = (("name", "run"), ("kind", "kind"), ("task", "task / corpus"), ("model", "model"), ("steps", "steps"),
           ("best", "best dev metric / valid ppl"), ("throughput", "train throughput"), ("wall", "wall time"))


def table(head: list[str], rows: list[list[str]], attrs: str = "", row_classes: list[str] | None = None) -> str:
    """A table of already-escaped cells; the first column is a row header."""
    classes = row_classes or [""] * len(rows)
    body = []
    for r, c in zip(rows, classes):
        tds = "".join(f"<td>{x}</td>" for x in r[1:])
        body.append(f'<tr class="{c}"><th>{r[0]}</th>{tds}</tr>' if c else f"<tr><th>{r[0]}</th>{tds}</tr>")
    body = "\n".join(body)
    return (f"<table{attrs}><thead><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr></thead>\n"
            f"<tbody>\n{body}\n</tbody></table>")


def summary(items: list[Run | Sweep | Corpus]) -> str:
    rows = [[escape(str(s[k] if s[k] is not None else "-")) for k, _ in COLUMNS] for s in (i.summary() for i in items)]
    return table([h for _, h in COLUMNS], rows, ' id="summary"')


def glue(results: list[dict], subsets: list[str]) -> str:
    """The leaderboard table of nlplab.glue.report (tasks x runs, GLUE score), scores as data-score."""
    head, rows = glue_report._rows(results)
    body = []
    for label, cells, scores in rows:
        total = ' class="total"' if label in glue_report.TOTALS else ""
        tds = "".join(f'<td data-score="{x if x is not None else ""}">{escape(c)}</td>' for c, x in zip(cells, scores))
        body.append(f"<tr{total}><th>{escape(label)}</th>{tds}</tr>")
    note = ("Dev scores x100 (two metrics read F1/acc or Pearson/Spearman), as in <code>nlplab glue report</code>. "
            "GLUE score: the mean of the 9 task scores, shown once all 9 are there; until then the average of the "
            "tasks present. Korean score: the mean of the Korean tasks' main metrics. Baselines are restricted to the runs' tasks and scored on the full dev sets.")
    if subsets:
        note += f" Scored on a dev subset (--max-eval-samples): {escape(', '.join(subsets))}."
    return (f'<table id="glue"><thead><tr>{"".join(f"<th>{escape(h)}</th>" for h in head)}</tr></thead>\n'
            f'<tbody>\n{chr(10).join(body)}\n</tbody></table><p class="note">{note}</p>')


def sweep(s: Sweep) -> str:
    d = s.data
    labels = [", ".join(f"{k}={c['params'].get(k)}" for k in d["params"]) for c in d["configs"]]
    failed = [sum(t.get("status") == "failed" and t.get("params") == c["params"] for t in d["trials"])
              for c in d["configs"]]
    head = ["#", *map(escape, d["params"]), "seeds", f"{escape(d['metric'])} mean ± std", "failed trials"]
    rows = [[str(i), *(escape(str(c["params"].get(k))) for k in d["params"]), str(c.get("n", len(c.get("seeds", [])))),
             f"{shown(d['metric'], c['mean'])} ± {shown(d['metric'], c.get('std'))}", str(f)]
            for i, (c, f) in enumerate(zip(d["configs"], failed))]
    classes = ["best" if c.get("best") else "" for c in d["configs"]]
    done = [c for c in d["configs"] if c.get("mean") is not None]
    img = plots.sweep(done, [lab for lab, c in zip(labels, d["configs"]) if c.get("mean") is not None], d["metric"]) \
        if done else ""
    order = "higher" if d.get("greater_is_better", True) else "lower"
    title = ", ".join(str(x) for x in dict.fromkeys((s.name, d.get("name"), d.get("task"))) if x)
    return (f'<section class="sweep"><h3>{escape(title)}</h3>'
            f'<p class="note">{len(d["trials"])} trials over {escape(", ".join(d["params"]))}; {order} '
            f"{escape(d['metric'])} is better; the best configuration is highlighted.</p>"
            + table(head, rows, f' class="sweep" id="sweep-{escape(s.name)}"', classes)
            + (f'<img alt="sweep {escape(s.name)}" src="{img}">' if img else "") + "</section>")


def environment(env: dict | None) -> str:
    if not env:
        return '<p class="note">no environment.json (a run from before run records)</p>'
    v, dev, git = env.get("versions", {}), env.get("device", {}), env.get("git")
    commit = f"git {git['commit'][:10]}{' (dirty)' if git.get('dirty') else ''}" if git else "no git checkout"
    parts = [f"{dev.get('type')}: {dev.get('name')}", f"world size {env.get('world_size')}",
             f"torch {v.get('torch')}", f"transformers {v.get('transformers')}", f"nlplab {v.get('nlplab')}", commit,
             f"host {env.get('hostname')}", f"started {env.get('start_time')}"]
    if env.get("resumes"):
        parts.append(f"resumed {len(env['resumes'])}x")
    return f'<p class="note">{escape(" · ".join(parts))}</p>'


def run_section(r: Run) -> str:
    figs = [f'<img alt="learning curves {escape(r.name)}" src="{plots.curves(r)}">']
    extra = []
    cm = r.confusion()
    if cm is not None:
        m, names = cm
        title = f"{r.task} {(r.metrics or {}).get('main', 'dev')}: {int(m.sum())} examples"
        extra.append(f'<div><img alt="confusion matrix {escape(r.name)}" src="{plots.confusion(m, names, title)}">'
                     + table(["gold \\ predicted", *map(escape, names)],
                             [[escape(n), *(str(int(x)) for x in row)] for n, row in zip(names, m)],
                             f' class="confusion" data-run="{escape(r.name)}"') + "</div>")
    elif r.regression and r.dev_predictions():
        gold, pred = r.dev_predictions()
        extra.append(f'<img alt="predictions {escape(r.name)}" src="{plots.scatter(gold, pred, f"{r.task} dev")}">')
    return (f'<section class="run"><h3>{escape(r.name)} <small>({escape(r.kind)}, {escape(str(r.path))})</small></h3>'
            + environment(r.environment) + "".join(figs)
            + (f'<div class="figs">{"".join(extra)}</div>' if extra else "") + "</section>")


EXAMPLES = 3  # per drop reason on the page; the manifest keeps --examples of them (5)


def _example(e: dict) -> list[str]:
    """where, text, and what it matched: the row kept in its place (dedup) or the evaluation text."""
    def text(t):
        return escape(t) if t else '<span class="note">(empty)</span>'
    if "kept_text" in e:
        matched = f"kept {escape(e['kept_where'])}: {text(e['kept_text'])}"
    else:
        matched = f"eval: {text(e['eval_text'])}" if "eval_text" in e else ""
    return [escape(e["where"]), text(e["text"]), matched]


def corpus(c: Corpus) -> str:
    """The `nlplab corpus stats` tables of one corpus folder, a few examples per drop reason,
    and the length histograms."""
    m, name = c.manifest, escape(c.name)

    def grid(kind, head, rows):
        return table([escape(h) for h in head], [[escape(x) for x in r] for r in rows],
                     f' class="corpus-{kind}" data-corpus="{name}"')
    examples = [[escape(s["stage"]), escape(reason), *_example(e)]
                for s in m["stages"] for reason, found in s.get("examples", {}).items() for e in found[:EXAMPLES]]
    return (f'<section class="corpus"><h3>{name} <small>(corpus, {escape(str(c.path))})</small></h3>'
            f'<p class="note">{escape(stats.built(m))}</p>'
            + grid("inputs", stats.INPUT_HEAD, stats.input_rows(m))
            + grid("stages", stats.STAGE_HEAD, stats.stage_rows(m))
            + (grid("excludes", stats.EXCLUDE_HEAD, stats.exclude_rows(m)) if m.get("excludes") else
               '<p class="note">no --exclude files: nothing was checked against evaluation sets</p>')
            + (f'<p class="note">{escape(stats.absent(m))}</p>' if stats.absent(m) else "")
            + (f"<h4>dropped rows, up to {EXAMPLES} per reason</h4>"
               + table(["stage", "reason", "where", "text", "matched"], examples,
                       f' class="corpus-examples" data-corpus="{name}"') if examples else "")
            + grid("splits", stats.SPLIT_HEAD, stats.split_rows(m))
            + f'<img alt="text lengths {name}" src="{plots.png(stats.figure(m))}"></section>')


def counted(kinds: list[str]) -> str:
    """"1 run, 0 sweeps" (", 1 corpus" when there are corpora) of the folders' kinds (finetune,
    lm, pretrain, sweep, corpus): the page's count and the command's last line."""
    def n(k: int, one: str, many: str) -> str:
        return f"{k} {one if k == 1 else many}"

    runs, corpora = sum(k in ("finetune", "lm", "pretrain") for k in kinds), kinds.count("corpus")
    return f"{n(runs, 'run', 'runs')}, {n(kinds.count('sweep'), 'sweep', 'sweeps')}" + \
        (f", {n(corpora, 'corpus', 'corpora')}" if corpora else "")


def render(title: str, items: list[Run | Sweep | Corpus], glue_results: list[dict], notes=()) -> str:
    """The page; `notes` (plain sentences, e.g. `nlplab bench`'s rules) go in a list under the summary."""
    runs = [i for i in items if isinstance(i, Run)]
    sweeps = [i for i in items if isinstance(i, Sweep)]
    corpora = [i for i in items if isinstance(i, Corpus)]
    parts = [f"<h1>{escape(title)}</h1>",
             f'<p class="note">{counted([i.kind for i in items])}; written '
             f"{datetime.datetime.now().astimezone().isoformat(timespec='seconds')} by <code>nlplab report</code>.</p>",
             "<h2>Summary</h2>", summary(items)]
    if notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>")
    if glue_results:
        subsets = [r.name for r in runs if r.glue_entries() and r.config.get("max_eval_samples")]
        parts += ["<h2>GLUE (dev)</h2>", glue(glue_results, subsets)]
    rates = [(i.name, *i.throughput) for i in runs if i.throughput[0] is not None]
    rates += [(s.name, float(np.mean(v)), "samples/s") for s in sweeps
              if (v := [t["train_samples_per_s"] for t in s.data["trials"] if t.get("train_samples_per_s")])]
    if rates:
        parts += ["<h2>Throughput</h2>", f'<img alt="throughput" src="{plots.throughput(rates)}">']
    if corpora:
        parts += ["<h2>Corpus</h2>", *map(corpus, corpora)]
    if sweeps:
        parts += ["<h2>Sweeps</h2>", *map(sweep, sweeps)]
    if runs:
        parts += ["<h2>Runs</h2>", *map(run_section, runs)]
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
