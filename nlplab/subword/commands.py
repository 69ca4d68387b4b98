"""`nlplab subword train|encode|decode|stats`: the parsers and the plain functions they call."""

from __future__ import annotations

import argparse
import sys

from nlplab import NlplabError, config


def add_commands(sub):
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
    e.add_argument("-o", "--output", required=True,
                   help="a .txt/.tsv/.csv/.jsonl name (also .gz/.bz2/.xz/.zst) sets the format, any other the input's")
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


def cmd_subword_train(args) -> int:
    from nlplab.subword.train import SubwordConfig, train

    cfg = config.resolve(SubwordConfig, args, args.config)
    meta = train(cfg, progress=args.progress)
    c = meta["corpus"]
    print(f"{cfg.output}: {meta['kind']} ({meta['engine']}) vocabulary of {meta['vocab_size']:,} from {c['texts']:,} texts "
          f"({c['blank_rows_left_out']:,} blank rows left out) in {meta['seconds']['train']:.1f}s", file=sys.stderr)
    for note in meta["notes"]:
        print(f"note: {note}", file=sys.stderr)
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
    io.check_writable(args.output, [args.input])
    layout = io.inspect(args.input, "txt")
    n = 0
    with io.atomic_output(args.output, "w") as out:
        for start, payload, _ in io.read_chunks(layout):
            records, _, _ = io.parse_chunk(layout, start, payload)
            for lineno, _, line in records:
                items = line.split()
                ids = [int(x) for x in items] if all(x.isdigit() for x in items) else tok.piece_ids(items)
                bad = [i for i in ids if i >= tok.vocab_size]
                if bad:
                    raise NlplabError(f"{args.input}:{lineno}: id {bad[0]} is outside this vocabulary (size {tok.vocab_size}); "
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
