"""`nlplab report`: several run folders in one static HTML page that opens with no server.

    nlplab report runs/sst2 runs/stsb runs/ptb sweeps/sst2-lr corpora/ko -o report.html

runs.py reads a finetune/lm run folder, a sweep folder or a corpus folder (manifest.json of
nlplab corpus build) -> plots.py draws PNGs (matplotlib, Agg) -> page.py lays out the page:
summary table, GLUE table with baselines and GLUE score, throughput, corpora (the
`nlplab corpus stats` tables, dropped-row examples, length histograms), sweeps (mean ± std
per configuration), and per run its learning curves, LR schedule, confusion matrix or
regression scatter. A short text summary goes to stdout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nlplab
from nlplab import NlplabError, io
from nlplab.config import opt, write_atomic

# scored by benchmarks/glue_baselines.py; found in a checkout, not in an installed package
BASELINES = Path(nlplab.__file__).resolve().parent.parent / "benchmarks" / "results" / "glue_baselines.json"


@dataclass
class ReportConfig:
    runs: list = opt(None, "run folders of nlplab finetune / nlplab lm train, sweep folders (sweep.json) "
                              "or corpus folders (manifest.json of nlplab corpus build)")
    output: str = opt("report.html", "the HTML file to write", flag=["-o", "--output"])
    title: str = opt("nlplab report", "page title")
    baselines: str = opt(None, "GLUE baseline scores: benchmarks/results/glue_baselines.json or a file from "
                               "nlplab glue score --json (default: the checkout's when present; none: leave out)")

    def __post_init__(self):
        if not self.runs:
            raise NlplabError("give one or more run folders: nlplab report RUN... -o report.html")
        if not str(self.output).endswith((".html", ".htm")):
            raise NlplabError(f"-o {self.output}: the report is one HTML file; name it *.html")


def build(cfg: ReportConfig) -> list[dict]:
    """Read every folder, write the page atomically; returns the summary rows."""
    from nlplab.report import page, runs

    io.check_writable(cfg.output, cfg.runs)
    if cfg.baselines == "none":  # the small file first, then every folder, all before anything is drawn
        baselines = []
    elif cfg.baselines:
        baselines = runs.load_baselines(cfg.baselines)
    else:
        baselines = runs.load_baselines(BASELINES) if BASELINES.is_file() else []
    items = runs.load_all(cfg.runs)
    found = [i for i in items if isinstance(i, runs.Run)]
    html = page.render(cfg.title, items, runs.glue_results(found, baselines))
    write_atomic(cfg.output, html)
    return [i.summary() for i in items]


def text_table(rows: list[dict]) -> str:
    """The summary as aligned text columns (the page's first table)."""
    from nlplab.report.page import COLUMNS

    cells = [[h for _, h in COLUMNS]] + [[str(r[k] if r[k] is not None else "-") for k, _ in COLUMNS] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


__all__ = ["ReportConfig", "build", "text_table"]
