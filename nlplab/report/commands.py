"""`nlplab report RUNS... -o report.html`: the parser and the plain function it calls."""

from __future__ import annotations

import sys

from nlplab import config


def add_commands(sub):
    from nlplab.report import ReportConfig

    p = sub.add_parser("report", help="one static HTML page of runs and sweeps: curves, GLUE table, confusion, throughput",
                       description="Summarize finetune / lm run folders, sweep folders and corpus folders in one HTML file "
                                   "(plots embedded, no server, no network); a text summary goes to stdout.")
    config.add_arguments(p, ReportConfig, positional=("runs",))
    for action in p._actions:  # `runs` takes one or more folders
        if action.dest == "runs":
            action.nargs = "+"
            action.metavar = "RUN"
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    from nlplab.report import ReportConfig, build, text_table
    from nlplab.report.page import counted

    cfg = config.resolve(ReportConfig, args)
    rows = build(cfg)
    print(text_table(rows))
    print(f"{cfg.output}: {counted([r['kind'] for r in rows])}", file=sys.stderr)
    return 0
