"""`nlplab pretrain [train] | fill`: the parsers and the plain functions they call.

    nlplab pretrain CORPUS -o RUN --tokenizer SUBWORD_DIR [--objective mlm|electra] [--size mini]
    nlplab pretrain train CORPUS ...                     the same (train is the default sub-command)
    nlplab pretrain fill RUN "이 영화 정말 [MASK]" [--top-k 5] [--json]
"""

from __future__ import annotations

import json
import sys

from nlplab import config


def add_commands(sub):
    from nlplab.pretrain.config import PretrainConfig
    from nlplab.training.config import add_run_options

    p = sub.add_parser("pretrain", help="pretrain an encoder on a corpus (masked LM or ELECTRA); fill in [MASK]s",
                       description="Pretrain an encoder (`train`, the default sub-command) or fill in masks with one.")
    ss = p.add_subparsers(dest="subcommand", required=True, metavar="[train|fill]")
    t = ss.add_parser("train", help="pretrain into a run folder (`nlplab pretrain CORPUS ...` means the same)",
                      description="Pretrain an encoder. Precedence: defaults < the run's config.yaml (--resume) "
                                  "< --config FILE < flags.")
    config.add_arguments(t, PretrainConfig, positional=("corpus",))
    add_run_options(t)  # --config, --progress, --nproc
    t.set_defaults(func=cmd_pretrain)

    f = ss.add_parser("fill", help="the most likely tokens for each [MASK] of a text")
    f.add_argument("run", help="a pretraining run folder (ELECTRA: its generator fills)")
    f.add_argument("text", help="text with one or more [MASK] (the tokenizer's mask token)")
    f.add_argument("--top-k", type=int, default=5, help="fillers per mask")
    f.add_argument("--json", action="store_true", help="print one JSON object")
    f.set_defaults(func=cmd_fill)


def cmd_pretrain(args) -> int:
    from nlplab.pretrain.config import PretrainConfig
    from nlplab.pretrain.train import run
    from nlplab.training.config import train

    # no presets: a model's size is --size (nlplab/configs/pretrain.yaml)
    return train(PretrainConfig, args, "preset", lambda _: {}, run, report)


def report(cfg, s: dict) -> None:
    v = s["valid"]
    shown = "" if v is None else f", valid masked loss {v['mlm_loss']:.3f} acc {100 * v['mlm_accuracy']:.2f}" + (
        f", replaced-token acc {100 * v['disc_accuracy']:.2f} AUC {v['disc_auc']:.3f}" if "disc_auc" in v else "")
    print(f"{cfg.output}: {s['objective']} {s['size']}, {s['steps']} steps ({s['stopped']}), {s['tokens']:,} tokens at "
          f"{s['tokens_per_s']:,.0f}/s{shown}; {s['seconds']:.0f}s", file=sys.stderr)


def cmd_fill(args) -> int:
    from nlplab.pretrain.fill import fill

    got = fill(args.run, args.text, args.top_k)
    if args.json:
        print(json.dumps(got, ensure_ascii=False, indent=1))
        return 0
    for k, m in enumerate(got["masks"], 1):
        print(f"[MASK] {k}: " + "  ".join(f"{c['token']} {100 * c['p']:.1f}%" for c in m))
    return 0
