"""Train an ELMo-style biLM: forward and backward LSTM language models sharing a token
encoder and a softmax.

    nlplab lm train ../shared/data/ptb/train.txt --valid ../shared/data/ptb/valid.txt \
        --test ../shared/data/ptb/test.txt -o runs/ptb --preset small
    nlplab lm train ... -o runs/ptb --resume          # after an interruption: continues exactly

One function, top to bottom (nanoGPT's train.py in spirit): inputs, run folder, model and
optimizer, resume, loop with evaluations and checkpoints, test. See nlplab/lm/checkpoint.py
for what the run folder holds; the plumbing it shares with fine-tuning (run folder,
checkpoint, optimizer, schedule, precision, logs) is nlplab/training/.

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
import shutil
import statistics
import time

import torch

from nlplab import NlplabError, dist, runlog
from nlplab.config import write_atomic
from nlplab.lm import data
from nlplab.lm.checkpoint import CHECKPOINT, TOKENIZER, VOCAB, check_vocab, load_pt, save_model
from nlplab.lm.config import LMConfig, cutoffs, filters
from nlplab.lm.evaluate import detach, evaluate
from nlplab.lm.model import BiLM, BiLMConfig
from nlplab.lm.vocab import TextTokenizer, Vocab
from nlplab.progress import Progress, close_logger
from nlplab.training import checkpoint, logs, optim
from nlplab.training.config import default_valid


def model_config(cfg: LMConfig, vocab: Vocab) -> BiLMConfig:
    char = cfg.encoder == "char"
    return BiLMConfig(
        vocab_size=len(vocab), encoder="char" if char else "embedding", proj_dim=cfg.proj_dim, hidden_dim=cfg.hidden_dim,
        layers=cfg.layers, dropout=cfg.dropout, variational=cfg.variational, char_dim=cfg.char_dim,
        char_filters=[list(f) for f in filters(cfg.char_filters)], highway=cfg.highway, max_chars=cfg.max_chars, tie=cfg.tie,
        softmax=cfg.softmax, cutoffs=cutoffs(cfg.cutoffs, len(vocab)) if cfg.softmax == "adaptive" else [], pad_id=vocab.pad)


def losses(nll_f, nll_b, b: dict, d: dist.Dist, stateful: bool):
    """(forward loss, backward loss, target tokens): the mean NLLs of the global batch. With
    several processes DDP averages over ranks, hence x world over the global counts (stream
    mode: every rank's share has as many targets)."""
    if not d.enabled:
        n_f = (b["fwd_tgt"] != data.IGNORE).sum().clamp(min=1)
        n_b = (b["bwd_tgt"] != data.IGNORE).sum().clamp(min=1)
        return nll_f.sum() / n_f, nll_b.sum() / n_b, b["tokens"]
    n = torch.stack([(b["fwd_tgt"] != data.IGNORE).sum(), (b["bwd_tgt"] != data.IGNORE).sum()])
    n = n * d.world if stateful else dist.all_reduce_sum(n)
    return nll_f.sum() * d.world / n[0].clamp(min=1), nll_b.sum() * d.world / n[1].clamp(min=1), int(n[0])


def corpora_and_batches(cfg: LMConfig, tokens, tokenizer, vocab: Vocab, global_batch: int, device, d: dist.Dist):
    """({train/valid/test: corpus}, train batches of the global batch, {valid/test: evaluation
    batches}); several processes: this rank's streams / sentences, in evaluation its streams /
    whole batches. `tokens`: the train corpus, already read for its vocabulary."""
    char = cfg.encoder == "char"
    corpora = {"train": data.Corpus(tokens, vocab, char, cfg.max_chars)}
    for split in ("valid", "test"):
        if getattr(cfg, split):
            corpora[split] = data.Corpus(data.read(getattr(cfg, split), tokenizer, cfg.column), vocab, char, cfg.max_chars)
    train_b = data.batches(corpora["train"], cfg.mode, global_batch, cfg.bptt, device, shuffle=True, seed=cfg.seed)
    eval_b = {s: data.batches(c, cfg.mode, cfg.eval_batch_size, cfg.bptt, device, eval_=True)
              for s, c in corpora.items() if s != "train"}
    if d.enabled:
        train_b.shard(d.rank, d.world)
        for b in eval_b.values():
            b.shard(d.rank, d.world) if b.stateful else b.shard(d.rank, d.world, whole=True)
    return corpora, train_b, eval_b


def train_record(window: dict, step: int, steps_per_epoch: int, lr: float) -> dict:
    """metrics.jsonl's train line: the means over the steps since the last one."""
    f, bw = window["nll_f"] / window["tokens"], window["nll_b"] / window["tokens"]
    return {"split": "train", "step": step, "epoch": round(step / steps_per_epoch, 3), "loss": (f + bw) / 2,
            "forward_ppl": math.exp(f), "backward_ppl": math.exp(bw), "mean_ppl": math.exp((f + bw) / 2),
            "tokens_per_s": window["tokens"] / (time.perf_counter() - window["t"]), "lr": lr}


def gather_state(state, d: dist.Dist):
    """The carried LSTM states of every rank's streams, in rank order, on the CPU: the global
    batch's, as the checkpoint keeps them (None: sentence mode, or a new pass)."""
    carried = None if state is None else [[(h.cpu(), c.cpu()) for h, c in lm] for lm in state]
    if not d.enabled or carried is None:
        return carried
    parts = dist.all_gather_object(carried)
    return [[tuple(torch.cat([p[k][j][x] for p in parts], 1) for x in (0, 1)) for j in range(len(lm))]
            for k, lm in enumerate(carried)]  # (1, B, H) each


def rank_state(saved, rows: tuple[int, int], device):
    """This rank's rows (lo, hi) of the global batch's carried states in a checkpoint."""
    if saved is None:
        return None
    lo, hi = rows
    return tuple([(h[:, lo:hi].to(device), c[:, lo:hi].to(device)) for h, c in lm] for lm in saved)


def run(cfg: LMConfig, progress: bool | None = None) -> dict:
    # ---- inputs: every check that can fail comes before the run folder is touched
    t0 = time.perf_counter()
    d = dist.init()  # one process: nothing happens
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise NlplabError("--device cuda: no GPU is visible; use --device cpu or auto")
    device = dist.device(d, cfg.device != "cpu")
    optim.check_precision(cfg.precision, device)
    runlog.check_tracking(cfg.tracking)
    cfg, valid_note = default_valid(cfg, cfg.train, cfg.column)
    ckpt = checkpoint.check_run_folder(cfg, [cfg.train, cfg.valid, cfg.test], "an lm", CHECKPOINT)
    tokenizer = TextTokenizer(cfg.clean, cfg.pretokenize, cfg.tokenizer if cfg.encoder == "subword" else None)
    tokens = data.read(cfg.train, tokenizer, cfg.column)
    vocab = Vocab.from_subword(tokenizer.subword) if cfg.encoder == "subword" else \
        Vocab.build(tokens.counts(), cfg.min_count, cfg.max_vocab)
    if ckpt is not None:
        check_vocab(cfg.train, ckpt["vocab"], vocab, "the training file or tokenizer changed since the run started; "
                    "resume with the same ones or start a new run")
    global_batch = checkpoint.check_global_batch(ckpt, cfg.batch_size, d, cfg.output)
    corpora, train_b, eval_b = corpora_and_batches(cfg, tokens, tokenizer, vocab, global_batch, device, d)

    # ---- run folder: config, vocabulary (and the subword folder), logs
    out = checkpoint.start_run_folder(cfg, d, fresh=ckpt is None)
    if ckpt is None and d.is_main:
        write_atomic(out / VOCAB, vocab.to_json())
        if cfg.encoder == "subword":
            shutil.copytree(cfg.tokenizer, out / TOKENIZER)
    log, mlog = logs.open_logs(out, "lm", cfg, d, device, ckpt["step"] if ckpt else None)
    log.info("config: %s", json.dumps(dataclasses.asdict(cfg)))
    if valid_note:
        log.info(valid_note)
    for name, c in corpora.items():
        log.info("%s: %s, %d lines, %d tokens, %.2f%% <unk>", name, c.path, len(c.lengths), c.n_tokens, 100 * c.n_unk / c.n_tokens)

    # ---- model, optimizer, schedule; on --resume their saved state, the data position and RNGs
    optim.seed_everything(cfg.seed)
    model = BiLM(model_config(cfg, vocab)).to(device)
    # the adaptive softmax leaves the clusters no target of a batch falls in without gradients
    ddp = dist.wrap_ddp(model, device, find_unused=cfg.softmax == "adaptive")
    if d.enabled:
        dist.seed_rank(cfg.seed, d)  # dropout masks of their own
    optimizer = optim.make_optimizer(cfg, model, device)
    steps_per_epoch = math.ceil(len(train_b) / cfg.grad_accum)
    total = cfg.epochs * steps_per_epoch if not cfg.max_steps else min(cfg.max_steps, cfg.epochs * steps_per_epoch)
    scheduler = optim.make_schedule(cfg, optimizer, total)  # plateau: on the valid perplexity
    scaler, autocast = optim.make_scaler(cfg.precision), optim.autocast_for(device, cfg.precision)
    n_params = sum(p.numel() for p in model.parameters())
    n_forward = n_params - sum(p.numel() for p in model.backward_lm.parameters())  # the forward LM alone
    step, position, evals, state, last_ckpt = 0, {"epoch": 0, "batch": 0}, logs.new_evals(), None, None
    if ckpt is not None:
        checkpoint.restore(ckpt, model, optimizer, scheduler, scaler, cfg.seed, d)
        step, position, evals, last_ckpt = ckpt["step"], ckpt["position"], ckpt["evals"], ckpt["step"]
        state = rank_state(ckpt["state"], getattr(train_b, "rows", (0, global_batch)), device)
        log.info("resumed at step %d (epoch %d, batch %d)", step, position["epoch"], position["batch"])
    log.info("model: %.2fM parameters (forward LM %.2fM), vocabulary %d, %d steps (%d per epoch), device %s",
             n_params / 1e6, n_forward / 1e6, len(vocab), total, steps_per_epoch, device)
    log.info("global batch %d = %d per process x %d processes (x %d accumulation)", global_batch,
             global_batch // d.world, d.world, cfg.grad_accum)

    def validate(epoch: float) -> bool:
        """Valid perplexity; best weights to model.pt, plateau, early stopping. True: stop."""
        r = evaluate(model, eval_b["valid"], autocast)
        rec = {"split": "valid", "step": step, "epoch": round(epoch, 3), **r, "lr": optimizer.param_groups[0]["lr"]}
        rec["best"] = logs.improved(evals, r["mean_ppl"], higher_is_better=False)
        evals["history"].append(rec)
        mlog.write(rec)
        log.info("valid step %d: forward ppl %.2f, backward ppl %.2f, mean %.2f%s", step, r["forward_ppl"],
                 r["backward_ppl"], r["mean_ppl"], " (best)" if rec["best"] else "")
        if cfg.scheduler == "plateau":
            scheduler.step(r["mean_ppl"])
        if rec["best"] and d.is_main:
            save_model(out, model, vocab, step)
        return logs.stop_early(evals, cfg.early_stopping)

    def save(position: dict) -> None:
        nonlocal last_ckpt
        carried = gather_state(state, d)  # every rank takes part
        if d.is_main:
            checkpoint.save_checkpoint(out / CHECKPOINT, step=step, position=position, global_batch=global_batch,
                                       model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, evals=evals,
                                       vocab=vocab.fingerprint(), state=carried)
        last_ckpt = step

    def fail(what: str) -> NlplabError:
        kept = f"the last good checkpoint ({out / CHECKPOINT}, step {last_ckpt}) is kept" if last_ckpt is not None \
            else "no checkpoint was written yet"
        log.info("stopped: %s", what)
        mlog.close()
        close_logger(log)
        return NlplabError(f"step {step + 1}: {what}; training stopped and {kept}; lower --lr, set --clip, or --resume")

    # ---- training loop: one step = one window (stream) or one batch of sentences, x --grad-accum
    model.train()
    stop = logs.stop_early(evals, cfg.early_stopping)  # an early-stopped run stays stopped on --resume
    window = {"nll_f": 0.0, "nll_b": 0.0, "tokens": 0, "t": time.perf_counter()}
    timings, micro = [], []  # micro: the step's batches so far
    deadline, out_of_time = dist.deadline(d, cfg.max_minutes), False
    with Progress(total=total, counters=("tokens",), log=log, desc="lm train", enabled=progress if d.is_main else False,
                  deadline=deadline if math.isfinite(deadline) else None) as prog:
        prog.resume_at(step)
        for epoch in range(position["epoch"], cfg.epochs):
            if stop or step >= total:  # a finished run, resumed: nothing left to do
                break
            first = position["batch"] if epoch == position["epoch"] else 0
            if first == 0:
                state = None  # a new pass starts from a zero state
            for i in range(first, len(train_b)):
                if not micro:
                    t_start, t_data = time.perf_counter(), 0.0
                t_batch = time.perf_counter()
                b = train_b.batch(i, epoch)
                t_data += time.perf_counter() - t_batch
                accumulating = bool((i + 1) % cfg.grad_accum) and i + 1 < len(train_b)
                with dist.no_sync(ddp, accumulating):  # the batches before a step's last: no all-reduce
                    with autocast():
                        nll_f, nll_b, state = ddp(b["fwd_in"], b["fwd_tgt"], b["bwd_in"], b["bwd_tgt"], state)
                    loss_f, loss_b, tokens = losses(nll_f, nll_b, b, d, train_b.stateful)
                    scaler.scale((loss_f + loss_b) / (2 * cfg.grad_accum)).backward()
                micro.append((torch.stack([loss_f.detach().float(), loss_b.detach().float()]), tokens))
                state = detach(state) if train_b.stateful else None
                if accumulating:
                    continue
                norm = optim.clip_gradients(model, optimizer, scaler, cfg.clip)
                got = torch.cat([m for m, _ in micro] + [norm.float()[None]]).tolist()  # one wait for the device a step
                per_batch, gn, counts = got[:-1], got[-1], [n for _, n in micro]
                if d.enabled:  # the global batch's losses, the same on every rank (so is a NaN stop)
                    per_batch = dist.all_reduce_mean(torch.tensor(per_batch, dtype=torch.float64)).tolist()
                nll = [sum(x * n for x, n in zip(per_batch[k::2], counts)) for k in (0, 1)]  # token-weighted sums
                # before the update: the weights stay good (fp16: the scaler skips a step whose gradients overflow)
                if not all(map(math.isfinite, per_batch + ([] if scaler.is_enabled() else [gn]))):
                    raise fail(f"the loss is not finite (forward {nll[0] / sum(counts)}, backward {nll[1] / sum(counts)}, "
                               f"gradient norm {gn})")
                out_of_time = math.isfinite(deadline) and dist.any_rank(time.perf_counter() > deadline)  # every rank
                optim.update(optimizer, scheduler, scaler, plateau=cfg.scheduler == "plateau")
                step, position, micro = step + 1, {"epoch": epoch, "batch": i + 1}, []
                dist.crash_hook(d, step)
                timings.append((time.perf_counter() - t_start, t_data, sum(counts)))  # (step, batch reading) seconds, tokens
                for k, v in (("nll_f", nll[0]), ("nll_b", nll[1]), ("tokens", sum(counts))):
                    window[k] += v
                prog.update(advance=1, tokens=sum(counts))
                if step % cfg.log_every == 0 or step == total:
                    rec = train_record(window, step, steps_per_epoch, optimizer.param_groups[0]["lr"])
                    mlog.write(rec)
                    log.info("step %d: loss %.4f, ppl forward %.2f backward %.2f, lr %.2e, %s", step, rec["loss"],
                             rec["forward_ppl"], rec["backward_ppl"], rec["lr"], prog.line())
                    window = {"nll_f": 0.0, "nll_b": 0.0, "tokens": 0, "t": time.perf_counter()}
                if cfg.eval_every and step % cfg.eval_every == 0 and "valid" in eval_b:
                    stop = validate(step / steps_per_epoch)
                if cfg.save_every and step % cfg.save_every == 0:
                    save(position)
                if stop or out_of_time or step >= total:
                    break
            if "valid" in eval_b and not (evals["history"] and evals["history"][-1]["step"] == step):
                stop = validate(step / steps_per_epoch) or stop
            if stop or out_of_time or step >= total:
                break
        rate = prog.rates()["tokens_per_s"]
    stopped = "early_stopping" if stop else "max_steps" if cfg.max_steps and step >= cfg.max_steps \
        else "max_minutes" if out_of_time else "epochs"
    save(position)  # also after the last evaluation, so a finished run resumes to a no-op

    # ---- the best weights (the last ones without --valid) and the test set
    if "valid" not in eval_b:
        if d.is_main:
            save_model(out, model, vocab, step)
    else:
        dist.barrier()  # rank 0 has written model.pt
        model.load_state_dict(load_pt(out / "model.pt")["model"])
    summary = {"steps": step, "epochs": round(step / steps_per_epoch, 3), "stopped": stopped, "parameters": n_params,
               "forward_parameters": n_forward, "vocab_size": len(vocab), "train_tokens": corpora["train"].n_tokens,
               "device": str(device), "tokens_per_s": rate, "seconds": time.perf_counter() - t0,
               "tokens_per_s_median": statistics.median(n / s for s, _, n in timings) if timings else None,
               "data_fraction": sum(t for _, t, _ in timings) / sum(s for s, _, _ in timings) if timings else None,
               "peak_gpu_memory_mb": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None,
               "processes": d.world, "best": logs.best_record(evals), "valid": (evals["history"] or [None])[-1]}
    if "test" in eval_b:
        r = evaluate(model, eval_b["test"], autocast)
        summary["test"] = r
        mlog.write({"split": "test", "step": step, **r})
        log.info("test: forward ppl %.2f, backward ppl %.2f, mean %.2f", r["forward_ppl"], r["backward_ppl"], r["mean_ppl"])
    if d.is_main:
        write_atomic(out / "metrics.json", json.dumps(summary, indent=1) + "\n")
    mlog.close(summary)
    log.info("done: %d steps (%s), %.0f tokens/s, %.0fs", step, stopped, rate, summary["seconds"])
    close_logger(log)
    return summary
