"""`nlplab finetune [eval|predict]`: the parsers and the plain functions they call.

    nlplab finetune --task SST-2 --data-dir D --model minilm -o RUN      train (no sub-command)
    nlplab finetune --resume -o RUN                                      go on after an interruption
    nlplab finetune ... --nproc 2                                        2 processes (torchrun), see nlplab/dist.py
    nlplab finetune eval RUN [--data-dir D | --dev FILE] [--json]
    nlplab finetune predict RUN INPUT -o OUTPUT [--text COL --text-pair COL]
"""

from __future__ import annotations

import json
import sys

from nlplab import config


def add_commands(sub):
    from nlplab.finetune.config import FinetuneConfig
    from nlplab.training.config import add_run_options

    p = sub.add_parser("finetune", help="fine-tune a BERT-style model on a GLUE task or a custom dataset; eval, predict",
                       description="Fine-tune a BERT-style model (no sub-command); per-task defaults from "
                                   "nlplab/configs/finetune.yaml. `eval` and `predict` use a finished run folder.")
    config.add_arguments(p, FinetuneConfig)
    add_run_options(p)  # --config, --progress, --nproc
    p.set_defaults(func=cmd_finetune)
    ss = p.add_subparsers(dest="subcommand", metavar="[eval|predict]")

    e = ss.add_parser("eval", help="score a finished run on its dev split(s), or on other dev data")
    e.add_argument("run", help="run folder (-o of `nlplab finetune`)")
    e.add_argument("--data-dir", help="GLUE folder (default: the one in the run's config.yaml)")
    e.add_argument("--dev", help="custom dataset: another dev file with the run's columns")
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--json", action="store_true", help="print one JSON object {split: metrics}")
    e.set_defaults(func=cmd_finetune_eval)

    q = ss.add_parser("predict", help="label a file with a finished run: prediction and class probabilities per row")
    q.add_argument("run", help="run folder (-o of `nlplab finetune`)")
    q.add_argument("input", help="txt (one text per line), tsv, csv or jsonl file; - or a pipe: standard input")
    q.add_argument("-o", "--output", required=True,
                   help="row, text(s), prediction, p_<label>...: tsv, or csv/jsonl when the name ends so (also .gz...)")
    q.add_argument("--text", help="text column (default: the column the run was trained on)")
    q.add_argument("--text-pair", help="second text column for pair tasks (default: as trained)")
    q.add_argument("--format", help="input format (default: from the extension)")
    q.add_argument("--no-header", action="store_true", help="tsv/csv without a header: columns are 0, 1, ...")
    q.add_argument("--batch-size", type=int, default=64)
    q.set_defaults(func=cmd_finetune_predict)


def cmd_finetune(args) -> int:
    from nlplab.finetune.config import FinetuneConfig, preset
    from nlplab.finetune.train import run
    from nlplab.training.config import train

    # the task (and an ELMo task model) picks its preset, which sits under the run's config.yaml (--resume),
    # the --config file and the flags
    model = getattr(args, "model", None) or (config.load_yaml(args.config, FinetuneConfig).get("model")
                                             if args.config else None)
    return train(FinetuneConfig, args, "task", lambda task: preset(task, model), run, report)


def report(cfg, s: dict) -> None:
    best = s["best"]
    shown = ", ".join(f"{k} {100 * v:.2f}" for k, v in best["splits"][s["main"]].items())
    print(f"{cfg.output}: {s['task']} best {s['main']} at step {best['step']} (epoch {best['epoch']}): {shown}; "
          f"{s['steps']} steps, {s['samples_per_s']:,.0f} train samples/s, {s['seconds']:.0f}s", file=sys.stderr)


def cmd_finetune_eval(args) -> int:
    from nlplab.finetune.inference import Run, check_batch_size, eval_config, evaluate, run_config

    check_batch_size(args.batch_size)  # all before the model is loaded
    eval_config(run_config(args.run), args.run, args.data_dir, args.dev)
    got = evaluate(Run.load(args.run), args.data_dir, args.dev, args.batch_size)
    if args.json:
        print(json.dumps(got, indent=1))
        return 0
    for split, m in got.items():
        shown = ", ".join(f"{k} {100 * v:.2f}" for k, v in m.items() if k not in ("examples", "source"))
        print(f"{split} ({m['examples']:,} examples, {m['source']}): {shown}")
    return 0


def cmd_finetune_predict(args) -> int:
    from nlplab import io
    from nlplab.finetune.inference import Run, check_batch_size, predict_file, predict_format

    check_batch_size(args.batch_size)  # all before the model is loaded
    if args.output != "-":
        io.check_writable(args.output, [args.input])
    predict_format(args.output)
    n = predict_file(Run.load(args.run), args.input, args.output, args.text, args.text_pair, args.format,
                     args.no_header, args.batch_size)
    print(f"{args.output}: {n:,} rows labelled", file=sys.stderr)
    return 0
