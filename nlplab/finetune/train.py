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

Several processes (`--nproc N`, or `torchrun --nproc_per_node N -m nlplab finetune ...`):
each takes its share of every global batch of --batch-size x N examples (x --grad-accum
per step), DDP averages the gradients, the dev sets are scored in shares and put back in
order, and only rank 0 writes. nlplab/dist.py has the details.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from nlplab import NlplabError, dist, runlog
from nlplab.config import save, write_atomic
from nlplab.finetune import data, encoder
from nlplab.finetune.checkpoint import CHECKPOINT, check_run_folder, restore_rng, save_checkpoint
from nlplab.finetune.config import SIZES, FinetuneConfig, resolve_model
from nlplab.glue import metrics
from nlplab.glue.submission import pred_path, write_predictions
from nlplab.progress import Progress, close_logger, file_logger, null_logger


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(cfg: FinetuneConfig, pretrained: str | None, tokenizer, num_labels: int, id2label: dict):
    from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

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
    # float32 whatever the checkpoint stores (many store bf16): --bf16 is autocast over them.
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            pretrained, num_labels=num_labels, id2label=id2label, label2id={v: k for k, v in id2label.items()},
            problem_type=problem, ignore_mismatched_sizes=True, dtype=torch.float32, **drop)
    finally:
        hf_logging.set_verbosity(level)


def lr_lambda(kind: str, warmup: int, total: int):
    """Linear warmup to the peak, then linear/cosine decay to 0 (or constant)."""
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        return max(0.0, 1.0 - progress) if kind == "linear" else 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return f


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


def tensorboard(folder: Path, log, purge_step: int | None = None):
    """A SummaryWriter into RUN/tb, or None when the tensorboard package is missing. On
    --resume, purge_step drops the events past the checkpoint (they are logged again)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.info("tensorboard not installed: no TensorBoard events (pip install tensorboard)")
        return None
    return SummaryWriter(str(folder), purge_step=purge_step)


def run(cfg: FinetuneConfig, progress: bool | None = None, resume: bool = False) -> dict:
    # ---- inputs: every check that can fail happens before any weight is touched
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights"/"Writing model shards" bars would mix with ours
    t0 = time.perf_counter()
    d = dist.init()  # one process: nothing happens
    out = Path(cfg.output)
    ckpt = check_run_folder(cfg, out, resume)
    # per-device batch: the global batch of the checkpoint is kept on any number of processes
    global_batch = ckpt["position"].get("global_batch", cfg.batch_size) if ckpt else cfg.batch_size * d.world
    if global_batch % d.world:
        raise NlplabError(f"{out}: the run's global batch of {global_batch} does not split over {d.world} processes; "
                          f"resume with a number of processes that divides {global_batch}")
    batch_size = global_batch // d.world
    device = dist.device(d)
    if cfg.fp16 and device.type != "cuda":
        raise NlplabError("--fp16 needs a GPU; none is visible (drop the flag to train in float32, or --bf16 on a CPU that has it)")
    if cfg.bf16 and not dist.bf16_ok(device):
        raise NlplabError(f"--bf16: {dist.NO_BF16} (drop the flag to train in float32)")
    runlog.check_tracking(cfg.tracking)
    src, t = data.source_and_task(cfg)
    roles = data.splits(t, cfg.predict_test, src)
    raw = {"train": data.load(src, t, "train", cfg.max_train_samples)}
    raw.update({s: data.load(src, t, s, cfg.max_eval_samples) for s in roles["dev"]})
    raw.update({s: data.load(src, t, s) for s in roles["test"]})
    extra = data.extra_boards(src, t, cfg.predict_test)  # MNLI -> AX, predicted by this run's model
    raw.update({b.test: data.load(src, at, b.test) for at, b in extra})
    pretrained, tok_path = resolve_model(cfg)
    try:
        tokenizer = AutoTokenizer.from_pretrained(tok_path)
    except Exception as e:
        raise NlplabError(f"{tok_path}: could not load its tokenizer ({type(e).__name__}: {str(e)[:120]})") from None
    if not tokenizer.is_fast:
        raise NlplabError(f"{tok_path}: only a slow tokenizer loads from it; fine-tuning needs a fast one (tokenizer.json)")
    if tokenizer.pad_token_id is None:
        raise NlplabError(f"{tok_path}: the tokenizer has no pad token")

    # ---- run folder, config, log: a fresh run keeps only the token cache of a reused folder,
    # so no stale predictions from an earlier run (say, a test file) end up in a submission.
    # Only rank 0 writes, once every rank has checked the folder as it was.
    dist.barrier()
    if d.is_main:
        out.mkdir(parents=True, exist_ok=True)
        if ckpt is None:
            for old in out.iterdir():
                if old.name != "cache":
                    shutil.rmtree(old) if old.is_dir() else old.unlink()
            save(cfg, out / "config.yaml")
    log = file_logger(out / "train.log", "nlplab.finetune") if d.is_main else null_logger()
    log.info("%s: %s", "resume" if ckpt else "config", json.dumps(dataclasses.asdict(cfg)))
    log.info("task: %s", t.name)  # the canonical name, whatever spelling was typed (sst2 -> SST-2)
    # run records (nlplab/runlog.py): metrics.jsonl is cut back to the checkpoint, whose later steps run again
    resume_step = ckpt["position"]["step"] if ckpt is not None else None
    if d.is_main:
        runlog.write_environment(out, device, d.world, resumed=ckpt is not None)
    tracker = runlog.tracker(out, "finetune", cfg, d.is_main, resumed=ckpt is not None)
    mlog = runlog.MetricsLog(out, d.is_main, resume_step, tracker)
    dtype = torch.bfloat16 if cfg.bf16 else torch.float16 if cfg.fp16 else None
    def autocast():
        return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)

    # ---- data: tokenize once (cached), labels as class ids
    labels = {"task": t.name, "regression": t.regression, "labels": list(t.labels), "label_names": list(t.label_names)}
    if d.is_main:
        write_atomic(out / "labels.json", json.dumps(labels, indent=1, ensure_ascii=False) + "\n")
    with dist.main_first():  # rank 0 tokenizes and caches, the others read its cache
        prepare = data.text_prep(tok_path)  # a morpheme-aware nlplab vocabulary: Mecab first
        enc = {name: data.encode(s, t, tokenizer, cfg.max_length, out / "cache", prepare) for name, s in raw.items()}
    for name, e in enc.items():
        log.info("%s: %d examples from %s, mean %.1f tokens", name, len(e), raw[name].source, np.mean(e.lengths()))
    pad_id = tokenizer.pad_token_id
    train_loader = data.loader(enc["train"], batch_size, pad_id, cfg.seed, device=device, rank=d.rank, world=d.world)

    # ---- model and optimizer
    seed_everything(cfg.seed)
    num_labels = 1 if t.regression else len(t.labels)
    id2label = {0: "score"} if t.regression else dict(enumerate(t.labels))
    model = build_model(cfg, pretrained, tokenizer, num_labels, id2label).to(device)
    model.train()
    # padding and, in the last layer, the rows besides [CLS] are skipped (the same results)
    unpad = encoder.unpad_on(cfg.unpad, device)  # CPU only: on a GPU the padded batch is faster
    lean = encoder.enable(model, unpad, cfg.cls_only)
    # and the word embeddings' gradient covers the batch's tokens only (one process, eager)
    embedding_grad = encoder.EmbeddingGrad(model) if lean and unpad and not (d.enabled or cfg.compile) else None
    encoder_on = (f"{'real tokens' if unpad else 'padded batches'}, last layer on "
            f"{'[CLS] only' if cfg.cls_only else 'every token'}") if lean else "the stock forward"
    ddp = dist.wrap_ddp(model, device)  # the same initial weights everywhere (DDP broadcasts rank 0's)
    if d.enabled:
        dist.seed_rank(cfg.seed, d)  # dropout masks of their own
    # no weight decay on biases and LayerNorm weights (BERT's optimization.py does the same)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "LayerNorm" in name or "layernorm" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # the fused kernel (CUDA, and CPU since torch 2.4) updates every tensor in one pass
    fused = device.type in ("cuda", "cpu")
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8, fused=fused or None)
    steps_per_epoch = math.ceil(len(train_loader) / cfg.grad_accum)
    total = cfg.max_steps or cfg.epochs * steps_per_epoch
    epochs = math.ceil(total / steps_per_epoch)
    warmup = int(cfg.warmup_ratio * total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg.scheduler, warmup, total))
    scaler = torch.amp.GradScaler(enabled=cfg.fp16)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("model: %s (%.1fM parameters, encoder on %s), %d steps (%d per epoch), warmup %d, device %s",
             cfg.model, n_params / 1e6, encoder_on, total, steps_per_epoch, warmup, device)
    log.info("global batch %d = %d per device x %d processes x %d accumulation", batch_size * d.world * cfg.grad_accum,
             batch_size, d.world, cfg.grad_accum)
    step_fn = torch.compile(ddp, dynamic=True) if cfg.compile else ddp  # dynamic: batches vary in length

    # ---- evaluation: the first dev split picks the best checkpoint by the task's score
    dev_name = roles["dev"][0]
    state = {"history": [], "best": None, "stale": 0, "eval_seconds": 0.0, "train_seconds": 0.0, "samples": 0}
    best_state = None
    position = {"epoch": 0, "batch": 0, "step": 0}
    if ckpt is not None:  # weights, optimizer, RNG and data position exactly as they were saved
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        restore_rng(ckpt["rng"])
        position, state = ckpt["position"], ckpt["state"]
        if d.enabled:
            dist.seed_rank(cfg.seed, d, position["step"])
        if state["best"] is not None:  # a --save-every checkpoint can come before the first evaluation
            best_state = load_file(out / "model.safetensors", device=str(device))
        log.info("resumed at step %d (epoch %d, batch %d)", position["step"], position["epoch"], position["batch"])
        del ckpt
    writer = tensorboard(out / "tb", log, resume_step + 1 if resume_step is not None else None) if d.is_main else None
    history, best_preds = state["history"], {}  # a resumed run predicts its best weights' dev splits again

    def evaluate(step: int, epoch: float) -> bool:
        """Score every dev split; keep the weights when the first one improves. True: stop early."""
        nonlocal best_state, best_preds
        t_eval = time.perf_counter()
        record, preds = {"step": step, "epoch": round(epoch, 3), "splits": {}}, {}
        for name in roles["dev"]:
            preds[name] = values(t, predict(model, enc[name], batch_size * 2, pad_id, device, autocast, d))
            got = metrics.compute(t.metrics, enc[name].labels, preds[name])
            got["score"] = metrics.entry_score(got, t.metrics, t.main)
            record["splits"][name] = got
            for k, v in got.items():
                if writer:
                    writer.add_scalar(f"{name}/{k}", v, step)
        score = record["splits"][dev_name]["score"]
        record["best"] = state["best"] is None or score > state["best"]
        history.append(record)
        for name, got in record["splits"].items():  # one metrics.jsonl line per split, like lm's "valid"
            mlog.write({"split": name, "step": step, "epoch": record["epoch"], **got,
                        **({"best": record["best"]} if name == dev_name else {})})
        if d.is_main:
            write_atomic(out / "metrics.json", json.dumps({"task": t.name, "main": dev_name, "evaluations": history,
                                                           "best": None}, indent=1) + "\n")
        log.info("eval step %d epoch %.2f: %s", step, epoch, json.dumps(record["splits"]))
        state["eval_seconds"] += time.perf_counter() - t_eval
        if record["best"]:
            state["best"], state["stale"] = score, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            best_preds = preds  # the dev predictions of these very weights: written at the end, not recomputed
            if d.is_main:
                model.save_pretrained(out)  # the best checkpoint on disk as soon as it exists
            return False
        state["stale"] += 1
        return bool(cfg.early_stopping) and state["stale"] >= cfg.early_stopping

    # ---- training loop; `window` sums what the next metrics.jsonl train line averages
    step, stop = position["step"], False

    def new_window(train_now: float) -> dict:
        return {"loss": torch.zeros((), device=device), "steps": 0, "samples": state["samples"], "train": train_now}
    window = new_window(state["train_seconds"])
    with Progress(total=total, counters=("samples",), log=log, desc=f"finetune {t.name}",
                  enabled=progress if d.is_main else False) as prog:
        prog.update(advance=step)
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
                state["samples"] += n
                prog.update(samples=n)
                if accumulating:
                    continue
                if embedding_grad:
                    embedding_grad.dense()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
                step += 1
                dist.crash_hook(d, step)
                prog.update(advance=1)
                window["steps"] += 1
                if step % cfg.log_every == 0 or step >= total:  # means over the steps since the last line
                    train_now = state["train_seconds"] + time.perf_counter() - t_train  # evaluations left out
                    rec = {"split": "train", "step": step, "epoch": round(epoch + (i + 1) / len(train_loader), 3),
                           # each rank's sum of its weighted shares; their mean is the global batches' loss
                           "loss": dist.all_reduce_mean(window["loss"]).item() / window["steps"],
                           "lr": scheduler.get_last_lr()[0],
                           "samples_per_s": (state["samples"] - window["samples"]) / max(train_now - window["train"], 1e-9)}
                    mlog.write(rec)
                    if writer:
                        for k in ("loss", "lr", "samples_per_s"):
                            writer.add_scalar(f"train/{k}", rec[k], step)
                    window = new_window(train_now)
                if step % 50 == 0:
                    log.info("step %d loss %.4f lr %.2e %s", step, loss.item() * cfg.grad_accum,
                             scheduler.get_last_lr()[0], prog.line())
                evaluate_now = last_of_epoch or bool(cfg.eval_every) and step % cfg.eval_every == 0
                if evaluate_now or cfg.save_every and step % cfg.save_every == 0:  # neither is training time
                    state["train_seconds"] += time.perf_counter() - t_train
                    if evaluate_now:
                        stop = evaluate(step, epoch + (i + 1) / len(train_loader))
                    if not stop and step < total and d.is_main:
                        save_checkpoint(out / CHECKPOINT, model, optimizer, scheduler, scaler,
                                        {"epoch": epoch, "batch": i + 1, "step": step, "global_batch": global_batch},
                                        state)
                    t_train = time.perf_counter()
                if stop or step >= total:
                    break
            if not (history and history[-1]["step"] == step):  # max_steps ended the epoch early
                state["train_seconds"] += time.perf_counter() - t_train
                stop = evaluate(step, epoch + (i + 1) / len(train_loader))
            if stop or step >= total:
                if stop:
                    log.info("early stopping: %d evaluations without a better %s score", cfg.early_stopping, dev_name)
                break
    if writer:
        writer.close()

    # ---- best checkpoint: tokenizer beside it, predictions from it
    model.load_state_dict(best_state)
    if d.is_main:
        tokenizer.save_pretrained(out)
        if prepare is not None:  # eval/predict from the run folder pre-split the same way
            from nlplab.subword.train import META_FILE

            shutil.copy(Path(tok_path) / META_FILE, out / META_FILE)
    boards = [(t, b) for b in t.boards] + extra
    for bt, b in boards:
        for name, kind in ((b.dev, "dev"), (b.test if cfg.predict_test and b.test in enc else None, "test")):
            if name is None:
                continue
            pred = best_preds.get(name) if kind == "dev" else None
            if pred is None:
                pred = values(t, predict(model, enc[name], batch_size * 2, pad_id, device, autocast, d))
            if not d.is_main:
                continue
            write_predictions(pred_path(out, b.name, kind), bt, enc[name].ids, pred)
            if name == dev_name:
                gold = [t.labels[v] if not t.regression else v for v in enc[name].labels]
                shown = [t.labels[v] if not t.regression else v for v in pred]
                rows = "".join(f"{i}\t{g}\t{p}\n" for i, g, p in zip(enc[name].ids, gold, shown))
                write_atomic(out / "dev_predictions.tsv", "index\tlabel\tprediction\n" + rows)
    best_record = next(r for r in reversed(history) if r["best"])
    rate = state["samples"] / max(state["train_seconds"], 1e-9)
    summary = {"task": t.name, "main": dev_name, "evaluations": history, "best": best_record, "steps": step,
               "samples_per_s": rate, "train_seconds": state["train_seconds"], "eval_seconds": state["eval_seconds"],
               "seconds": time.perf_counter() - t0, "parameters": n_params, "processes": d.world}
    if d.is_main:
        write_atomic(out / "metrics.json", json.dumps(summary, indent=1) + "\n")
        (out / CHECKPOINT).unlink(missing_ok=True)  # finished: the run folder holds the best weights
        if (out / CHECKPOINT).parent.is_dir() and not any((out / CHECKPOINT).parent.iterdir()):
            (out / CHECKPOINT).parent.rmdir()
    if tracker is not None:
        tracker.finish(summary)
    log.info("done: best %s at step %d: %s; %.1f train samples/s", dev_name, best_record["step"],
             json.dumps(best_record["splits"][dev_name]), rate)
    close_logger(log)
    return summary
