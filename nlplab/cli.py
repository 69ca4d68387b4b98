"""The `nlplab` command: maps sub-commands to plain functions (the subword and glue
stages keep theirs in `nlplab/subword/commands.py` and `nlplab/glue/commands.py`).

    nlplab preprocess INPUT -o OUTPUT --lang ko [--tokenizer mecab] [--stopwords] [--workers 2]
    nlplab clean INPUT -o OUTPUT --clean ko          nlplab clean --text "..." --lang ko
    nlplab tokenize INPUT -o OUTPUT --tokenizer kiwi nlplab tokenize --text "..." --tokenizer okt
    nlplab sentences INPUT -o OUTPUT --lang ko       nlplab stopwords --lang en
    nlplab setup-data --from DIR                     nlplab demo
    nlplab corpus build RAW[:FIELD]... -o DIR --lang ko --exclude EVAL[:FIELD]   (or --config ko-reviews --data-dir D)
    nlplab corpus export DIR -o FILE.txt             nlplab corpus stats DIR
    nlplab subword train CORPUS -o DIR --lang ko --model unigram --pretokenize mecab
    nlplab subword encode DIR INPUT -o OUT           nlplab subword stats DIR... CORPUS
    nlplab glue baseline --kind tfidf-logreg --data-dir D -o OUT   nlplab glue score PRED_DIR --data-dir D
    nlplab glue report RUNS... --html OUT            nlplab glue submit PRED_DIRS... -o submission.zip
    nlplab glue check submission.zip --data-dir D
    nlplab lm train TRAIN --valid VALID -o RUN --preset small      nlplab lm eval RUN --data FILE [--json]
    nlplab pretrain CORPUS -o RUN --tokenizer SUBWORD_DIR --objective mlm|electra   nlplab pretrain fill RUN "... [MASK]"
    nlplab finetune --task SST-2 --data-dir D --model minilm -o RUN   (then: nlplab glue score RUN --data-dir D)
    nlplab finetune eval RUN [--json]                nlplab finetune predict RUN INPUT -o OUTPUT
    nlplab report RUNS... -o report.html             (runs and sweeps in one static page: curves, GLUE table)
    nlplab sweep SWEEP.yaml -o DIR [--resume] [--dry-run] [--gpus N|auto]   (grid/random search over finetune)
    nlplab bench glue --model minilm --data-dir D -o DIR [--seeds 1,2,3] [--gpus N|auto] [--resume] [--dry-run]
                                                     (every task of a suite: scores, report, checked submission.zip)
    nlplab serve RUN [--port 8000] [--host 127.0.0.1] [--max-chars 2000]   (a web page: text -> every stage)
"""

from __future__ import annotations

import argparse
import importlib
import sys

from nlplab import NlplabError, __version__, config

# command -> the module whose add_commands(sub) adds its parser, in data-flow order. Only
# the command named on the command line is imported (all of them for `nlplab --help` or a
# misspelt name): a stage pulls in its libraries (torch, transformers, tokenizers, ...) and
# `nlplab preprocess` or `nlplab --version` must not wait for them (issue 21).
STAGES = {
    "corpus": "nlplab.corpus.commands",
    "subword": "nlplab.subword.commands",
    "glue": "nlplab.glue.commands",
    "ko": "nlplab.glue.commands",  # adds both glue and ko
    "lm": "nlplab.lm.commands",
    "pretrain": "nlplab.pretrain.commands",
    "finetune": "nlplab.finetune.commands",
    "report": "nlplab.report.commands",
    "sweep": "nlplab.sweep.commands",
    "bench": "nlplab.bench.commands",
    "serve": "nlplab.serve",
}

# Commands whose first sub-command may be left out: `nlplab pretrain CORPUS ...` is
# `nlplab pretrain train CORPUS ...` (the sub-commands it has besides).
DEFAULT_SUBCOMMAND = {"pretrain": ("train", ("train", "fill"))}
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


def _add_stages(sub, modules) -> None:
    for module in dict.fromkeys(modules):  # once each, in order
        importlib.import_module(module).add_commands(sub)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or with argv: of the commands argv can reach."""
    named = next((a for a in argv if not a.startswith("-")), None) if argv is not None else None
    parser = argparse.ArgumentParser(prog="nlplab", description="Korean/English NLP preprocessing and language-model lab")
    parser.add_argument("--version", action="version", version=f"nlplab {__version__}")
    if named is None and argv and len(argv[0]) > 2 and "--version".startswith(argv[0]):  # it exits before any command
        return parser
    # --help or no command: list them all; a built-in command needs none (a misspelt one gets them all below)
    stages = [STAGES[named]] if named in STAGES else list(STAGES.values()) if named is None else []
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_preprocess(sub, "preprocess", "clean, tokenize and filter a file (txt/tsv/csv/jsonl), streamed and in parallel")
    _add_preprocess(sub, "clean", "only clean: normalize, strip HTML/URLs/emoji, squeeze repeats")
    _add_preprocess(sub, "tokenize", "only tokenize (NLTK, KoNLPy, Mecab, Kiwi)")

    _add_stages(sub, stages)

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
    if named is not None and named not in sub.choices:  # a misspelt command: the error lists them all
        _add_stages(sub, [m for m in STAGES.values() if m not in stages])
    return parser


def cmd_preprocess(args) -> int:
    from nlplab import preprocess

    cfg = config.resolve(preprocess.PreprocessConfig, args, args.config, STAGE_DEFAULTS[args.stage])
    if getattr(args, "text", None) is not None:
        if cfg.input or cfg.output:
            raise NlplabError("give --text alone (it prints), or INPUT and -o OUTPUT")
        result = preprocess.Preprocessor(cfg).process(args.text)
        print(" ".join(result) if isinstance(result, list) else result)
        return 0
    summary = preprocess.run(cfg, progress=args.progress)
    preprocess.main_summary(cfg, summary)
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
        if args.input or args.output:
            raise NlplabError("give --text alone (it prints), or INPUT and -o OUTPUT")
        print("\n".join(split_sentences(args.text, args.lang)))
        return 0
    if not args.input or not args.output:
        raise NlplabError("give INPUT and -o OUTPUT, or --text")
    io.check_writable(args.output, [args.input])
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
    from nlplab import io
    from nlplab.demo import run

    io.check_folder(args.out)
    return run(args.out, args.lines)


def with_default_subcommand(argv: list[str]) -> list[str]:
    """argv with the default sub-command put in where DEFAULT_SUBCOMMAND's command has none."""
    if argv and argv[0] in DEFAULT_SUBCOMMAND:
        default, known = DEFAULT_SUBCOMMAND[argv[0]]
        if len(argv) > 1 and argv[1] not in known and argv[1] not in ("-h", "--help"):
            return [argv[0], default, *argv[1:]]
    return argv


def main(argv=None) -> int:
    argv = with_default_subcommand(list(sys.argv[1:] if argv is None else argv))
    args = build_parser(argv).parse_args(argv)
    args.argv = argv  # the command as given, for manifests
    name = " ".join(filter(None, [args.command, getattr(args, "subcommand", None)]))
    try:
        return args.func(args)
    except NlplabError as e:
        print(f"nlplab {name}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a path no check above foresaw: a file in the way, permissions, a full disk
        if e.filename is None:
            raise
        print(f"nlplab {name}: error: {e.filename}: {e.strerror or e}; check the path", file=sys.stderr)
        return 2
    except UnicodeDecodeError as e:  # a file read whole (JSON, YAML) that is not UTF-8
        print(f"nlplab {name}: error: a file it reads is not UTF-8 (byte 0x{e.object[e.start]:02x} at byte {e.start}); "
              "re-encode it (e.g. iconv -f cp949 -t utf-8)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        sub = getattr(args, "subcommand", None)
        if (args.command, sub) in (("finetune", None), ("lm", "train"), ("pretrain", "train")):  # training keeps its checkpoints
            print(f"nlplab {args.command}: interrupted; the run folder keeps its last checkpoint: "
                  f"continue with `nlplab {name} --resume -o {getattr(args, 'output', 'RUN')}`", file=sys.stderr)
        else:
            print(f"nlplab {args.command}: interrupted; no output was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
