"""Pretrain an encoder on a corpus: BERT's masked LM (RoBERTa-style: dynamic masking, packed
blocks, no next-sentence task) or ELECTRA's replaced-token detection.

    nlplab pretrain train out/ko-reviews -o runs/ko-electra --tokenizer runs/spm-ko --objective electra
    nlplab pretrain train ... -o runs/ko-electra --resume            # after an interruption: exactly
    nlplab finetune --task nsmc --data-dir ../shared/data/nsmc --model runs/ko-electra -o runs/nsmc

One function, top to bottom, on the plumbing fine-tuning and the biLM share
(nlplab/training/): inputs, run folder, the token stream (cached), model and optimizer,
resume, the loop with evaluations and checkpoints, the model folder. The run folder ends
with config.json + model.safetensors (BertForMaskedLM for mlm, ElectraForPreTraining for
electra: AutoModelForMaskedLM / AutoModelForPreTraining load them, `nlplab finetune
--model RUN` fine-tunes them), ELECTRA's generator in generator/ (`nlplab pretrain fill`),
the tokenizer and the subword folder's pre-split recipe, config.yaml, metrics.json,
metrics.jsonl, train.log, environment.json, TensorBoard events in tb/, and while it runs
checkpoint/last.pt.

Each global batch (--batch-size x processes) is masked whole, from a generator seeded by
(seed, epoch, batch), on every rank alike; each rank trains on its rows. So the masks do
not depend on the number of processes or on a resume, and the loss is the mean over the
global batch's masked tokens (ELECTRA: + 50 x the mean over its tokens) however it is split.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from nlplab import NlplabError, dist, runlog
from nlplab.config import write_atomic
from nlplab.pretrain import data, model
from nlplab.pretrain.config import PretrainConfig
from nlplab.progress import Progress, close_logger
from nlplab.subword.load import load_tokenizer, save_tokenizer, text_prep
from nlplab.training import checkpoint, logs, optim
from nlplab.training.config import default_valid

CHECKPOINT = Path("checkpoint") / "last.pt"  # removed when the run finishes; kept when --max-minutes cut the schedule short (--resume goes on)
GENERATOR = "generator"
# the counts model.MaskedLM / model.Electra return, summed over a window or the valid set
COUNTS = {"mlm": ("mlm_loss_sum", "masked", "correct"),
          "electra": ("mlm_loss_sum", "masked", "correct", "disc_loss_sum", "tokens", "replaced", "disc_correct")}  # ELECTRA's generator, beside the discriminator (`nlplab pretrain fill`)


def resolve(cfg: PretrainConfig) -> tuple[str | None, str]:
    """(the model folder to continue or None, the tokenizer folder), checked before any work."""
    from nlplab.pretrained import minilm_dir

    start = str(minilm_dir()) if cfg.model == "minilm" else cfg.model
    if start is not None:
        if not (Path(start) / "config.json").is_file():
            raise NlplabError(f"--model {cfg.model}: no config.json there; give a model folder (save_pretrained) or minilm")
        table = json.loads((Path(start) / "config.json").read_text(encoding="utf-8")).get("max_position_embeddings", 512)
        if cfg.max_length > table:  # a fresh model's table is made to fit
            raise NlplabError(f"--max-length {cfg.max_length} is above the model's {table} positions; give --max-length "
                              f"{table} or less")
    return start, cfg.tokenizer or start


def masked_batch(stream: data.Stream, blocks, cfg: PretrainConfig, tokenizer, special, gen) -> dict:
    """The global batch of `blocks`, masked: inputs, labels (-100: not predicted), the
    original ids and (ELECTRA) one U(0, 1) draw per masked position for the sampling."""
    ids, starts = data.batch(stream, blocks, cfg.max_length, tokenizer.cls_token_id)
    keep = (1.0, 0.0) if cfg.objective == "electra" else (0.8, 0.1)  # ELECTRA's generator sees [MASK] only
    inputs, labels = data.mask_tokens(ids, starts, special, tokenizer.mask_token_id, len(tokenizer), gen,
                                      cfg.mask_rate, cfg.mask == "whole-word", keep)
    masked = labels != -100
    uniform = torch.rand(int(masked.sum()), generator=gen) if cfg.objective == "electra" else None
    return {"inputs": inputs, "labels": labels, "original": ids, "masked": masked, "uniform": uniform}


def rank_rows(b: dict, rows: slice, device) -> dict:
    """This rank's rows of a masked global batch (its slice of the draws: the masked
    positions before its first row come first, row-major)."""
    part = {k: b[k][rows].to(device, non_blocking=True) for k in ("inputs", "labels", "original")}
    part["masked"], part["uniform"] = b["masked"][rows], None
    if b["uniform"] is not None:
        before = int(b["masked"][:rows.start].sum())
        part["uniform"] = b["uniform"][before:before + int(part["masked"].sum())]
    return part


def objective_loss(cfg: PretrainConfig, loss_sum, stats: dict, masked: int, tokens: int, world: int):
    """The loss to back-propagate: the global batch's mean, x world (DDP averages ranks)."""
    loss = loss_sum / max(masked, 1)
    if cfg.objective == "electra":
        loss = loss + model.DISCRIMINATOR_WEIGHT * stats["disc_loss_sum"] / tokens
    return loss * world


def summed(stats: dict, window: dict) -> None:
    """Add a step's counts to the window (tensors; read once per log line)."""
    for k, v in stats.items():
        if k not in ("disc_logits", "disc_labels"):
            window[k] = window.get(k, 0) + v.detach().float()


def reduced(window: dict, d: dist.Dist) -> dict:
    """The window's counts summed over every rank, as floats (one all-reduce)."""
    keys = sorted(window)
    sums = torch.stack([torch.as_tensor(window[k], dtype=torch.float64).cpu() for k in keys])
    return dict(zip(keys, (dist.all_reduce_sum(sums) if d.enabled else sums).tolist()))


def batch_generator(seed: int, epoch: int, i: int) -> torch.Generator:
    """The masks of global batch i of an epoch: the same on every rank, after any resume."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, epoch, i]).generate_state(1)[0]))


def rates(w: dict) -> dict:
    """Masked-token loss and accuracy (ELECTRA: replaced-token loss and accuracy too) of summed counts.
    ELECTRA's `disc_prior_loss` is the loss of a discriminator that knows nothing but the replaced
    rate p (the binary entropy of p): a disc_loss at it means the discriminator has learnt nothing."""
    r = {"mlm_loss": w["mlm_loss_sum"] / max(w["masked"], 1), "mlm_accuracy": w["correct"] / max(w["masked"], 1)}
    if "disc_loss_sum" in w:
        p = float(w["replaced"]) / float(w["tokens"])
        r.update(disc_loss=w["disc_loss_sum"] / w["tokens"], disc_accuracy=w["disc_correct"] / w["tokens"],
                 replaced=p, disc_prior_loss=-sum(q * math.log(q) for q in (p, 1 - p) if q > 0))
    return r


def at_prior(r: dict) -> bool:
    """ELECTRA's discriminator no better than its prior (loss within 2% of it)."""
    return "disc_prior_loss" in r and float(r["disc_loss"]) >= 0.98 * r["disc_prior_loss"]


@torch.no_grad()
def evaluate(net, valid: dict | None, cfg, d: dist.Dist, device, autocast) -> dict:
    """Masked-token loss/accuracy (ELECTRA: replaced-token accuracy and AUC) on the fixed valid
    batches; several processes: every world-th batch each, counts summed."""
    net.eval()
    w, scores, labels = {}, [], []
    for k, b in enumerate(valid["batches"]):
        if k % d.world != d.rank:
            continue
        part = rank_rows(b, slice(0, len(b["inputs"])), device)
        with autocast():
            _, stats = net(**part)
        summed(stats, w)
        if "disc_logits" in stats:
            scores.append(stats["disc_logits"].float().cpu().flatten())
            labels.append(stats["disc_labels"].cpu().flatten())
    net.train()
    r = {k: float(v) for k, v in rates(reduced({k: w.get(k, 0.0) for k in COUNTS[cfg.objective]}, d)).items()}
    if cfg.objective == "electra":
        parts = dist.all_gather_object((torch.cat(scores) if scores else torch.zeros(0),
                                        torch.cat(labels) if labels else torch.zeros(0)))
        r["disc_auc"] = model.auc(torch.cat([s for s, _ in parts]), torch.cat([y for _, y in parts]))
    return r


def tokenizer_fingerprint(folder: str) -> str:
    f = Path(folder) / "tokenizer.json"
    return hashlib.sha256(f.read_bytes()).hexdigest()[:16] if f.is_file() else "none"


def run(cfg: PretrainConfig, progress: bool | None = None) -> dict:
    # ---- inputs: every check that can fail comes before the run folder is touched
    t0 = time.perf_counter()
    d = dist.init()  # one process: nothing happens
    device = dist.device(d)
    optim.check_precision(cfg.precision, device)
    runlog.check_tracking(cfg.tracking)
    spec = model.size(cfg.size)
    start, tok_path = resolve(cfg)
    data.input_files(cfg.corpus)  # a missing corpus: one line, now
    cfg, valid_note = default_valid(cfg, cfg.corpus)
    ckpt = checkpoint.check_run_folder(cfg, [cfg.corpus, cfg.valid, cfg.tokenizer], "a pretraining", CHECKPOINT)
    tokenizer, prepare, tok_print = load_tokenizer(tok_path), text_prep(tok_path), tokenizer_fingerprint(tok_path)
    if ckpt is not None and ckpt["tokenizer"] != tok_print:
        raise NlplabError(f"{tok_path}: the tokenizer changed since the run started (its tokenizer.json differs); "
                          "resume with the same one or start a new run")
    global_batch = checkpoint.check_global_batch(ckpt, cfg.batch_size, d, cfg.output)
    rows = data.share(global_batch, d.rank, d.world)

    # ---- run folder, logs, the token streams (tokenized once, cached in RUN/cache)
    out = checkpoint.start_run_folder(cfg, d, fresh=ckpt is None)
    log, mlog = logs.open_logs(out, "pretrain", cfg, d, device, ckpt["step"] if ckpt else None)
    log.info("%s: %s", "resume" if ckpt else "config", json.dumps(dataclasses.asdict(cfg)))
    if valid_note:
        log.info(valid_note)
    with dist.main_first():  # rank 0 tokenizes and caches, the others read its cache
        train = data.tokenize(cfg.corpus, tokenizer, prepare, out / "cache", log)
        held = data.tokenize(cfg.valid, tokenizer, prepare, out / "cache", log) if cfg.valid else None
    n_blocks = data.n_blocks(train, cfg.max_length)
    per_epoch = n_blocks // global_batch  # global batches; the remainder of the shuffled blocks waits a pass
    if per_epoch == 0:
        raise NlplabError(f"{cfg.corpus}: {len(train):,} tokens make {n_blocks} blocks of {cfg.max_length}, fewer than "
                          f"one global batch of {global_batch}; give a larger corpus or a smaller --batch-size")
    log.info("train: %s, %d documents, %d tokens, %d blocks of %d (%d tokens left over)", train.source, train.documents,
             len(train), n_blocks, cfg.max_length, len(train) - n_blocks * (cfg.max_length - 1))
    special = data.special_table(tokenizer)
    valid = None
    if held is not None and data.n_blocks(held, cfg.max_length):
        blocks = list(range(min(cfg.eval_blocks, data.n_blocks(held, cfg.max_length))))
        gen = torch.Generator().manual_seed(cfg.seed + 7919)  # the same valid masks at every evaluation, and
        whole = masked_batch(held, blocks, cfg, tokenizer, special, gen)  # on any number of processes
        valid = {"batches": [rank_rows(whole, slice(i, i + cfg.batch_size), "cpu")
                             for i in range(0, len(blocks), cfg.batch_size)], "blocks": len(blocks)}
        log.info("valid: %s, %d blocks scored", held.source, len(blocks))

    # ---- model, optimizer, schedule; on --resume their state, the data position and RNGs
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Writing model shards" would mix with our progress
    optim.seed_everything(cfg.seed)
    net = model.build(cfg.objective, spec, tokenizer, cfg.max_length, start, cfg.dropout).to(device).train()
    ddp = dist.wrap_ddp(net, device)
    if d.enabled:
        dist.seed_rank(cfg.seed, d)  # dropout masks of their own
    optimizer = optim.make_optimizer(cfg, net, device)
    steps_per_epoch = math.ceil(per_epoch / cfg.grad_accum)
    total = cfg.max_steps or cfg.epochs * steps_per_epoch
    epochs = math.ceil(total / steps_per_epoch)
    scheduler, scaler = optim.make_schedule(cfg, optimizer, total), optim.make_scaler(cfg.precision)
    autocast = optim.autocast_for(device, cfg.precision)
    step_fn = torch.compile(ddp) if cfg.compile else ddp  # packed blocks: one shape
    n_params = sum(p.numel() for p in net.for_finetuning().parameters())
    log.info("model: %s %s%s (%.1fM parameters kept for fine-tuning, %.1fM trained), %d steps (%d per epoch), "
             "warmup %d, device %s", cfg.objective, cfg.size, f" from {start}" if start else "", n_params / 1e6,
             sum(p.numel() for p in net.parameters()) / 1e6, total, steps_per_epoch, optim.warmup_steps(cfg, total), device)
    log.info("global batch %d blocks = %d per process x %d processes x %d accumulation (%d tokens a step)",
             global_batch * cfg.grad_accum, global_batch // d.world, d.world, cfg.grad_accum,
             global_batch * cfg.grad_accum * cfg.max_length)
    step, position, evals = 0, {"epoch": 0, "batch": 0}, logs.new_evals()
    counters, last_ckpt = {"tokens": 0, "train_seconds": 0.0}, None
    if ckpt is not None:
        checkpoint.restore(ckpt, net, optimizer, scheduler, scaler, cfg.seed, d)
        step, position, evals, counters, last_ckpt = (ckpt["step"], ckpt["position"], ckpt["evals"], ckpt["counters"],
                                                      ckpt["step"])
        log.info("resumed at step %d (epoch %d, batch %d)", step, position["epoch"], position["batch"])
        del ckpt

    def validate() -> None:
        r = evaluate(net, valid, cfg, d, device, autocast)
        rec = {"split": "valid", "step": step, "epoch": round(step / steps_per_epoch, 3), **r}
        rec["best"] = logs.improved(evals, r["mlm_loss"] if cfg.objective == "mlm" else r["disc_loss"], False)
        evals["history"].append(rec)
        mlog.write(rec)
        log.info("valid step %d: %s", step, json.dumps({k: round(v, 4) for k, v in r.items()}))
        if at_prior(r):
            log.info("valid step %d: the discriminator is at its prior (loss %.4f, prior %.4f): it has learnt "
                     "nothing, or lost the frequency cue once its generator caught up; a small ELECTRA needs a "
                     "long budget (on a short one, --objective mlm learns more)", step, r["disc_loss"], r["disc_prior_loss"])

    def save() -> None:
        nonlocal last_ckpt
        if d.is_main:
            checkpoint.save_checkpoint(out / CHECKPOINT, step=step, position=position, global_batch=global_batch,
                                       model=net, optimizer=optimizer, scheduler=scheduler, scaler=scaler, evals=evals,
                                       counters=counters, tokenizer=tok_print)
        last_ckpt = step

    # ---- training loop: a step = --grad-accum global batches of packed, freshly masked blocks
    window, window_tokens, micro, out_of_time = {}, 0, 0, False
    deadline = dist.deadline(d, cfg.max_minutes)
    tokens_per_batch = global_batch * cfg.max_length
    with Progress(total=total, counters=("tokens",), log=log, desc=f"pretrain {cfg.objective}",
                  enabled=progress if d.is_main else False, deadline=deadline if math.isfinite(deadline) else None) as prog:
        prog.resume_at(step)
        t_train = t_window = time.perf_counter()
        for epoch in range(position["epoch"], epochs):
            if step >= total:
                break
            perm = data.order(n_blocks, cfg.seed, epoch)
            for i in range(position["batch"] if epoch == position["epoch"] else 0, per_epoch):
                b = masked_batch(train, perm[i * global_batch:(i + 1) * global_batch], cfg, tokenizer, special,
                                 batch_generator(cfg.seed, epoch, i))
                micro += 1
                accumulating = micro < cfg.grad_accum and i + 1 < per_epoch
                with dist.no_sync(ddp, accumulating):  # the batches before a step's last: no all-reduce
                    with autocast():
                        loss_sum, stats = step_fn(**rank_rows(b, rows, device))
                        loss = objective_loss(cfg, loss_sum, stats, int(b["masked"].sum()), tokens_per_batch, d.world)
                    scaler.scale(loss / cfg.grad_accum).backward()
                summed(stats, window)
                if accumulating:
                    continue
                norm = optim.clip_gradients(net, optimizer, scaler, cfg.clip)
                loss_now, norm_now = torch.stack([loss.detach().float(), norm.float()]).tolist()  # one device sync
                bad = not (math.isfinite(loss_now) and (scaler.is_enabled() or math.isfinite(norm_now)))
                if dist.any_rank(bad):  # before the update: the weights stay good
                    kept = f"the last good checkpoint ({out / CHECKPOINT}, step {last_ckpt}) is kept" \
                        if last_ckpt is not None else "no checkpoint was written yet"
                    log.info("stopped: the loss is not finite at step %d; %s", step + 1, kept)
                    mlog.close()
                    close_logger(log)
                    raise NlplabError(f"step {step + 1}: the loss is not finite; training stopped and {kept}; "
                                      "lower --lr, set --clip, or --resume")
                optim.update(optimizer, scheduler, scaler, plateau=cfg.scheduler == "plateau")
                step, position = step + 1, {"epoch": epoch, "batch": i + 1}
                dist.crash_hook(d, step)
                counters["tokens"] += tokens_per_batch * micro
                window_tokens += tokens_per_batch * micro
                prog.update(advance=1, tokens=tokens_per_batch * micro)
                micro = 0
                out_of_time = math.isfinite(deadline) and dist.any_rank(time.perf_counter() > deadline)
                if step % cfg.log_every == 0 or step >= total:
                    r = rates(reduced(window, d))
                    now = time.perf_counter()
                    rec = {"split": "train", "step": step, "epoch": round(step / steps_per_epoch, 3),
                           "loss": r["mlm_loss"] + model.DISCRIMINATOR_WEIGHT * r.get("disc_loss", 0.0), **r,
                           "lr": optimizer.param_groups[0]["lr"], "tokens": counters["tokens"],
                           "tokens_per_s": window_tokens / max(now - t_window, 1e-9)}
                    mlog.write(rec)
                    log.info("step %d: loss %.4f, masked acc %.3f, lr %.2e, %s", step, rec["loss"], rec["mlm_accuracy"],
                             rec["lr"], prog.line())
                    window, window_tokens, t_window = {}, 0, now
                evaluate_now = valid is not None and bool(cfg.eval_every) and step % cfg.eval_every == 0
                save_now = bool(cfg.save_every) and step % cfg.save_every == 0 and step < total
                if evaluate_now or save_now:  # neither is training time
                    counters["train_seconds"] += time.perf_counter() - t_train
                    if evaluate_now:
                        validate()
                    if save_now:
                        save()
                    t_train = t_window = time.perf_counter()
                if out_of_time or step >= total:
                    break
            if out_of_time or step >= total:
                break
        counters["train_seconds"] += time.perf_counter() - t_train
    if valid is not None and not (evals["history"] and evals["history"][-1]["step"] == step):
        validate()
    cut = out_of_time and step < total  # a time budget ended the run before its schedule did
    if cut and last_ckpt != step:
        save()  # kept: `--resume --max-minutes M` goes on with the same schedule, on another day

    # ---- the model folder: the encoder kept for fine-tuning (the last weights), its tokenizer
    if d.is_main:
        keep = net.for_finetuning()
        keep.config.architectures = [type(keep).__name__]
        keep.save_pretrained(out)
        if cfg.objective == "electra":
            net.generator.save_pretrained(out / GENERATOR)
            save_tokenizer(tokenizer, tok_path, out / GENERATOR, prepare)
        save_tokenizer(tokenizer, tok_path, out, prepare)
    rate = counters["tokens"] / max(counters["train_seconds"], 1e-9)
    stopped = "max_minutes" if out_of_time else "max_steps" if cfg.max_steps and step >= cfg.max_steps else "epochs"
    summary = {"objective": cfg.objective, "size": cfg.size, "steps": step, "stopped": stopped,
               "epochs": round(step / steps_per_epoch, 3), "tokens": counters["tokens"], "tokens_per_s": rate,
               "train_seconds": counters["train_seconds"], "seconds": time.perf_counter() - t0, "parameters": n_params,
               "train_tokens": len(train), "blocks": n_blocks, "processes": d.world,
               "valid": (evals["history"] or [None])[-1], "evaluations": evals["history"]}
    if d.is_main:
        write_atomic(out / "metrics.json", json.dumps(summary, indent=1) + "\n")
        if not cut:
            checkpoint.remove_checkpoint(out / CHECKPOINT)
    mlog.close(summary)
    log.info("done: %d steps (%s), %d tokens, %.0f tokens/s, %.0fs", step, stopped, counters["tokens"], rate,
             summary["seconds"])
    if cut:
        log.info("the schedule has %d steps left: `--resume` (with a new --max-minutes) continues from %s", total - step,
                 out / CHECKPOINT)
    close_logger(log)
    return summary

