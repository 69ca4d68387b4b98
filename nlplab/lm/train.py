"""Train an ELMo-style biLM: forward and backward LSTM language models sharing a token
encoder and a softmax.

    nlplab lm train ../shared/data/ptb/train.txt --valid ../shared/data/ptb/valid.txt \
        --test ../shared/data/ptb/test.txt -o runs/ptb --preset small
    nlplab lm train ... -o runs/ptb --resume          # after an interruption: continues exactly

One function, top to bottom (nanoGPT's train.py in spirit): inputs, run folder, model and
optimizer, resume, loop with evaluations and checkpoints, test. See nlplab/lm/checkpoint.py
for what the run folder holds.

Several processes (`--nproc N`, or `torchrun --nproc_per_node N -m nlplab lm train ...`):
--batch-size is per process and the global batch is --batch-size x N: in stream mode the
global batch's streams are split between the ranks, in sentence mode each global batch;
DDP averages the gradients of losses weighed so that the mean is the global batch's, the
valid/test sets are read in shares (--eval-batch-size is global, so perplexities match one
process) with summed NLLs and token counts, and only rank 0 writes. See nlplab/dist.py.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from nlplab import NlplabError, dist, io, runlog
from nlplab.config import save, write_atomic
from nlplab.lm import data
from nlplab.lm.checkpoint import (
    CHECKPOINT,
    TOKENIZER,
    VOCAB,
    check_vocab,
    config_diff,
    load_pt,
    rng_state,
    save_model,
    save_pt,
    set_rng_state,
)
from nlplab.lm.config import LMConfig, cutoffs, filters
from nlplab.lm.evaluate import autocast_for, detach, evaluate
from nlplab.lm.model import BiLM, BiLMConfig
from nlplab.lm.vocab import TextTokenizer, Vocab
from nlplab.progress import Progress, close_logger, file_logger, null_logger


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_optimizer(cfg: LMConfig, model, device) -> torch.optim.Optimizer:
    params, wd = model.parameters(), cfg.weight_decay
    fused = True if device.type == "cuda" else None  # fused Adam(W) is a CUDA kernel
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=wd, fused=fused)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=wd, fused=fused)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=wd)
    # bilm-tf trains with Adagrad starting every accumulator at 1.0
    return torch.optim.Adagrad(params, lr=cfg.lr, weight_decay=wd, initial_accumulator_value=1.0)


def make_scheduler(cfg: LMConfig, optimizer, total: int):
    S = torch.optim.lr_scheduler
    if cfg.scheduler == "plateau":  # stepped with the valid perplexity after each evaluation
        return S.ReduceLROnPlateau(optimizer, mode="min", factor=cfg.lr_gamma, patience=cfg.patience, min_lr=cfg.min_lr)
    if cfg.scheduler == "step":
        return S.StepLR(optimizer, cfg.lr_step, cfg.lr_gamma)
    if cfg.scheduler == "cosine":
        return S.CosineAnnealingLR(optimizer, T_max=total, eta_min=cfg.min_lr)
    if cfg.scheduler == "cosine-restarts":
        return S.CosineAnnealingWarmRestarts(optimizer, T_0=cfg.lr_step, eta_min=cfg.min_lr)
    floor, warmup = cfg.min_lr / cfg.lr if cfg.lr else 0.0, cfg.warmup_steps

    def factor(step: int) -> float:  # constant, warmup-linear, warmup-cosine: linear warmup first
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        if cfg.scheduler == "warmup-linear":
            return floor + (1 - floor) * (1 - progress)
        if cfg.scheduler == "warmup-cosine":
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
        return 1.0
    return S.LambdaLR(optimizer, factor)


def default_valid(cfg: LMConfig) -> tuple[LMConfig, str | None]:
    """TRAIN a corpus folder (nlplab corpus build) and no --valid: its valid split validates,
    when it has a row. Returns the config (valid filled in, so config.yaml and --resume see
    it) and the line the log says about it."""
    split = io.corpus_split(cfg.train, "valid") if cfg.valid is None else None
    if split is None:
        return cfg, None
    rows = io.inspect(split, None, cfg.column).rows
    if not rows:
        return cfg, f"valid: none; {split} (the corpus folder's valid split) has no rows"
    return dataclasses.replace(cfg, valid=split), f"valid: {split}, the corpus folder's valid split ({rows:,} rows; --valid not given)"


def run(cfg: LMConfig, progress: bool | None = None) -> dict:
    # ---- inputs: every check that can fail comes before the run folder is touched
    t0 = time.perf_counter()
    d = dist.init()  # one process: nothing happens
    out = Path(cfg.output)
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise NlplabError("--device cuda: no GPU is visible; use --device cpu or auto")
    device = dist.device(d, cfg.device != "cpu")
    if cfg.precision == "bf16" and not dist.bf16_ok(device):
        raise NlplabError(f"--precision bf16: {dist.NO_BF16}; train in fp32")
    runlog.check_tracking(cfg.tracking)
    cfg, valid_note = default_valid(cfg)
    io.check_folder(cfg.output, [cfg.train, cfg.valid, cfg.test])
    ckpt = None
    if cfg.resume:
        if not (out / CHECKPOINT).is_file():
            raise NlplabError(f"{out}: no {CHECKPOINT} to resume from; start the run without --resume")
        ckpt = load_pt(out / CHECKPOINT)
        diff = config_diff(ckpt["config"], cfg)
        if diff:
            raise NlplabError(f"{out / CHECKPOINT}: the config differs from the run's in {', '.join(diff)}; "
                              f"resume with the run's options ({out / 'config.yaml'}) or start a new run")
    elif out.exists() and any(out.iterdir()):
        if not cfg.force:
            raise NlplabError(f"{out}: already exists; choose a new -o folder, --resume it, or pass --force to start over")
        if not (out / "config.yaml").exists():  # --force clears a run folder, never any other folder
            raise NlplabError(f"{out}: not an lm run folder (no config.yaml); choose a new -o folder")
    tokenizer = TextTokenizer(cfg.clean, cfg.pretokenize, cfg.tokenizer if cfg.encoder == "subword" else None)
    tokens = data.read(cfg.train, tokenizer, cfg.column)
    if cfg.encoder == "subword":
        vocab = Vocab.from_subword(tokenizer.subword)
    else:
        vocab = Vocab.build(tokens.counts(), cfg.min_count, cfg.max_vocab)
    if ckpt is not None:
        check_vocab(cfg.train, ckpt["vocab"], vocab, "the training file or tokenizer changed since the run started; "
                    "resume with the same ones or start a new run")
    # the global batch of the checkpoint is kept on any number of processes
    global_batch = ckpt.get("global_batch", cfg.batch_size) if ckpt is not None else cfg.batch_size * d.world
    if global_batch % d.world:
        raise NlplabError(f"{out}: the run's global batch of {global_batch} does not split over {d.world} processes; "
                          f"resume with a number of processes that divides {global_batch}")
    char = cfg.encoder == "char"
    corpora = {"train": data.Corpus(tokens, vocab, char, cfg.max_chars)}
    for split in ("valid", "test"):
        if getattr(cfg, split):
            corpora[split] = data.Corpus(data.read(getattr(cfg, split), tokenizer, cfg.column), vocab, char, cfg.max_chars)
    train_b = data.batches(corpora["train"], cfg.mode, global_batch, cfg.bptt, device, shuffle=True, seed=cfg.seed)
    eval_b = {s: data.batches(c, cfg.mode, cfg.eval_batch_size, cfg.bptt, device, eval_=True)
              for s, c in corpora.items() if s != "train"}
    if d.enabled:  # this rank's streams / sentences; evaluation: its streams / whole batches
        train_b.shard(d.rank, d.world)
        for b in eval_b.values():
            b.shard(d.rank, d.world) if b.stateful else b.shard(d.rank, d.world, whole=True)
    bilm_cfg = BiLMConfig(
        vocab_size=len(vocab), encoder="char" if char else "embedding", proj_dim=cfg.proj_dim, hidden_dim=cfg.hidden_dim,
        layers=cfg.layers, dropout=cfg.dropout, variational=cfg.variational, char_dim=cfg.char_dim,
        char_filters=[list(f) for f in filters(cfg.char_filters)], highway=cfg.highway, max_chars=cfg.max_chars, tie=cfg.tie, softmax=cfg.softmax,
        cutoffs=cutoffs(cfg.cutoffs, len(vocab)) if cfg.softmax == "adaptive" else [], pad_id=vocab.pad)

    # ---- run folder: config, vocabulary (and the subword folder), log, metrics, TensorBoard
    from torch.utils.tensorboard import SummaryWriter

    dist.barrier()  # every rank has checked the folder as it was; only rank 0 writes
    if ckpt is None and d.is_main:
        if out.exists():
            for old in out.iterdir():
                shutil.rmtree(old) if old.is_dir() else old.unlink()
        out.mkdir(parents=True, exist_ok=True)
        save(cfg, out / "config.yaml")
        write_atomic(out / VOCAB, vocab.to_json())
        if cfg.encoder == "subword":
            shutil.copytree(cfg.tokenizer, out / TOKENIZER)
    earlier_log = (out / "train.log").read_text(encoding="utf-8") if ckpt is not None and (out / "train.log").exists() else ""
    log = file_logger(out / "train.log", "nlplab.lm") if d.is_main else null_logger()
    if earlier_log and d.is_main:  # file_logger truncates; a resumed run keeps what came before
        log.handlers[0].stream.write(earlier_log)
    # run records (nlplab/runlog.py); metrics.jsonl keeps the records up to the checkpoint: the rest is replayed
    if d.is_main:
        runlog.write_environment(out, device, d.world, resumed=ckpt is not None)
    tracker = runlog.tracker(out, "lm", cfg, d.is_main, resumed=ckpt is not None)
    mlog = runlog.MetricsLog(out, d.is_main, ckpt["step"] if ckpt is not None else None, tracker)
    tb = SummaryWriter(str(out / "tb"), purge_step=ckpt["step"] + 1 if ckpt else None) if d.is_main else None
    log.info("config: %s", json.dumps(dataclasses.asdict(cfg)))
    if valid_note:
        log.info(valid_note)
    for name, c in corpora.items():
        log.info("%s: %s, %d lines, %d tokens, %.2f%% <unk>", name, c.path, len(c.lengths), c.n_tokens, 100 * c.n_unk / c.n_tokens)

    # ---- model, optimizer, schedule; on --resume their saved state, the data position and RNGs
    seed_everything(cfg.seed)
    model = BiLM(bilm_cfg).to(device)
    # the adaptive softmax leaves the clusters no target of a batch falls in without gradients
    ddp = dist.wrap_ddp(model, device, find_unused=cfg.softmax == "adaptive")
    if d.enabled:
        dist.seed_rank(cfg.seed, d)  # dropout masks of their own
    optimizer = make_optimizer(cfg, model, device)
    steps_per_epoch = len(train_b)
    total = cfg.epochs * steps_per_epoch if not cfg.max_steps else min(cfg.max_steps, cfg.epochs * steps_per_epoch)
    scheduler = make_scheduler(cfg, optimizer, total)
    autocast = autocast_for(device, cfg.precision)
    n_params = sum(p.numel() for p in model.parameters())
    n_forward = n_params - sum(p.numel() for p in model.backward_lm.parameters())  # the forward LM alone
    step, epoch0, batch0, state, history, best, stale, last_ckpt = 0, 0, 0, None, [], None, 0, None
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        step, (epoch0, batch0), history = ckpt["step"], ckpt["position"], ckpt["history"]
        best, stale, last_ckpt = ckpt["best"], ckpt["stale"], ckpt["step"]
        if ckpt["state"] is not None:  # the global batch's states: this rank's rows of them
            lo, hi = getattr(train_b, "rows", (0, global_batch))
            state = tuple([(h[:, lo:hi].to(device), c[:, lo:hi].to(device)) for h, c in lm] for lm in ckpt["state"])
        set_rng_state(ckpt["rng"])
        if d.enabled:
            dist.seed_rank(cfg.seed, d, step)
        log.info("resumed at step %d (epoch %d, batch %d)", step, epoch0, batch0)
    log.info("model: %.2fM parameters (forward LM %.2fM), vocabulary %d, %d steps (%d per epoch), device %s",
             n_params / 1e6, n_forward / 1e6, len(vocab), total, steps_per_epoch, device)
    log.info("global batch %d = %d per process x %d processes", global_batch, global_batch // d.world, d.world)

    def record(rec: dict) -> None:
        if not d.is_main:
            return
        mlog.write(rec)
        for k, v in rec.items():
            if isinstance(v, float) and k not in ("epoch",):
                tb.add_scalar(f"{rec['split']}/{k}", v, rec["step"])

    def validate(epoch: float) -> bool:
        """Valid perplexity; best weights to model.pt, plateau, early stopping. True: stop."""
        nonlocal best, stale
        r = evaluate(model, eval_b["valid"], autocast)
        rec = {"split": "valid", "step": step, "epoch": round(epoch, 3), **r, "lr": optimizer.param_groups[0]["lr"]}
        rec["best"] = best is None or r["mean_ppl"] < best["mean_ppl"]
        history.append(rec)
        record(rec)
        log.info("valid step %d: forward ppl %.2f, backward ppl %.2f, mean %.2f%s", step, r["forward_ppl"],
                 r["backward_ppl"], r["mean_ppl"], " (best)" if rec["best"] else "")
        if cfg.scheduler == "plateau":
            scheduler.step(r["mean_ppl"])
        if rec["best"]:
            best, stale = rec, 0
            if d.is_main:
                save_model(out, model, vocab, step)
            return False
        stale += 1
        return bool(cfg.early_stopping) and stale >= cfg.early_stopping

    def checkpoint(position) -> None:
        nonlocal last_ckpt
        carried = None if state is None else [[(h.cpu(), c.cpu()) for h, c in lm] for lm in state]
        if d.enabled and carried is not None:  # every rank's streams, in rank order: the global batch's states
            parts = dist.all_gather_object(carried)
            carried = [[tuple(torch.cat([p[k][j][x] for p in parts], 1) for x in (0, 1)) for j in range(len(lm))]
                       for k, lm in enumerate(carried)]  # (1, B, H) each
        if d.is_main:
            save_pt({"config": dataclasses.asdict(cfg), "vocab": vocab.fingerprint(), "step": step, "position": position,
                     "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "state": carried, "history": history, "best": best,
                     "stale": stale, "rng": rng_state(), "global_batch": global_batch}, out / CHECKPOINT)
        last_ckpt = step

    def fail(what: str) -> NlplabError:
        kept = f"the last good checkpoint ({out / CHECKPOINT}, step {last_ckpt}) is kept" if last_ckpt is not None \
            else "no checkpoint was written yet"
        log.info("stopped: %s", what)
        if tb:
            tb.close()
        close_logger(log)
        return NlplabError(f"step {step + 1}: {what}; training stopped and {kept}; lower --lr, set --clip, or --resume")

    # ---- training loop: one step = one window (stream) or one batch of sentences
    model.train()
    stop = bool(cfg.early_stopping) and stale >= cfg.early_stopping  # an early-stopped run stays stopped on --resume
    window = {"nll_f": 0.0, "nll_b": 0.0, "tokens": 0, "t": time.perf_counter()}
    step_times, data_times, step_tokens = [], [], []
    deadline, out_of_time = dist.deadline(d, cfg.max_minutes), False
    position = (epoch0, batch0)  # the next batch to read: (epoch, index)
    with Progress(total=total, counters=("tokens",), log=log, desc="lm train", enabled=progress if d.is_main else False,
                  deadline=deadline if math.isfinite(deadline) else None) as prog:
        prog.resume_at(step)
        for epoch in range(epoch0, cfg.epochs):
            if stop or step >= total:  # a finished run, resumed: nothing left to do
                break
            first = batch0 if epoch == epoch0 else 0
            if first == 0:
                state = None  # a new pass starts from a zero state
            for i in range(first, steps_per_epoch):
                t_start = time.perf_counter()
                b = train_b.batch(i, epoch)
                t_data = time.perf_counter() - t_start
                with autocast():
                    nll_f, nll_b, state = ddp(b["fwd_in"], b["fwd_tgt"], b["bwd_in"], b["bwd_tgt"], state)
                tokens = b["tokens"]
                if not d.enabled:
                    n_f = (b["fwd_tgt"] != data.IGNORE).sum().clamp(min=1)
                    n_b = (b["bwd_tgt"] != data.IGNORE).sum().clamp(min=1)
                    loss_f, loss_b = nll_f.sum() / n_f, nll_b.sum() / n_b
                else:  # the global batch's mean NLL: DDP averages over ranks, hence x world over global counts
                    n = torch.stack([(b["fwd_tgt"] != data.IGNORE).sum(), (b["bwd_tgt"] != data.IGNORE).sum()])
                    n = n * d.world if train_b.stateful else dist.all_reduce_sum(n)  # streams: equal shares
                    loss_f, loss_b = nll_f.sum() * d.world / n[0].clamp(min=1), nll_b.sum() * d.world / n[1].clamp(min=1)
                    tokens = int(n[0])
                loss = (loss_f + loss_b) / 2
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip or math.inf)
                lf, lb, gn = torch.stack([loss_f.detach().float(), loss_b.detach().float(), norm.float()]).tolist()
                out_of_time = time.perf_counter() > deadline  # this step still completes
                if d.enabled:  # the global batch's losses, the same on every rank (so is a NaN stop);
                    # out of time on any rank: every rank stops after this step (each has its own clock)
                    lf, lb, late = dist.all_reduce_mean(torch.tensor([lf, lb, out_of_time], dtype=torch.float64)).tolist()
                    out_of_time = late > 0
                if not all(map(math.isfinite, (lf, lb, gn))):  # before the update: the weights stay good
                    raise fail(f"the loss is not finite (forward {lf}, backward {lb}, gradient norm {gn})")
                optimizer.step()
                if cfg.scheduler != "plateau":
                    scheduler.step()
                state = detach(state) if train_b.stateful else None
                step += 1
                dist.crash_hook(d, step)
                position = (epoch, i + 1)
                step_times.append(time.perf_counter() - t_start)
                data_times.append(t_data)
                step_tokens.append(tokens)
                window["nll_f"] += lf * tokens
                window["nll_b"] += lb * tokens
                window["tokens"] += tokens
                prog.update(advance=1, tokens=tokens)
                if step % cfg.log_every == 0 or step == total:
                    dt = time.perf_counter() - window["t"]
                    f, bw = window["nll_f"] / window["tokens"], window["nll_b"] / window["tokens"]
                    rec = {"split": "train", "step": step, "epoch": round(step / steps_per_epoch, 3),
                           "loss": (f + bw) / 2, "forward_ppl": math.exp(f), "backward_ppl": math.exp(bw),
                           "mean_ppl": math.exp((f + bw) / 2), "tokens_per_s": window["tokens"] / dt,
                           "lr": optimizer.param_groups[0]["lr"]}
                    record(rec)
                    log.info("step %d: loss %.4f, ppl forward %.2f backward %.2f, lr %.2e, %s", step, rec["loss"],
                             rec["forward_ppl"], rec["backward_ppl"], rec["lr"], prog.line())
                    window = {"nll_f": 0.0, "nll_b": 0.0, "tokens": 0, "t": time.perf_counter()}
                if cfg.eval_every and step % cfg.eval_every == 0 and "valid" in eval_b:
                    stop = validate(step / steps_per_epoch)
                if step % cfg.checkpoint_every == 0:
                    checkpoint(position)
                if stop or out_of_time or step >= total:
                    break
            if "valid" in eval_b and not (history and history[-1]["step"] == step):
                stop = validate(step / steps_per_epoch) or stop
            if stop or out_of_time or step >= total:
                break
        rate = prog.rates()["tokens_per_s"]
    stopped = "early_stopping" if stop else "max_steps" if cfg.max_steps and step >= cfg.max_steps \
        else "max_minutes" if out_of_time else "epochs"
    checkpoint(position)  # also after the last evaluation, so a finished run resumes to a no-op

    # ---- the best weights (the last ones without --valid) and the test set
    if "valid" not in eval_b:
        if d.is_main:
            save_model(out, model, vocab, step)
    else:
        dist.barrier()  # rank 0 has written model.pt
        model.load_state_dict(load_pt(out / "model.pt")["model"])
    summary = {"steps": step, "epochs": round(step / steps_per_epoch, 3), "stopped": stopped, "parameters": n_params,
               "forward_parameters": n_forward,
               "vocab_size": len(vocab), "train_tokens": corpora["train"].n_tokens, "device": str(device),
               "tokens_per_s": rate, "seconds": time.perf_counter() - t0,
               "tokens_per_s_median": statistics.median(t / s for t, s in zip(step_tokens, step_times)) if step_times else None,
               "data_fraction": sum(data_times) / sum(step_times) if step_times else None,
               "peak_gpu_memory_mb": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None,
               "processes": d.world,
               "best": best, "valid": history[-1] if history else None}
    if "test" in eval_b:
        r = evaluate(model, eval_b["test"], autocast)
        summary["test"] = r
        record({"split": "test", "step": step, **r})
        log.info("test: forward ppl %.2f, backward ppl %.2f, mean %.2f", r["forward_ppl"], r["backward_ppl"], r["mean_ppl"])
    if d.is_main:
        write_atomic(out / "metrics.json", json.dumps(summary, indent=1) + "\n")
    if tracker is not None:
        tracker.finish(summary)
    log.info("done: %d steps (%s), %.0f tokens/s, %.0fs", step, stopped, rate, summary["seconds"])
    if tb:
        tb.close()
    close_logger(log)
    return summary
