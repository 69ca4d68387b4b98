"""The `nlplab` command: maps sub-commands to plain functions.

    nlplab preprocess INPUT -o OUTPUT --lang ko [--tokenizer mecab] [--stopwords] [--workers 2]
    nlplab clean INPUT -o OUTPUT --clean ko          nlplab clean --text "..." --lang ko
    nlplab tokenize INPUT -o OUTPUT --tokenizer kiwi nlplab tokenize --text "..." --tokenizer okt
    nlplab sentences INPUT -o OUTPUT --lang ko       nlplab stopwords --lang en
    nlplab setup-data --from DIR                     nlplab demo
    nlplab subword train CORPUS -o DIR --lang ko --model unigram --pretokenize mecab
    nlplab subword encode DIR INPUT -o OUT           nlplab subword stats DIR... CORPUS
    nlplab glue baseline --kind tfidf-logreg --data-dir D -o OUT   nlplab glue score PRED_DIR --data-dir D
    nlplab glue report RUNS... --html OUT            nlplab glue submit PRED_DIRS... -o submission.zip
    nlplab glue check submission.zip --data-dir D
    nlplab finetune --task SST-2 --data-dir D --model minilm -o RUN   (then: nlplab glue score RUN --data-dir D)
"""

from __future__ import annotations

import argparse
import sys

from nlplab import NlplabError, __version__, config

# Defaults that differ per sub-command: `clean` only cleans, `tokenize` only tokenizes.
STAGE_DEFAULTS = {
    "preprocess": {},
    "clean": {"tokenizer": "none"},
    "tokenize": {"clean": "none"},
}


def _add_preprocess(sub, name: str, help_: str):
    from nlplab.preprocess import PreprocessConfig

    p = sub.add_parser(name, help=help_, description=help_)
    config.add_arguments(p, PreprocessConfig, positional=("input",), defaults=STAGE_DEFAULTS[name])
    p.add_argument("--config", help="YAML file with any of the options above; flags override it")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show a progress bar (default: when stderr is a terminal)")
    if name != "preprocess":
        p.add_argument("--text", help="process this one text and print the result instead of a file")
    p.set_defaults(func=cmd_preprocess, stage=name)


def _add_subword(sub):
    from nlplab.subword.train import SubwordConfig

    p = sub.add_parser("subword", help="train, inspect and use subword vocabularies (SentencePiece, WordPiece, BPE)")
    ss = p.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
    t = ss.add_parser("train", help="train a vocabulary into a folder AutoTokenizer can load")
    config.add_arguments(t, SubwordConfig, positional=("corpus",))
    t.add_argument("--config", help="YAML file with any of the options above; flags override it")
    t.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="show progress")
    t.set_defaults(func=cmd_subword_train)
    # `corpus` takes one or more files
    for action in t._actions:
        if action.dest == "corpus":
            action.nargs = "+"

    e = ss.add_parser("encode", help="encode a file into subword pieces (or ids)")
    e.add_argument("folder", help="subword folder from `nlplab subword train`")
    e.add_argument("input", help="txt, tsv, csv or jsonl file")
    e.add_argument("-o", "--output", required=True)
    e.add_argument("--ids", action="store_true", help="write ids instead of pieces")
    for flag in ("--format", "--column", "--output-column"):
        e.add_argument(flag)
    e.add_argument("--no-header", action="store_true")
    e.add_argument("--workers", type=int, default=1)
    e.add_argument("--on-error", choices=["fail", "skip"], default="fail")
    e.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    e.set_defaults(func=cmd_subword_encode)

    d = ss.add_parser("decode", help="decode lines of ids (or pieces) back to text")
    d.add_argument("folder")
    d.add_argument("input", help="txt file: one sequence per line, ids or pieces separated by spaces")
    d.add_argument("-o", "--output", required=True)
    d.set_defaults(func=cmd_subword_decode)

    st = ss.add_parser("stats", help="UNK rate, subwords per word, vocabulary use, coverage; several folders side by side")
    st.add_argument("paths", nargs="+", metavar="DIR... CORPUS", help="one or more subword folders, then the corpus")
    for flag in ("--format", "--column"):
        st.add_argument(flag)
    st.add_argument("--no-header", action="store_true")
    st.add_argument("--max-rows", type=int, default=50_000, help="texts read from the corpus")
    st.add_argument("--json", action="store_true", help="print JSON instead of a table")
    st.set_defaults(func=cmd_subword_stats)


def _add_glue(sub):
    p = sub.add_parser("glue", help="GLUE: baselines, dev scores, leaderboard report, a checked submission zip")
    ss = p.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
    data_help = "classic GLUE folder (CoLA/, SST-2/, MNLI/, ... from download_glue_data.py); default: the HF hub"

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
    s.add_argument("--fill-missing", choices=["majority"], help="fill tasks without predictions with the majority-class baseline")
    s.set_defaults(func=cmd_glue_submit)

    c = ss.add_parser("check", help="list every problem of a submission zip: names, headers, labels, rows, indices")
    c.add_argument("submission", help="the zip (or a folder of the .tsv files)")
    c.add_argument("--data-dir", help="GLUE folder: check indices against its test files (default: official sizes)")
    c.set_defaults(func=cmd_glue_check)

    sc = ss.add_parser("score", help="score <ENTRY>.dev.tsv predictions against the dev labels")
    sc.add_argument("pred_dir", help="folder of <ENTRY>.dev.tsv files")
    sc.add_argument("--data-dir", help=data_help)
    sc.add_argument("--json", action="store_true", help="print JSON (nlplab glue report reads it) instead of a table")
    custom_args(sc)
    sc.set_defaults(func=cmd_glue_score)

    r = ss.add_parser("report", help="leaderboard table of several runs (tasks x runs + GLUE score), text and HTML")
    r.add_argument("runs", nargs="+", metavar="RUN", help="prediction folders, or JSON files from nlplab glue score --json")
    r.add_argument("--html", help="also write the table as a standalone HTML page here")
    r.add_argument("--data-dir", help=data_help)
    custom_args(r)
    r.set_defaults(func=cmd_glue_report)

    b = ss.add_parser("baseline", help="majority-class or tf-idf + logistic regression predictions for every task found")
    b.add_argument("--kind", required=True, choices=["majority", "tfidf-logreg"])
    b.add_argument("--data-dir", help=data_help)
    b.add_argument("-o", "--output", required=True, help="folder for <ENTRY>.{dev,test}.tsv, baseline.json, metrics.json")
    b.add_argument("--tasks", help="comma-separated subset, e.g. CoLA,SST-2 (default: every task found)")
    custom_args(b)
    b.set_defaults(func=cmd_glue_baseline)


def _add_finetune(sub):
    from nlplab.finetune.config import FinetuneConfig

    p = sub.add_parser("finetune", help="fine-tune a BERT-style model on a GLUE task or a custom labelled dataset",
                       description="Fine-tune a BERT-style model; per-task defaults from nlplab/configs/finetune.yaml")
    config.add_arguments(p, FinetuneConfig)
    p.add_argument("--config", help="YAML file with any of the options above; flags override it")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="show progress")
    p.set_defaults(func=cmd_finetune)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nlplab", description="Korean/English NLP preprocessing and language-model lab")
    parser.add_argument("--version", action="version", version=f"nlplab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_preprocess(sub, "preprocess", "clean, tokenize and filter a file (txt/tsv/csv/jsonl), streamed and in parallel")
    _add_preprocess(sub, "clean", "only clean: normalize, strip HTML/URLs/emoji, squeeze repeats")
    _add_preprocess(sub, "tokenize", "only tokenize (NLTK, KoNLPy, Mecab, Kiwi)")

    _add_subword(sub)
    _add_glue(sub)
    _add_finetune(sub)

    p = sub.add_parser("stopwords", help="print the active stopword list and its size")
    p.add_argument("--lang", required=True, choices=["ko", "en"])
    p.add_argument("--stopwords-file", help="extra words, one per line, merged in")
    p.set_defaults(func=cmd_stopwords)

    p = sub.add_parser("sentences", help="split texts into sentences: one per line, a blank line between documents")
    p.add_argument("input", nargs="?", help="txt file, one document per line")
    p.add_argument("-o", "--output", help="output txt file")
    p.add_argument("--text", help="split this text and print the sentences")
    p.add_argument("--lang", required=True, choices=["ko", "en"])
    p.set_defaults(func=cmd_sentences)

    p = sub.add_parser("setup-data", help="make NLTK data (punkt_tab, stopwords, tagger) available offline")
    p.add_argument("--from", dest="source", help="a local nltk_data folder to link from (default: download, needs internet)")
    p.add_argument("--to", dest="target", help="where to put it (default: first NLTK_DATA entry, else ~/nltk_data)")
    p.add_argument("--copy", action="store_true", help="copy instead of symlinking")
    p.set_defaults(func=cmd_setup_data)

    p = sub.add_parser("demo", help="clean and tokenize the sample corpora with several backends, side by side")
    p.add_argument("--out", default="out/demo", help="folder for the preprocessed sample files")
    p.add_argument("--lines", type=int, default=4, help="sample lines to show per language")
    p.set_defaults(func=cmd_demo)
    return parser


def cmd_preprocess(args) -> int:
    from nlplab import preprocess

    cfg = config.resolve(preprocess.PreprocessConfig, args, args.config, STAGE_DEFAULTS[args.stage])
    if getattr(args, "text", None) is not None:
        result = preprocess.Preprocessor(cfg).process(args.text)
        print(" ".join(result) if isinstance(result, list) else result)
        return 0
    summary = preprocess.run(cfg, progress=args.progress)
    preprocess.main_summary(cfg, summary)
    return 0


def cmd_subword_train(args) -> int:
    from nlplab.subword.train import SubwordConfig, train

    cfg = config.resolve(SubwordConfig, args, args.config)
    meta = train(cfg, progress=args.progress)
    c = meta["corpus"]
    print(f"{cfg.output}: {meta['kind']} ({meta['engine']}) vocabulary of {meta['vocab_size']:,} from {c['texts']:,} texts "
          f"({c['blank_rows_left_out']:,} blank rows left out) in {meta['seconds']['train']:.1f}s", file=sys.stderr)
    if meta["vocab_size"] < cfg.vocab_size:
        print(f"note: the corpus supports only {meta['vocab_size']:,} of the {cfg.vocab_size:,} entries asked for", file=sys.stderr)
    return 0


def cmd_subword_encode(args) -> int:
    from nlplab import preprocess
    from nlplab.subword import SubwordEncoder, SubwordTokenizer

    tok = SubwordTokenizer(args.folder)  # fails fast on a missing or foreign folder
    cfg = preprocess.PreprocessConfig(
        input=args.input, output=args.output, lang=tok.meta["lang"], tokenizer="none", clean="none",
        format=args.format, column=args.column, output_column=args.output_column, no_header=args.no_header,
        workers=args.workers, on_error=args.on_error)
    summary = preprocess.run(cfg, progress=args.progress, encoder=SubwordEncoder(args.folder, args.ids))
    preprocess.main_summary(cfg, summary)
    return 0


def cmd_subword_decode(args) -> int:
    from nlplab import io
    from nlplab.subword import SubwordTokenizer

    tok = SubwordTokenizer(args.folder)
    layout = io.inspect(args.input, "txt")
    n = 0
    with io.atomic_output(args.output, "w") as out:
        for start, payload, _ in io.read_chunks(layout):
            records, _, _ = io.parse_chunk(layout, start, payload)
            for _, _, line in records:
                items = line.split()
                ids = [int(x) for x in items] if all(x.isdigit() for x in items) else tok.piece_ids(items)
                bad = [i for i in ids if i >= tok.vocab_size]
                if bad:
                    raise NlplabError(f"{args.input}:{start + n}: id {bad[0]} is outside this vocabulary (size {tok.vocab_size}); "
                                      f"was it encoded with {args.folder}?")
                out.write(tok.decode(ids).replace("\n", " ") + "\n")
                n += 1
    print(f"{args.output}: {n:,} lines decoded", file=sys.stderr)
    return 0


def cmd_subword_stats(args) -> int:
    import json

    from nlplab.subword import SubwordTokenizer
    from nlplab.subword.stats import read_texts, stats, table

    if len(args.paths) < 2:
        raise NlplabError("give one or more subword folders and then the corpus: nlplab subword stats DIR... CORPUS")
    *folders, corpus = args.paths
    toks = [SubwordTokenizer(f) for f in folders]
    texts = read_texts(corpus, args.format, args.column, args.no_header, args.max_rows)
    if not texts:
        raise NlplabError(f"{corpus}: no texts to measure")
    rows = [stats(t, texts) for t in toks]
    print(json.dumps(rows, indent=1, ensure_ascii=False) if args.json else table(rows))
    return 0


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

    result = score_dir(args.pred_dir, _glue_source(args))
    print(json.dumps(result, indent=1) if args.json else table([result]))
    return 0


def cmd_glue_report(args) -> int:
    from nlplab.config import write_atomic
    from nlplab.glue.report import load_run, table, to_html

    source = _glue_source(args)
    results = [load_run(r, source) for r in args.runs]
    print(table(results))
    if args.html:
        write_atomic(args.html, to_html(results))
        print(f"{args.html}: written", file=sys.stderr)
    return 0


def cmd_glue_baseline(args) -> int:
    import json
    from pathlib import Path

    from nlplab.config import write_atomic
    from nlplab.glue import baselines
    from nlplab.glue.report import score_dir, table

    source = _glue_source(args)
    tasks = [t.strip() for t in args.tasks.split(",")] if args.tasks else None
    baselines.run(args.kind, source, args.output, tasks)
    if any(Path(args.output).glob("*.dev.tsv")):
        result = score_dir(args.output, source)
        write_atomic(Path(args.output) / "metrics.json", json.dumps(result, indent=1) + "\n")
        print(table([result]))
    return 0


def cmd_finetune(args) -> int:
    from nlplab.finetune.config import FinetuneConfig, preset
    from nlplab.finetune.train import run

    # the task picks its preset, which sits under the --config file and the flags
    task = getattr(args, "task", None) or (config.load_yaml(args.config, FinetuneConfig).get("task") if args.config else None)
    cfg = config.resolve(FinetuneConfig, args, args.config, preset(task))
    s = run(cfg, progress=args.progress)
    best = s["best"]
    shown = ", ".join(f"{k} {100 * v:.2f}" for k, v in best["splits"][s["main"]].items())
    print(f"{cfg.output}: {s['task']} best {s['main']} at step {best['step']} (epoch {best['epoch']}): {shown}; "
          f"{s['steps']} steps, {s['samples_per_s']:,.0f} samples/s, {s['seconds']:.0f}s", file=sys.stderr)
    return 0


def cmd_stopwords(args) -> int:
    from nlplab.tokenize import stopwords

    words = sorted(stopwords.words(args.lang, args.stopwords_file))
    source = "NLTK stopwords corpus" if args.lang == "en" else "stopwords-iso (stopwordsiso)"
    extra = " + particles (J*), endings (E*) and punctuation by POS" if args.lang == "ko" else " + punctuation-only tokens"
    print(f"# {len(words)} {args.lang} stopwords from {source}{' + ' + args.stopwords_file if args.stopwords_file else ''}{extra}")
    print("\n".join(words))
    return 0


def cmd_sentences(args) -> int:
    from nlplab import io
    from nlplab.tokenize import split_sentences

    if args.text is not None:
        print("\n".join(split_sentences(args.text, args.lang)))
        return 0
    if not args.input or not args.output:
        raise NlplabError("give INPUT and -o OUTPUT, or --text")
    layout = io.inspect(args.input, "txt")
    docs = sents = 0
    with io.atomic_output(args.output, "w") as out:
        for start, lines, _ in io.read_chunks(layout):
            for i, raw in enumerate(lines, start):
                try:
                    text = raw.decode("utf-8").strip()
                except UnicodeDecodeError as e:
                    raise io.decode_error(args.input, i, raw, e) from None
                found = split_sentences(text, args.lang) if text else []
                out.write("".join(s.replace("\n", " ") + "\n" for s in found) + "\n")
                docs += 1
                sents += len(found)
    print(f"{args.output}: {docs:,} documents -> {sents:,} sentences", file=sys.stderr)
    return 0


def cmd_setup_data(args) -> int:
    from nlplab import data

    for pkg, what in data.setup_nltk(args.source, args.target, args.copy).items():
        print(f"{pkg}: {what}")
    return 0


def cmd_demo(args) -> int:
    from nlplab.demo import run

    return run(args.out, args.lines)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except NlplabError as e:
        name = " ".join(filter(None, [args.command, getattr(args, "subcommand", None)]))
        print(f"nlplab {name}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nlplab {args.command}: interrupted; no output was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
