"""`nlplab lm train|eval|embed`: the parsers and the plain functions they call.

    nlplab lm train TRAIN -o RUN --preset small [--nproc 2]     --nproc: N processes under torchrun
"""

from __future__ import annotations

import json
import sys

from nlplab import NlplabError, config


def add_commands(sub):
    from nlplab.lm.config import LMConfig
    from nlplab.training.config import add_run_options

    p = sub.add_parser("lm", help="ELMo-style biLM: train forward+backward LSTM LMs, perplexity, contextual embeddings")
    ss = p.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
    t = ss.add_parser("train", help="train a biLM into a run folder (presets: tiny, small, ptb, elmo-small, elmo-original)",
                      description="Train a biLM. Precedence: defaults < --preset < the run's config.yaml (--resume) "
                                  "< --config FILE < flags.")
    config.add_arguments(t, LMConfig, positional=("train",))
    add_run_options(t)  # --config, --progress, --nproc
    t.set_defaults(func=cmd_lm_train)

    e = ss.add_parser("eval", help="forward, backward and mean perplexity of a run on a file")
    e.add_argument("run", help="run folder from `nlplab lm train`")
    e.add_argument("--data", required=True, help="text file, read as the run was trained (mode, tokenizer, --column)")
    e.add_argument("--batch-size", type=int, help="streams (sentences) per batch (default: the run's --eval-batch-size)")
    e.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when visible")
    e.add_argument("--json", action="store_true", help="print one JSON object (forward_ppl, backward_ppl, mean_ppl, ...)")
    e.set_defaults(func=cmd_lm_eval)

    m = ss.add_parser("embed", help="ELMo representations per token (all layers + scalar mix) as .pt or .npy + .json")
    m.add_argument("run", help="run folder from `nlplab lm train`")
    m.add_argument("input", help="txt file, one sentence per line")
    m.add_argument("-o", "--output", required=True, help="OUT.pt (torch dict) or OUT.npy (array, alignment in OUT.json)")
    m.add_argument("--batch-size", type=int, default=32, help="sentences per batch")
    m.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when visible")
    m.set_defaults(func=cmd_lm_embed)


def cmd_lm_train(args) -> int:
    from nlplab.lm.config import LMConfig, preset
    from nlplab.lm.train import run
    from nlplab.training.config import train

    # the preset sits under the run's config.yaml (--resume), the --config file and the flags
    return train(LMConfig, args, "preset", preset, run, report)


def report(cfg, s: dict) -> None:
    shown = ""
    for split in ("valid", "test"):
        r = s["best"] if split == "valid" else s.get("test")
        if r:
            shown += f"; {split} ppl forward {r['forward_ppl']:.2f} backward {r['backward_ppl']:.2f} mean {r['mean_ppl']:.2f}"
    print(f"{cfg.output}: {s['steps']} steps ({s['stopped']}), {s['parameters'] / 1e6:.2f}M parameters, "
          f"{s['tokens_per_s']:,.0f} tokens/s, {s['seconds']:.0f}s{shown}", file=sys.stderr)


def cmd_lm_eval(args) -> int:
    from nlplab.lm.evaluate import eval_file

    if args.batch_size is not None and args.batch_size < 1:
        raise NlplabError(f"--batch-size must be at least 1, got {args.batch_size}")
    r = eval_file(args.run, args.data, args.batch_size, args.device)
    if args.json:
        print(json.dumps(r))
    else:
        print(f"{args.data}: forward ppl {r['forward_ppl']:.2f}, backward ppl {r['backward_ppl']:.2f}, "
              f"mean ppl {r['mean_ppl']:.2f} ({r['tokens']:,} tokens per direction, {100 * r['unk_rate']:.2f}% <unk>)")
    return 0


def cmd_lm_embed(args) -> int:
    from nlplab import io
    from nlplab.lm.checkpoint import load_run
    from nlplab.lm.embed import check_output, embed, save

    check_output(args.output)
    if args.batch_size < 1:
        raise NlplabError(f"--batch-size must be at least 1, got {args.batch_size}")
    model = load_run(args.run, args.device).model
    texts = list(io.iter_texts(io.inspect(args.input, "txt")))
    if not texts:
        raise NlplabError(f"{args.input}: empty file; give one sentence per line")
    outputs = embed(model, texts, args.batch_size)
    meta = save(outputs, args.output, model)
    n = sum(len(o["tokens"]) for o in outputs)
    print(f"{args.output}: {len(outputs):,} sentences, {n:,} tokens, {len(meta['layer_names'])} layers of {meta['dim']}",
          file=sys.stderr)
    return 0
