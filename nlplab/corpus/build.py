"""`nlplab corpus build`: raw dumps -> a filtered, deduplicated, decontaminated corpus folder.

    nlplab corpus build ../shared/data/nsmc-raw/reviews.jsonl.gz:review -o out/ko --lang ko \
        --exclude ../shared/data/nsmc/ratings_test.txt:document --workers 2
    nlplab corpus build --config ko-reviews --data-dir ../shared/data -o out/ko-reviews

Stages, in order, each counted in manifest.json: read -> clean (-> sentence units) ->
length -> language -> decontaminate -> exact dedup -> near dedup -> train/valid split.
The first occurrence of a duplicate is kept. Output:

    DIR/train/train-00000.parquet ...   columns text, source
    DIR/valid/valid-00000.parquet ...
    DIR/manifest.json  DIR/corpus.log

The folder is built beside DIR under a temporary name and renamed at the end: a failed
build leaves nothing. Reruns with the same inputs and config write byte-identical shards,
with any --workers.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from array import array
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nlplab import NlplabError, __version__, clean, io, parallel
from nlplab.corpus import decontam, hashing, work
from nlplab.corpus.config import CorpusConfig, split_spec
from nlplab.corpus.read import MANIFEST, Fields
from nlplab.progress import Progress, close_logger, file_logger

SPLITS = ("train", "valid")
EXAMPLE_CHARS = 300
STAGES = ("length", "language", "decontaminate", "exact_dedup", "near_dedup")
FIXES = {  # what to change when a stage took every row
    "length": "lower --min-chars / --min-words or raise --max-chars",
    "language": "check --lang, or lower --lang-share (0 turns the filter off)",
    "decontaminate": "the inputs hold only evaluation texts; check the --exclude files",
    "exact_dedup": "every row repeats an earlier one",
    "near_dedup": "raise --near-threshold or use --dedup exact",
}


class Shards:
    """Rows of one split, written as parquet shards of `size` rows (zstd, deterministic)."""

    def __init__(self, folder: Path, split: str, size: int):
        self.folder, self.split, self.size = folder / split, split, size
        self.folder.mkdir(parents=True)
        self.texts, self.sources, self.names = [], [], []
        self.rows = self.chars = self.words = 0
        self.char_hist = Counter()  # bit_length(chars) -> rows: bins [2^(i-1), 2^i)

    def add(self, text: str, source: str, words: int) -> int:
        self.texts.append(text)
        self.sources.append(source)
        self.rows += 1
        self.words += words
        if len(self.texts) >= self.size:
            self.flush()
        return self.rows - 1

    def flush(self) -> None:
        if not self.texts:
            return
        name = f"{self.split}-{len(self.names):05d}.parquet"
        texts = pa.array(self.texts, pa.string())
        lengths = pc.utf8_length(texts).to_numpy()
        self.chars += int(lengths.sum())
        self.char_hist.update(dict(zip(*np.unique(np.frexp(lengths)[1], return_counts=True))))  # frexp: bit_length
        table = pa.table({"text": texts, "source": pa.array(self.sources, pa.string())})
        pq.write_table(table, self.folder / name, compression="zstd")
        self.names.append(name)
        self.texts, self.sources = [], []

    def summary(self) -> dict:
        hist = {int(k): int(v) for k, v in self.char_hist.items()}
        top = max(hist, default=0)
        return {"rows": self.rows, "chars": self.chars, "words": self.words, "shards": self.names,
                "char_histogram": {"edges": [0] + [1 << i for i in range(top + 1)],
                                   "counts": [hist.get(i, 0) for i in range(top + 1)]}}


def _source_name(path: str, data_dir: str | None) -> str:
    """An input's name in the `source` column: relative to --data-dir when under it, so the
    shards do not depend on where the data folder lives."""
    if data_dir:
        try:
            return str(Path(path).resolve().relative_to(Path(data_dir).resolve()))
        except ValueError:
            pass
    return path


def _inputs(cfg: CorpusConfig) -> list[dict]:
    found = []
    for spec in cfg.inputs:
        path, fields, where = split_spec(spec)
        if not Path(path).exists():
            raise NlplabError(f"{path}: no such file; check the path")
        layout = Fields.inspect(path, fields, cfg.column)
        pick = Fields(layout, fields, where, spec)
        found.append({"spec": spec, "path": path, "layout": layout, "pick": pick,
                      "source": _source_name(path, cfg.data_dir)})
    return found


def _check_output(cfg: CorpusConfig, paths: list[str]) -> Path:
    out = Path(cfg.output)
    io.check_folder(cfg.output, paths)
    if out.exists() and any(out.iterdir()):
        if not cfg.force:
            raise NlplabError(f"{out}: already exists; choose a new -o folder or pass --force to replace it")
        if not (out / MANIFEST).is_file():
            raise NlplabError(f"{out}: not a corpus folder (no {MANIFEST}); --force only replaces one; choose a new -o folder")
    return out


def _examples(items, where) -> list[dict]:
    return [{"where": where(line), "text": text[:EXAMPLE_CHARS]} for line, text in items]


class Accounts:
    """Counts and examples per stage and reason, as the manifest shows them."""

    def __init__(self, k: int):
        self.k = k
        self.dropped = Counter()
        self.examples: dict = {}

    def drop(self, stage: str, reason: str, n: int = 1, examples=()) -> None:
        self.dropped[stage, reason] += n
        ex = self.examples.setdefault((stage, reason), [])
        ex.extend(examples[: self.k - len(ex)])

    def stage(self, name: str, rows_in: int) -> dict:
        reasons = {r: n for (s, r), n in sorted(self.dropped.items()) if s == name}
        out = sum(reasons.values())
        return {"stage": name, "rows_in": rows_in, "dropped": out, "rows_out": rows_in - out, "reasons": reasons,
                "examples": {r: self.examples.get((name, r), []) for r in reasons}}


def build(cfg: CorpusConfig, progress: bool | None = None, command: str | None = None) -> dict:
    """Build the corpus folder; returns the manifest. NlplabError for bad input, with
    nothing written."""
    inputs = _inputs(cfg)
    absent = [e for e in cfg.exclude_if_present if not Path(split_spec(e)[0]).is_file()]
    present = [e for e in cfg.exclude_if_present if e not in absent and e not in cfg.exclude]
    out = _check_output(cfg, [i["path"] for i in inputs] + [split_spec(e)[0] for e in cfg.exclude + present])
    t0 = time.perf_counter()
    evals = decontam.load(cfg, cfg.exclude + present, clean.pipeline(cfg.clean))
    worker = work.Worker(cfg, inputs, evals)
    for i in inputs:
        files = i["layout"].files if i["layout"].format == "parquet" else [i["path"]]
        i["sha256"] = decontam.sha256(*files)  # a corpus folder as input: over its shards in order
        i["bytes"] = io.input_size(i["layout"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial"))
    log = file_logger(tmp / "corpus.log")
    try:
        log.info("nlplab corpus build: %s", command or "")
        log.info("config: %s", json.dumps(asdict(cfg), ensure_ascii=False))
        for ev in evals:
            log.info("exclude %s: %s", ev.spec, json.dumps(ev.summary()))
        manifest = _run(cfg, inputs, evals, worker, tmp, log, progress)
        manifest["excludes_absent"] = absent
        manifest.update(nlplab_version=__version__, command=command, seconds=round(time.perf_counter() - t0, 2))
        manifest["rows_per_s"] = round(manifest["rows_in"] / max(manifest["seconds"], 1e-9), 1)
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        log.info("done: %s rows in, train %s rows, valid %s rows in %.1fs", manifest["rows_in"],
                 manifest["splits"]["train"]["rows"], manifest["splits"]["valid"]["rows"], manifest["seconds"])
        close_logger(log)
        os.chmod(tmp, 0o777 & ~io._UMASK)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        close_logger(log)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _chunks(inputs: list[dict], chunk_bytes: int):
    for index, i in enumerate(inputs):
        for start, payload, nbytes in io.read_chunks(i["layout"], chunk_bytes):
            yield index, start, payload, nbytes


def _results(cfg: CorpusConfig, inputs, worker: work.Worker):
    """(input index, Chunk, input bytes) in input order, from 1 or N processes."""
    if cfg.workers == 1:
        for index, start, payload, nbytes in _chunks(inputs, cfg.chunk_bytes):
            yield index, worker.chunk(index, start, payload), nbytes
        return
    meta = []  # (input index, bytes) of each chunk in flight, in order

    def items():
        for index, start, payload, nbytes in _chunks(inputs, cfg.chunk_bytes):
            meta.append((index, nbytes))
            yield index, start, payload

    with parallel.pool(cfg.workers, work.init, (worker,)) as p:
        for i, res in enumerate(parallel.ordered(p, work.run, items(), cfg.workers)):
            index, nbytes = meta[i]
            meta[i] = None
            yield index, res, nbytes


def _run(cfg: CorpusConfig, inputs, evals, worker, tmp: Path, log, progress) -> dict:
    acc = Accounts(cfg.examples)
    shards = {s: Shards(tmp, s, cfg.shard_rows) for s in SPLITS}
    exact: dict[int, int] = {}  # key hash -> kept row
    near: dict[int, int] = {}  # band hash -> kept row
    kept = Kept()
    contam = Counter()  # (eval set, rule) -> rows
    contam_ex: dict = {}
    dups = {"exact_dedup": {"n": 0, "examples": []}, "near_dedup": {"n": 0, "examples": []}}
    rows_in = units = chars_in = words_in = 0
    per_input = Counter()
    threshold = int(cfg.valid_fraction * (1 << 64))
    total = sum(i["bytes"] for i in inputs)
    with Progress(total, ("rows", "kept"), log=log, desc="corpus", enabled=progress) as bar:
        for index, ch, nbytes in _results(cfg, inputs, worker):
            src = inputs[index]["source"]
            rows_in += ch.rows
            chars_in += ch.chars
            words_in += ch.words
            units += ch.units
            per_input[index] += ch.rows
            for (stage, reason), n in ch.dropped.items():
                acc.drop(stage, reason, n, _examples(ch.examples[stage, reason], lambda ln: f"{src}:{ln}"))
            n_kept = 0
            all_bands = ch.bands.tolist() if ch.bands is not None else None
            for j, text in enumerate(ch.texts):
                where = (index, ch.lines[j])
                hit = ch.contaminated[j]
                if hit is not None:
                    s, rule, e = hit
                    contam[s, rule] += 1
                    ex = contam_ex.setdefault((s, rule), [])
                    if len(ex) < cfg.examples:
                        ex.append({"where": f"{src}:{ch.lines[j]}", "text": text[:EXAMPLE_CHARS],
                                   "eval_text": evals[s].texts[e][:EXAMPLE_CHARS]})
                    continue
                h = ch.hashes[j]
                if cfg.dedup != "none" and h in exact:
                    _dup(dups["exact_dedup"], exact[h], where, text, cfg.examples)
                    continue
                if all_bands is not None:
                    bands = all_bands[j]
                    match = next((near[b] for b in bands if b in near), None)
                    if match is not None:
                        _dup(dups["near_dedup"], match, where, text, cfg.examples)
                        continue
                row = len(kept)
                if cfg.dedup != "none":
                    exact[h] = row
                if all_bands is not None:
                    for b in bands:
                        near[b] = row
                split = "valid" if ((h * 0x9E3779B97F4A7C15) & ((1 << 64) - 1)) < threshold else "train"
                kept.add(split, shards[split].add(text, src, ch.word_counts[j]), where)
                n_kept += 1
            bar.update(nbytes, rows=ch.rows, kept=n_kept)
    for s in shards.values():
        s.flush()
    decontaminated = sum(contam.values())
    manifest = _manifest(cfg, inputs, evals, acc, shards, contam, contam_ex, dups, rows_in, units, per_input,
                         decontaminated, kept, tmp)
    manifest["selected_in"] = {"chars": chars_in, "words": words_in}  # the raw texts, before cleaning
    if not manifest["splits"]["train"]["rows"] and not manifest["splits"]["valid"]["rows"]:
        raise NlplabError(_nothing_left(manifest))
    return manifest


def _dup(d: dict, kept_row: int, where, text: str, k: int) -> None:
    d["n"] += 1
    if len(d["examples"]) < k:
        d["examples"].append((kept_row, where, text))


class Kept:
    """Where each kept row went (split, position) and came from (input, line), in compact
    arrays: 13 bytes a row, so the examples can name and show the row a duplicate matched."""

    def __init__(self):
        self.split, self.pos, self.input, self.line = bytearray(), array("q"), array("i"), array("q")

    def __len__(self) -> int:
        return len(self.pos)

    def add(self, split: str, pos: int, where: tuple[int, int]) -> None:
        self.split.append(SPLITS.index(split))
        self.pos.append(pos)
        self.input.append(where[0])
        self.line.append(where[1])

    def where(self, r: int) -> tuple[int, int]:
        return self.input[r], self.line[r]

    def texts(self, rows: list[int], shards: dict, tmp: Path) -> dict[int, str]:
        """The texts of a few kept rows, read back from the written shards."""
        found = {}
        for r in rows:
            split = SPLITS[self.split[r]]
            pos, size = self.pos[r], shards[split].size
            table = pq.read_table(tmp / split / shards[split].names[pos // size], columns=["text"])
            found[r] = table.column("text")[pos % size].as_py()
        return found


def _manifest(cfg, inputs, evals, acc, shards, contam, contam_ex, dups, rows_in, units, per_input,
              decontaminated, kept, tmp) -> dict:
    def where(w):
        return f"{inputs[w[0]]['source']}:{w[1]}"

    read = acc.stage("read", rows_in)
    stages = [read]
    if units != read["rows_out"]:  # several fields per row, or --unit sentence
        how = "sentences" if cfg.unit == "sentence" else "texts (one per field)"
        stages.append({"stage": "units", "rows_in": read["rows_out"], "dropped": 0, "rows_out": units, "reasons": {},
                       "examples": {}, "note": f"{read['rows_out']:,} rows became {units:,} {how}"})
    n = units
    for name in ("length", "language"):
        stages.append(acc.stage(name, n))
        n = stages[-1]["rows_out"]
    stages.append({"stage": "decontaminate", "rows_in": n, "dropped": decontaminated, "rows_out": n - decontaminated,
                   "reasons": {f"{evals[s].spec} ({rule})": c for (s, rule), c in sorted(contam.items())},
                   "examples": {f"{evals[s].spec} ({rule})": ex for (s, rule), ex in sorted(contam_ex.items())}})
    n -= decontaminated
    wanted = sorted({r for d in dups.values() for r, _, _ in d["examples"]})
    kept_text = kept.texts(wanted, shards, tmp)
    for st, reason in (("exact_dedup", "duplicate"), ("near_dedup", "near_duplicate")):
        d = dups[st]["n"]
        ex = [{"where": where(w), "text": t[:EXAMPLE_CHARS], "kept_where": where(kept.where(r)),
               "kept_text": kept_text[r][:EXAMPLE_CHARS]} for r, w, t in dups[st]["examples"]]
        stages.append({"stage": st, "rows_in": n, "dropped": d, "rows_out": n - d,
                       "reasons": {reason: d} if d else {}, "examples": {reason: ex} if d else {}})
        n -= d
    excludes = []
    for s, ev in enumerate(evals):
        excludes.append({**ev.summary(), "removed": {rule: contam.get((s, rule), 0) for rule in ("exact", "ngram")},
                         "examples": {rule: contam_ex.get((s, rule), []) for rule in ("exact", "ngram")}})
    return {
        "config": asdict(cfg),
        "inputs": [{"spec": i["spec"], "path": i["path"], "source": i["source"], "format": i["layout"].format,
                    "field": _field(i["layout"]),
                    "sha256": i["sha256"], "bytes": i["bytes"], "rows": per_input[k]} for k, i in enumerate(inputs)],
        "excludes": excludes,
        "decontamination": {"unit": cfg.decontam_unit, "n": cfg.decontam_n, "key": "NFKC, lower-cased, letters and digits only"},
        "near_dedup": ({"shingle": cfg.shingle, "shingle_size": cfg.shingle_size, "threshold": cfg.near_threshold,
                        "num_perm": cfg.num_perm,
                        **dict(zip(("bands", "rows_per_band"), hashing.lsh_params(cfg.near_threshold, cfg.num_perm)))}
                       if cfg.dedup == "near" else None),
        "rows_in": rows_in,
        "stages": stages,
        "splits": {s: shards[s].summary() for s in SPLITS},
    }


def _field(layout) -> str | None:
    """The text field's name: a jsonl key or parquet column as it is, a tsv/csv column by name."""
    if isinstance(layout.text_col, int) and layout.columns:
        return layout.columns[layout.text_col]
    return layout.text_col


def _nothing_left(manifest: dict) -> str:
    stages = [s for s in manifest["stages"] if s["dropped"]]
    if not manifest["rows_in"]:
        return "the inputs have no rows; check the files and their fields"
    last = stages[-1] if stages else None
    took = max(stages, key=lambda s: s["dropped"]) if stages else None
    if took is None:
        return "no row is left; check the inputs"
    reasons = ", ".join(f"{r}: {n:,}" for r, n in took["reasons"].items())
    msg = f"no row is left: {took['stage']} dropped {took['dropped']:,} of {took['rows_in']:,} rows ({reasons})"
    if last is not took:
        msg += f", {last['stage']} the last {last['dropped']:,}"
    return f"{msg}; {FIXES[(last or took)['stage']]}"


def main_summary(m: dict) -> str:
    tr, va = m["splits"]["train"], m["splits"]["valid"]
    drops = ", ".join(f"{s['stage']} -{s['dropped']:,}" for s in m["stages"] if s["dropped"])
    return (f"{m['rows_in']:,} rows -> train {tr['rows']:,} ({tr['chars']:,} chars), valid {va['rows']:,} "
            f"in {m['seconds']:.1f}s ({m['rows_per_s']:,.0f} rows/s); {drops or 'nothing dropped'}")

