"""Fine-tune a BERT-style encoder on one GLUE task or a custom labelled dataset.

    nlplab finetune --task SST-2 --data-dir ../shared/data/glue --model minilm -o runs/sst2-minilm
    nlplab glue score runs/sst2-minilm --data-dir ../shared/data/glue

One function, top to bottom (in the spirit of nanoGPT's train.py and HF's
run_glue_no_trainer.py): check inputs, data, model, optimizer, loop with evaluations,
best checkpoint, predictions. The run folder ends up with model.safetensors + config.json,
the tokenizer, config.yaml, labels.json, metrics.json, train.log, dev_predictions.tsv and
the harness files <ENTRY>.dev.tsv (and <ENTRY>.test.tsv with --predict-test; an MNLI run
also predicts AX), environment.json and metrics.jsonl (nlplab/runlog.py: also --tracking
mlflow), TensorBoard events in tb/, and while it runs checkpoint/last.pt: what
`--resume` needs to go on exactly where the last evaluation (or --save-every) left it.
The plumbing it shares with the biLM (run folder, checkpoint, optimizer, schedule,
precision, logs) is nlplab/training/; the prediction files are nlplab/glue/submission.py's.

Several processes (`--nproc N`, or `torchrun --nproc_per_node N -m nlplab finetune ...`):
each takes its share of every global batch of --batch-size x N examples (x --grad-accum
per step), DDP averages the gradients, the dev sets are scored in shares and put back in
order, and only rank 0 writes. nlplab/dist.py has the details.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from nlplab import NlplabError, dist, runlog
from nlplab.config import write_atomic
from nlplab.finetune import data, elmo, elmo_data, encoder
from nlplab.finetune.config import SIZES, FinetuneConfig, elmo_model, resolve_model
from nlplab.glue import metrics, submission
from nlplab.progress import Progress, close_logger
from nlplab.subword.load import load_tokenizer, save_tokenizer, text_prep
from nlplab.training import checkpoint, logs, optim

CHECKPOINT = Path("checkpoint") / "last.pt"  # removed when the run finishes: the run folder then holds the best weights


def build_model(cfg: FinetuneConfig, pretrained: str | None, tokenizer, t, pair: bool = False, out=None):
    """A classifier (one output for regression) with task t's labels: scratch or pretrained; or
    an ELMo task model (--model bilm:/bilstm:LM_RUN) over the LM run `tokenizer` brings, for a
    pair task or single texts, recording in run folder `out` where that LM run is."""
    if elmo_model(cfg.model):
        return elmo.build(cfg, tokenizer, t, pair, out)
    from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights"/"Writing model shards" bars would mix with ours
    num_labels = 1 if t.regression else len(t.labels)
    id2label = {0: "score"} if t.regression else dict(enumerate(t.labels))
    problem = "regression" if num_labels == 1 else "single_label_classification"
    drop = {} if cfg.dropout is None else {"hidden_dropout_prob": cfg.dropout, "attention_probs_dropout_prob": cfg.dropout}
    if pretrained is None:  # scratch: a BERT of --size over the subword vocabulary
        s = SIZES[cfg.size]
        conf = BertConfig(vocab_size=len(tokenizer), intermediate_size=4 * s["hidden_size"],
                          max_position_embeddings=max(512, cfg.max_length), pad_token_id=tokenizer.pad_token_id,
                          num_labels=num_labels, id2label=id2label, label2id={v: k for k, v in id2label.items()},
                          problem_type=problem, **s, **drop)
        return BertForSequenceClassification(conf)
    # a new classifier head on a pretrained encoder: transformers' "newly initialized" report is
    # expected here, so it is silenced (train.log says which model was loaded). The weights are
    # float32 whatever the checkpoint stores (many store bf16): --precision bf16 is autocast over them.
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            pretrained, num_labels=num_labels, id2label=id2label, label2id={v: k for k, v in id2label.items()},
            problem_type=problem, ignore_mismatched_sizes=True, dtype=torch.float32, **drop)
    finally:
        hf_logging.set_verbosity(level)


@torch.no_grad()
def predict(model, enc: data.Encoded, batch_size: int, pad_id: int, device, autocast, d=dist.Dist()) -> np.ndarray:
    """Logits (N, C) or scores (N,) in the split's order. With several processes each rank
    scores every world-th batch (the very batches one process would) and the (example index,
    logits) pairs of all ranks are put back in order (see merge)."""
    model.eval()
    out = []
    batches = data.loader(enc, batch_size, pad_id, shuffle=False, rank=d.rank, world=d.world)
    for batch in batches:
        batch.pop("labels", None)
        with autocast():
            logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
        out.append(logits.float().cpu())
    model.train()
    logits = torch.cat(out).numpy() if out else np.zeros((0, model.config.num_labels), np.float32)
    if d.enabled:
        index = [i for b in batches.batch_sampler for i in b]
        logits = merge(dist.all_gather_object((index, logits)), len(enc))
    return logits[:, 0] if logits.shape[1] == 1 else logits


def merge(parts: list[tuple[list[int], np.ndarray]], n: int) -> np.ndarray:
    """Rows of all ranks, (example indices, rows) each, back in example order. An index
    seen twice (the repeats a padding sampler such as DistributedSampler adds so that every
    rank gets as many) counts once, so metrics count every example exactly once."""
    full, seen = None, np.zeros(n, dtype=bool)
    for index, rows in parts:
        if full is None:
            full = np.zeros((n, *rows.shape[1:]), dtype=rows.dtype)
        for i, row in zip(index, rows):
            if not seen[i]:
                full[i], seen[i] = row, True
    if not seen.all():
        raise RuntimeError(f"distributed evaluation lost {int((~seen).sum())} of {n} examples")
    return full


def values(t, logits: np.ndarray) -> list:
    """Predictions as class ids (classification) or floats (regression)."""
    return [float(v) for v in logits] if t.regression else [int(i) for i in logits.argmax(-1)]



def run(cfg: FinetuneConfig, progress: bool | None = None) -> dict:
    # ---- inputs: every check that can fail happens before any weight is touched
    t0 = time.perf_counter()
    d = dist.init()  # one process: nothing happens
    ckpt = checkpoint.check_run_folder(cfg, [cfg.data_dir, cfg.train, cfg.dev, cfg.test], "a fine-tuning", CHECKPOINT)
    global_batch = checkpoint.check_global_batch(ckpt, cfg.batch_size, d, cfg.output)
    batch_size = global_batch // d.world  # per device: the checkpoint's global batch on any number of processes
    device = dist.device(d)
    optim.check_precision(cfg.precision, device)
    runlog.check_tracking(cfg.tracking)
    src, t = data.source_and_task(cfg)
    raw, roles, extra = data.load_all(src, t, cfg)  # extra: MNLI -> AX, predicted by this run's model
    dev_name = roles["dev"][0]  # the first dev split picks the best checkpoint by the task's score
    pretrained, tok_path = resolve_model(cfg)
    lm = elmo_model(cfg.model)  # an ELMo task model: the LM run's tokenization (and its frozen biLM)
    tokenizer = elmo_data.Tokenizer(elmo_data.load_lm(lm[0], tok_path, device)) if lm else load_tokenizer(tok_path)
    if lm and ckpt is not None and ckpt.get("lm") != tokenizer.lm.identity:
        raise NlplabError(f"{cfg.output}: its LM run {tok_path} has changed since the run started "
                          f"({ckpt.get('lm')} -> {tokenizer.lm.identity}); restore it or start a new run")

    # ---- run folder (a fresh run keeps only the token cache of a reused one), config, logs
    out = checkpoint.start_run_folder(cfg, d, fresh=ckpt is None)
    log, mlog = logs.open_logs(out, "finetune", cfg, d, device, ckpt["step"] if ckpt else None)
    log.info("%s: %s", "resume" if ckpt else "config", json.dumps(dataclasses.asdict(cfg)))
    log.info("task: %s", t.name)  # the canonical name, whatever spelling was typed (sst2 -> SST-2)
    autocast = optim.autocast_for(device, cfg.precision)

    # ---- data: tokenize once (cached), labels as class ids
    if d.is_main:
        data.write_labels(out, t)
    with dist.main_first():  # rank 0 tokenizes and caches, the others read its cache
        prepare = None if lm else text_prep(tok_path)  # a morpheme-aware nlplab vocabulary: Mecab first
        if lm:  # the biLM's layers too, computed once (nlplab/finetune/elmo_data.py)
            cache = Path(cfg.elmo_cache) if cfg.elmo_cache else out / "cache"
            enc = {name: elmo_data.encode(s, t, tokenizer, cfg.max_length, cache, prune=not cfg.elmo_cache)
                   for name, s in raw.items()}
        else:
            enc = {name: data.encode(s, t, tokenizer, cfg.max_length, out / "cache", prepare) for name, s in raw.items()}
    for name, e in enc.items():
        log.info("%s: %d examples from %s, mean %.1f tokens%s", name, len(e), raw[name].source, np.mean(e.lengths()),
                 f"; {e.features.note}" if e.features is not None else "")
    pad_id = tokenizer.pad_token_id
    train_loader = data.loader(enc["train"], batch_size, pad_id, cfg.seed, device=device, rank=d.rank, world=d.world)

    # ---- model, optimizer, schedule
    optim.seed_everything(cfg.seed)
    model = build_model(cfg, pretrained, tokenizer, t, raw["train"].texts_b is not None, out).to(device).train()
    # padding and, in the last layer, the rows besides [CLS] are skipped (the same results)
    embedding_grad, encoder_on = encoder.setup(model, cfg, device, d.enabled)
    ddp = dist.wrap_ddp(model, device)  # the same initial weights everywhere (DDP broadcasts rank 0's)
    if d.enabled:
        dist.seed_rank(cfg.seed, d)  # dropout masks of their own
    optimizer = optim.make_optimizer(cfg, model, device)
    steps_per_epoch = math.ceil(len(train_loader) / cfg.grad_accum)
    total = cfg.max_steps or cfg.epochs * steps_per_epoch
    epochs = math.ceil(total / steps_per_epoch)
    scheduler = optim.make_schedule(cfg, optimizer, total, mode="max")  # plateau: on the dev score
    scaler = optim.make_scaler(cfg.precision)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("model: %s (%.1fM parameters, encoder on %s), %d steps (%d per epoch), warmup %d, device %s",
             cfg.model, n_params / 1e6, encoder_on, total, steps_per_epoch, optim.warmup_steps(cfg, total), device)
    log.info("global batch %d = %d per device x %d processes x %d accumulation", global_batch * cfg.grad_accum,
             batch_size, d.world, cfg.grad_accum)
    step_fn = torch.compile(ddp, dynamic=True) if cfg.compile else ddp  # dynamic: batches vary in length

    # ---- resume: weights, optimizer, RNGs and the data position exactly as they were saved
    evals, counters = logs.new_evals(), {"samples": 0, "train_seconds": 0.0, "eval_seconds": 0.0}
    step, position, best_state, best_preds = 0, {"epoch": 0, "batch": 0}, None, {}  # best_preds: of best_state
    if ckpt is not None:
        checkpoint.restore(ckpt, model, optimizer, scheduler, scaler, cfg.seed, d)
        step, position, evals, counters = ckpt["step"], ckpt["position"], ckpt["evals"], ckpt["counters"]
        if evals["best"] is not None:  # a --save-every checkpoint can come before the first evaluation
            best_state = load_file(out / "model.safetensors", device=str(device))
        log.info("resumed at step %d (epoch %d, batch %d)", step, position["epoch"], position["batch"])
        del ckpt

    # ---- evaluation
    def evaluate(step: int, epoch: float) -> bool:
        """Score every dev split; keep the weights when the first one improves. True: stop early."""
        nonlocal best_state, best_preds
        t_eval = time.perf_counter()
        record, preds = {"step": step, "epoch": round(epoch, 3), "splits": {}}, {}
        for name in roles["dev"]:
            preds[name] = values(t, predict(model, enc[name], batch_size * 2, pad_id, device, autocast, d))
            got = metrics.compute(t.metrics, enc[name].labels, preds[name])
            record["splits"][name] = {**got, "score": metrics.entry_score(got, t.metrics, t.main)}
        score = record["splits"][dev_name]["score"]
        record["best"] = logs.improved(evals, score, higher_is_better=True)
        evals["history"].append(record)
        for name, got in record["splits"].items():  # one metrics.jsonl line per split, like lm's "valid"
            mlog.write({"split": name, "step": step, "epoch": record["epoch"], **got,
                        **({"best": record["best"]} if name == dev_name else {})})
        if d.is_main:
            write_atomic(out / "metrics.json", json.dumps({"task": t.name, "main": dev_name,
                                                           "evaluations": evals["history"], "best": None}, indent=1) + "\n")
        log.info("eval step %d epoch %.2f: %s", step, epoch, json.dumps(record["splits"]))
        if cfg.scheduler == "plateau":
            scheduler.step(score)
        counters["eval_seconds"] += time.perf_counter() - t_eval
        if record["best"]:
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            best_preds = preds  # the dev predictions of these very weights: written at the end, not recomputed
            if d.is_main:
                model.save_pretrained(out)  # the best checkpoint on disk as soon as it exists
        return logs.stop_early(evals, cfg.early_stopping)

    # ---- training loop; `window` sums what the next metrics.jsonl train line averages
    stop, deadline, out_of_time = False, dist.deadline(d, cfg.max_minutes), False

    def new_window(train_now: float) -> dict:
        return {"loss": torch.zeros((), device=device), "steps": 0, "samples": counters["samples"], "train": train_now}
    window = new_window(counters["train_seconds"])
    with Progress(total=total, counters=("samples",), log=log, desc=f"finetune {t.name}",
                  enabled=progress if d.is_main else False, deadline=deadline if math.isfinite(deadline) else None) as prog:
        prog.resume_at(step)  # a resumed run's earlier steps: in the %, not in this start's rate or ETA
        for epoch in range(position["epoch"], epochs):
            train_loader.batch_sampler.set_epoch(epoch)
            skip = position["batch"] if epoch == position["epoch"] else 0
            shares = train_loader.batch_sampler.shares() if d.enabled else None  # (this rank's, global) examples
            t_train = time.perf_counter()
            for i, batch in enumerate(train_loader):
                if i < skip:  # resumed: these (global) batches were consumed before the checkpoint
                    continue
                batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                last_of_epoch = i + 1 == len(train_loader)
                accumulating = bool((i + 1) % cfg.grad_accum and not last_of_epoch)
                with dist.no_sync(ddp, accumulating):  # micro-steps before the last: no all-reduce
                    with autocast():
                        loss = step_fn(**batch).loss / cfg.grad_accum
                    if d.enabled:  # DDP averages over ranks: weigh each share so the mean is the global batch's
                        mine, n = shares[i]
                        loss = loss * (mine * d.world / n)
                    scaler.scale(loss).backward()
                window["loss"] += loss.detach().float()  # no .item(): a GPU would wait for it every step
                n = shares[i][1] if d.enabled else len(batch["input_ids"])
                counters["samples"] += n
                prog.update(samples=n)
                if accumulating:
                    continue
                if embedding_grad:
                    embedding_grad.dense()
                optim.clip_gradients(model, optimizer, scaler, cfg.clip)
                optim.update(optimizer, scheduler, scaler, plateau=cfg.scheduler == "plateau")
                step += 1
                dist.crash_hook(d, step)
                prog.update(advance=1)
                window["steps"] += 1
                out_of_time = math.isfinite(deadline) and dist.any_rank(time.perf_counter() > deadline)
                if step % cfg.log_every == 0 or step >= total:  # means over the steps since the last line
                    train_now = counters["train_seconds"] + time.perf_counter() - t_train  # evaluations left out
                    mlog.write({"split": "train", "step": step, "epoch": round(epoch + (i + 1) / len(train_loader), 3),
                                # each rank's sum of its weighted shares; their mean is the global batches' loss
                                "loss": dist.all_reduce_mean(window["loss"]).item() / window["steps"],
                                "lr": optimizer.param_groups[0]["lr"],
                                "samples_per_s": (counters["samples"] - window["samples"]) / max(train_now - window["train"], 1e-9)})
                    window = new_window(train_now)
                if step % 50 == 0:
                    log.info("step %d loss %.4f lr %.2e %s", step, loss.item() * cfg.grad_accum,
                             optimizer.param_groups[0]["lr"], prog.line())
                evaluate_now = last_of_epoch or bool(cfg.eval_every) and step % cfg.eval_every == 0
                if evaluate_now or cfg.save_every and step % cfg.save_every == 0:  # neither is training time
                    counters["train_seconds"] += time.perf_counter() - t_train
                    if evaluate_now:
                        stop = evaluate(step, epoch + (i + 1) / len(train_loader))
                    if not stop and step < total and d.is_main:
                        checkpoint.save_checkpoint(out / CHECKPOINT, step=step, position={"epoch": epoch, "batch": i + 1},
                                                   global_batch=global_batch, model=model, optimizer=optimizer,
                                                   scheduler=scheduler, scaler=scaler, evals=evals, counters=counters,
                                                   **({"lm": tokenizer.lm.identity} if lm else {}))
                    t_train = time.perf_counter()
                if stop or out_of_time or step >= total:
                    break
            if not (evals["history"] and evals["history"][-1]["step"] == step):  # max_steps or the budget ended the epoch
                counters["train_seconds"] += time.perf_counter() - t_train
                stop = evaluate(step, epoch + (i + 1) / len(train_loader))
            if stop or out_of_time or step >= total:
                break
    if stop or out_of_time:
        log.info(f"early stopping: {cfg.early_stopping} evaluations without a better {dev_name} score" if stop
                 else f"--max-minutes {cfg.max_minutes:g}: the time budget ended training at step {step}")

    # ---- best checkpoint: tokenizer beside it, predictions from it (nlplab/glue/submission.py's files)
    model.load_state_dict(best_state)
    if d.is_main and not lm:  # an ELMo task model's config.json names its LM run instead
        save_tokenizer(tokenizer, tok_path, out, prepare)
    files = submission.run_files(t, extra, cfg.predict_test, enc)
    preds = {name: best_preds.get(name) or values(t, predict(model, enc[name], batch_size * 2, pad_id, device, autocast, d))
             for name in dict.fromkeys(name for _, _, name, _ in files)}  # every rank predicts its share
    if d.is_main:
        submission.write_run(out, t, files, {n: enc[n].ids for n in preds}, preds, dev_name, enc[dev_name].labels)
    best = logs.best_record(evals)
    rate = counters["samples"] / max(counters["train_seconds"], 1e-9)
    summary = {"task": t.name, "main": dev_name, "evaluations": evals["history"], "best": best, "steps": step,
               "samples_per_s": rate, "train_seconds": counters["train_seconds"], "eval_seconds": counters["eval_seconds"],
               "seconds": time.perf_counter() - t0, "parameters": n_params, "processes": d.world}
    if d.is_main:
        write_atomic(out / "metrics.json", json.dumps(summary, indent=1) + "\n")
        checkpoint.remove_checkpoint(out / CHECKPOINT)  # finished: the run folder holds the best weights
    mlog.close(summary)
    log.info("done: best %s at step %d: %s; %.1f train samples/s", dev_name, best["step"],
             json.dumps(best["splits"][dev_name]), rate)
    close_logger(log)
    return summary
