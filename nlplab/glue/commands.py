"""`nlplab glue submit|check|score|report|baseline`: the parsers and the plain functions they call."""

from __future__ import annotations

import sys

from nlplab import NlplabError


def add_commands(sub):
    from nlplab.glue import baselines  # KINDS: the --kind choices (scikit-learn is imported only to fit)

    p = sub.add_parser("glue", help="GLUE: baselines, dev scores, leaderboard report, a checked submission zip")
    ss = p.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
    data_help = ("classic GLUE folder (CoLA/, SST-2/, MNLI/, ... from download_glue_data.py), a root laid out as "
                 "shared/data (glue/, nsmc/, korsts/, kornli/, klue/, korean-hate-speech/, imdb/) or one task's own "
                 "folder; default: GLUE from the HF hub")
    tasks_help = ("comma-separated subset, e.g. CoLA,SST-2,nsmc (any case, or HF's names: cola,sst2; "
                  "default: every task {})")
    suite_help = "every task found of a suite: glue, ko (NSMC, KorSTS, KorNLI, KLUE-NLI/STS, KorHate) or en (IMDB)"

    def custom_args(q):
        g = q.add_argument_group("custom dataset (instead of GLUE: any labelled tsv/csv/jsonl, e.g. NSMC)")
        for flag, help_ in (("--train", "train file"), ("--dev", "dev file"), ("--test", "test file (labels optional)"),
                            ("--text", "text column"), ("--text-pair", "second text column (pair tasks)"),
                            ("--label", "label column"), ("--id", "id column (default: the row number)"),
                            ("--name", "task name, used in prediction file names (default: custom)"),
                            ("--format", "file format (default: from the extension)"),
                            ("--labels", "label set in class order, comma-separated (default: sorted train labels)")):
            g.add_argument(flag, help=help_)
        g.add_argument("--no-header", action="store_true", help="tsv/csv without a header: columns are 0, 1, ...")
        g.add_argument("--regression", action="store_true", help="labels are numbers (Pearson/Spearman)")

    s = ss.add_parser("submit", help="write the 11 leaderboard files into a zip from <ENTRY>.test.tsv predictions")
    s.add_argument("pred_dirs", nargs="+", metavar="PRED_DIR", help="folders of <ENTRY>.test.tsv files (CoLA.test.tsv, MNLI-m.test.tsv, ...)")
    s.add_argument("-o", "--output", required=True, help="the zip to write")
    s.add_argument("--data-dir", help="GLUE folder: test ids from its test files, majority labels from its train files")
    s.add_argument("--fill-missing", choices=["majority"], help="fill tasks without predictions with the majority class of their train file (a constant where there is none)")
    s.set_defaults(func=cmd_glue_submit)

    c = ss.add_parser("check", help="list every problem of a submission zip: names, headers, labels, rows, indices")
    c.add_argument("submission", help="the zip (or a folder of the .tsv files)")
    c.add_argument("--data-dir", help="GLUE folder: check indices against its test files (default: official sizes)")
    c.set_defaults(func=cmd_glue_check)

    def harness(ss, suite):
        """score, report and baseline; under `nlplab ko` the suite defaults to ko."""
        sc = ss.add_parser("score", help="score <ENTRY>.dev.tsv predictions against the dev labels")
        sc.add_argument("pred_dir", help="folder of <ENTRY>.dev.tsv files")
        sc.add_argument("--data-dir", help=data_help)
        sc.add_argument("--json", action="store_true", help="print JSON (nlplab glue report reads it) instead of a table")
        sc.add_argument("--tasks", help=tasks_help.format("with predictions"))
        sc.add_argument("--suite", choices=["glue", "ko", "en"], default=suite, help=suite_help)
        custom_args(sc)
        sc.set_defaults(func=cmd_glue_score)

        r = ss.add_parser("report", help="leaderboard table of several runs (tasks x runs + GLUE score), text and HTML")
        r.add_argument("runs", nargs="+", metavar="RUN", help="prediction folders, or JSON files from nlplab glue score --json")
        r.add_argument("--html", help="also write the table as a standalone HTML page here")
        r.add_argument("--data-dir", help=data_help)
        r.add_argument("--tasks", help=tasks_help.format("of the runs"))
        r.add_argument("--suite", choices=["glue", "ko", "en"], default=suite, help=suite_help)
        custom_args(r)
        r.set_defaults(func=cmd_glue_report)

        b = ss.add_parser("baseline", help="majority-class or tf-idf (word or character n-grams) + logistic regression "
                                           "predictions for every task found")
        b.add_argument("--kind", required=True, choices=list(baselines.KINDS),
                       help="majority: the most frequent train label (STS-B: the mean); tfidf-logreg: word 1-2-gram "
                            "tf-idf; tfidf-char: character 1-4-grams within words; both tf-idf kinds + logistic regression "
                            "(Ridge for STS-B)")
        b.add_argument("--data-dir", help=data_help)
        b.add_argument("-o", "--output", required=True, help="folder for <ENTRY>.{dev,test}.tsv, baseline.json, metrics.json")
        b.add_argument("--tasks", help=tasks_help.format("found"))
        b.add_argument("--suite", choices=["glue", "ko", "en"], default=suite, help=suite_help)
        custom_args(b)
        b.set_defaults(func=cmd_glue_baseline)

    harness(ss, None)
    # `nlplab ko baseline|score|report ...`: the same commands, the Korean tasks by default
    k = sub.add_parser("ko", help="Korean tasks (NSMC, KorSTS, KorNLI, KLUE-NLI/STS, KorHate): nlplab glue "
                                  "baseline|score|report with --suite ko")
    harness(k.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND"), "ko")


def _tasks(args) -> list[str] | None:
    """--tasks a,b as names (any spelling nlplab.glue.tasks.ALIASES knows); None: all."""
    names = [t.strip() for t in (getattr(args, "tasks", None) or "").split(",") if t.strip()]
    return names or None


def _suite(args) -> str | None:
    """--suite (ko under `nlplab ko`); a custom dataset is its own one task, in no suite."""
    return None if getattr(args, "train", None) else args.suite


def _glue_source(args):
    """GLUE (a classic folder, or the hub) or, with --train, a custom labelled dataset."""
    from nlplab.glue import Custom, Glue

    if getattr(args, "train", None) is None:
        if any(getattr(args, k, None) for k in ("dev", "test", "text", "label")):
            raise NlplabError("a custom dataset needs --train FILE (with --text and --label)")
        return Glue(args.data_dir)
    if args.data_dir:
        raise NlplabError("give either --data-dir (GLUE) or --train/--dev/--test (a custom dataset), not both")
    if not args.text or not args.label:
        raise NlplabError("a custom dataset needs --text COL and --label COL")
    files = {k: getattr(args, k) for k in ("train", "dev", "test") if getattr(args, k)}
    labels = args.labels.split(",") if args.labels else None
    return Custom(args.name or "custom", files, args.text, args.text_pair, args.label, args.id, args.format,
                  args.no_header, labels, args.regression)


def cmd_glue_submit(args) -> int:
    from nlplab.glue import Glue
    from nlplab.glue.submission import check, submit

    source = Glue(args.data_dir)
    origin = submit(args.pred_dirs, args.output, source, args.fill_missing)
    for name, where in origin.items():
        print(f"  {name + '.tsv':12} <- {where}", file=sys.stderr)
    problems = check(args.output, source)  # the same check the user would run next
    if problems:
        raise NlplabError(f"{args.output}: written but fails its own check: {problems[0]}")
    print(f"{args.output}: {len(origin)} files, checked; upload it at gluebenchmark.com/submit", file=sys.stderr)
    return 0


def cmd_glue_check(args) -> int:
    from nlplab.glue import BOARDS, Glue
    from nlplab.glue.submission import check

    problems = check(args.submission, Glue(args.data_dir) if args.data_dir else None)
    for p in problems:
        print(p)
    if problems:
        print(f"{args.submission}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{args.submission}: ok ({len(BOARDS)} files)", file=sys.stderr)
    return 0


def cmd_glue_score(args) -> int:
    import json

    from nlplab.glue.report import score_dir, table

    result = score_dir(args.pred_dir, _glue_source(args), _tasks(args), _suite(args))
    print(json.dumps(result, indent=1) if args.json else table([result]))
    return 0


def cmd_glue_report(args) -> int:
    from nlplab.config import write_atomic
    from nlplab.glue.report import load_run, table, to_html

    source = _glue_source(args)
    results = [load_run(r, source, _tasks(args), _suite(args)) for r in args.runs]
    print(table(results))
    if args.html:
        from nlplab import io

        io.check_writable(args.html, args.runs)
        write_atomic(args.html, to_html(results))
        print(f"{args.html}: written", file=sys.stderr)
    return 0


def cmd_glue_baseline(args) -> int:
    import json
    from pathlib import Path

    from nlplab import io
    from nlplab.config import write_atomic
    from nlplab.glue import baselines
    from nlplab.glue.report import score_dir, table

    if getattr(args, "train", None) and not (getattr(args, "dev", None) or getattr(args, "test", None)):
        raise NlplabError("a baseline fits on --train and predicts --dev and/or --test; give at least one of them")
    source = _glue_source(args)
    io.check_folder(args.output, [getattr(args, k, None) for k in ("data_dir", "train", "dev", "test")])
    info = baselines.run(args.kind, source, args.output, _tasks(args), _suite(args))
    if any(Path(args.output).glob("*.dev.tsv")):
        result = score_dir(args.output, source, list(info["tasks"]))
        write_atomic(Path(args.output) / "metrics.json", json.dumps(result, indent=1) + "\n")
        print(table([result]))
    return 0
