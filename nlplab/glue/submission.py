"""Prediction files, the leaderboard zip, and checking one before you upload it.

    nlplab glue submit runs/bert runs/tfidf -o submission.zip --data-dir glue_data [--fill-missing majority]
    nlplab glue check submission.zip --data-dir glue_data

Predictions file: `<pred_dir>/<ENTRY>.<dev|test>.tsv`, where ENTRY is a leaderboard name
(CoLA, SST-2, MRPC, STS-B, QQP, MNLI-m, MNLI-mm, QNLI, RTE, WNLI, AX), e.g.
`CoLA.dev.tsv`, `MNLI-mm.test.tsv`. Header `index\tprediction`, then one row per example:
its id (see nlplab.glue.data: the test `index` column, or the dev row number) and the
label string, HF label name, class id, or number (STS-B). Any model can write them.

Submission: the 11 files `<ENTRY>.tsv` at the root of a zip, header `index\tprediction`,
labels as the leaderboard wants them (0/1; entailment/neutral/contradiction for MNLI and
AX; entailment/not_entailment for QNLI and RTE; STS-B clipped to [0, 5], 3 decimals), one
row per test example. Test ids come from --data-dir's test files where present, else
0..N-1 with N the official test size.
"""

from __future__ import annotations

import math
import sys
import zipfile
from pathlib import Path

from nlplab import NlplabError, io
from nlplab.glue.tasks import BOARDS, Board, Task

HEADER = "index\tprediction"
MAX_PROBLEMS = 20  # per file: a wrong vocabulary would otherwise print one line per row


def pred_path(folder: str | Path, entry: str, kind: str) -> Path:
    """`<folder>/<entry>.<dev|test>.tsv`."""
    return Path(folder) / f"{entry}.{kind}.tsv"


def format_value(t: Task, value, leaderboard: bool = False) -> str:
    if t.regression:
        v = float(value)
        return f"{min(max(v, 0.0), 5.0):.3f}" if leaderboard else repr(v)
    return t.labels[value] if isinstance(value, int) else str(value)


def write_predictions(path: str | Path, t: Task, ids, values) -> None:
    """`index\\tprediction` rows; values are label strings, class ids or floats."""
    with io.atomic_output(str(path), "w") as f:
        f.write(HEADER + "\n")
        f.writelines(f"{i}\t{format_value(t, v)}\n" for i, v in zip(ids, values))


def run_files(t: Task, extra, predict_test: bool, splits) -> list[tuple[Task, Board, str, str]]:
    """The prediction files of a fine-tuning run of `t`: (task, board, split, "dev" | "test")
    for each leaderboard entry's dev split and, with predict_test, each of its test splits in
    `splits`; `extra` adds other boards the run's model predicts ((task, board): MNLI -> AX)."""
    files = []
    for bt, b in [(t, b) for b in t.boards] + list(extra):
        if b.dev is not None:
            files.append((bt, b, b.dev, "dev"))
        if predict_test and b.test in splits:
            files.append((bt, b, b.test, "test"))
    return files


def write_run(folder: str | Path, t: Task, files, ids: dict, preds: dict, main: str, gold: list) -> None:
    """A fine-tuning run's predictions: `<ENTRY>.<dev|test>.tsv` for each of `files`
    (run_files; ids and preds per split) and, when they include the main dev split,
    dev_predictions.tsv (index, gold label, prediction) to read beside the metrics."""
    for bt, b, name, kind in files:
        write_predictions(pred_path(folder, b.name, kind), bt, ids[name], preds[name])
    if any(name == main and kind == "dev" for _, _, name, kind in files):
        shown, gold = ([v if t.regression else t.labels[v] for v in vs] for vs in (preds[main], gold))
        with io.atomic_output(str(Path(folder) / "dev_predictions.tsv"), "w", encoding="utf-8") as f:
            f.write("index\tlabel\tprediction\n")
            f.writelines(f"{i}\t{g}\t{p}\n" for i, g, p in zip(ids[main], gold, shown))


def parse_value(t: Task, raw: str, strict: bool):
    """A prediction as the task's label string (or float). strict: leaderboard strings only."""
    if t.regression:
        try:
            v = float(raw)
        except ValueError:
            raise ValueError(f"prediction {raw!r} is not a number") from None
        if not math.isfinite(v):
            raise ValueError(f"prediction {raw!r} is not a finite number")
        if strict and not 0.0 <= v <= 5.0:
            raise ValueError(f"score {raw} is outside [0, 5]")
        return v
    if raw in t.labels:
        return raw
    if not strict:
        if raw in t.label_names:
            return t.labels[t.label_names.index(raw)]
        if raw.isdigit() and int(raw) < len(t.labels):
            return t.labels[int(raw)]
    known = ", ".join(t.labels) if strict else f"{', '.join(t.labels)} (or class ids 0..{len(t.labels) - 1})"
    raise ValueError(f"unknown {t.name} label {raw!r}; labels are {known}")


def validate(text: str, t: Task, where: str, expected: list[str] | None, strict: bool, what: str = "test"):
    """Parse a predictions/submission file. Returns ({id: value}, [problems]); every problem
    names `where:line`. `expected` ids: every one needs exactly one row, no others."""
    values: dict[str, object] = {}
    problems: list[str] = []
    extra = 0

    def problem(msg: str):
        nonlocal extra
        if len(problems) < MAX_PROBLEMS:
            problems.append(msg)
        else:
            extra += 1

    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        return values, [f"{where}: empty file; the first line must be the header {HEADER!r}"]
    head = lines[0].lstrip("\ufeff").rstrip("\r")
    if head != HEADER:
        problem(f"{where}:1: header is {head!r}, expected {HEADER!r}")
    wanted = set(expected) if expected is not None else None
    for n, line in enumerate(lines[1:], start=2):
        fields = line.rstrip("\r").split("\t")
        if len(fields) != 2:
            problem(f"{where}:{n}: {len(fields)} tab-separated fields, expected 2 (index, prediction)")
            continue
        idx, raw = fields[0].strip(), fields[1].strip()
        if idx in values:
            problem(f"{where}:{n}: index {idx} appears twice")
            continue
        if wanted is not None and idx not in wanted:
            problem(f"{where}:{n}: index {idx!r} is not in the {what} set")
            continue
        try:
            values[idx] = parse_value(t, raw, strict)
        except ValueError as e:
            problem(f"{where}:{n}: {e}")
            values[idx] = None  # counted as present: the row is there, its value is wrong
    if wanted is not None:
        missing = [i for i in expected if i not in values]
        if missing:
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            problem(f"{where}: {len(missing)} of {len(expected)} {what} indices have no row (first: {shown}); "
                    f"{len(lines) - 1} rows, the {what} set has {len(expected)}")
    if extra:
        problems.append(f"{where}: ... and {extra} more problems")
    return values, problems


def expected_test_ids(source, t: Task, b: Board) -> list[str]:
    """The test ids a submission file must cover: from the local test file where there is
    one (reading it also proves the data dir is the one the predictions were made on),
    else 0..N-1 with N the official test size."""
    path = source.path(t, b.test) if source is not None else None
    if path is not None:
        return source.load(t, b.test).ids
    return [str(i) for i in range(b.test_size)]


def majority(source, t: Task):
    """Majority class of the train labels (ties: the lower class id); STS-B: the train mean."""
    train = source.load(t.train_from or t.name, "train")
    if t.regression:
        return sum(train.labels) / len(train.labels)
    counts = {label: 0 for label in t.labels}
    for v in train.labels:
        counts[v] += 1
    return max(t.labels, key=lambda label: counts[label])


def submit(pred_dirs: list[str], output: str, source, fill_missing: str | None = None) -> dict:
    """Write the leaderboard zip; returns {entry: where its rows came from}."""
    found: dict[str, Path] = {}
    for folder in pred_dirs:
        if not Path(folder).is_dir():
            raise NlplabError(f"{folder}: no such folder of predictions (<ENTRY>.test.tsv files)")
        for name in BOARDS:
            p = pred_path(folder, name, "test")
            if p.is_file():
                if name in found:  # which one was meant is a guess: refuse instead
                    raise NlplabError(f"{name}: test predictions in both {found[name]} and {p}; give each task once")
                found[name] = p
    missing = [n for n in BOARDS if n not in found]
    if missing and fill_missing is None:
        raise NlplabError(f"no test predictions for {', '.join(missing)} (looked for <ENTRY>.test.tsv in "
                          f"{', '.join(pred_dirs)}); add them or pass --fill-missing majority")
    files, origin = {}, {}
    for name, (t, b) in BOARDS.items():
        ids = expected_test_ids(source, t, b)
        if name in found:
            text = found[name].read_text(encoding="utf-8")
            values, problems = validate(text, t, str(found[name]), ids, strict=False)
            if problems:
                more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
                raise NlplabError(problems[0] + more)
            origin[name] = str(found[name])
        elif source is not None and source.has(t.train_from or t.name, "train"):
            value = majority(source, t)
            values = dict.fromkeys(ids, value)
            origin[name] = f"majority baseline ({format_value(t, value, True)})"
        else:  # no train file to take a majority from (a GLUE folder with a few tasks): a placeholder
            value = 2.5 if t.regression else t.labels[0]  # STS-B: the middle of its 0-5 scale
            values = dict.fromkeys(ids, value)
            origin[name] = f"constant, no train data ({format_value(t, value, True)})"
        files[f"{name}.tsv"] = HEADER + "\n" + "".join(f"{i}\t{format_value(t, values[i], True)}\n" for i in ids)
    if missing:
        how = ", ".join(f"{n} ({origin[n].split(' (')[0]})" for n in missing)
        print(f"warning: filled with the majority-class baseline (a constant where the train file is missing): {how}",
              file=sys.stderr)
    with io.atomic_output(output, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
        for fname, text in files.items():
            z.writestr(fname, text)
    return origin


def _members(path: str) -> dict[str, bytes]:
    p = Path(path)
    if p.is_dir():
        return {f.relative_to(p).as_posix(): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()}
    if not p.is_file():
        raise NlplabError(f"{path}: no such file; give the submission zip (or a folder of the .tsv files)")
    try:
        with zipfile.ZipFile(p) as z:
            return {i.filename: z.read(i) for i in z.infolist() if not i.is_dir()}
    except zipfile.BadZipFile:
        raise NlplabError(f"{path}: not a zip file; make one with nlplab glue submit") from None


def check(path: str, source=None) -> list[str]:
    """Every problem of a submission zip (or folder), one line each; [] when it is fine."""
    members = _members(path)
    problems = []
    expected = {f"{name}.tsv" for name in BOARDS}
    for fname in members:
        if fname not in expected:
            hint = " (files go at the root of the zip)" if Path(fname).name in expected else ""
            problems.append(f"{path}: unexpected file {fname!r}{hint}; expected {', '.join(sorted(expected))}")
    for name, (t, b) in BOARDS.items():
        fname = f"{name}.tsv"
        where = f"{path}:{fname}"
        if fname not in members:
            problems.append(f"{path}: missing {fname}")
            continue
        try:
            text = members[fname].decode("utf-8")
        except UnicodeDecodeError as e:
            problems.append(f"{where}: not UTF-8 (byte {e.start}); write the file as UTF-8")
            continue
        problems += validate(text, t, where, expected_test_ids(source, t, b), strict=True)[1]
    return problems
