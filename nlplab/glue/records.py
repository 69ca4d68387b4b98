"""Tasks whose files are JSON records: KLUE's JSON arrays and IMDB's JSONL (one object per
line, gzip or plain), read into the same `Split` as the tab-separated tasks.

    python -c "from nlplab.glue.records import read_records; from nlplab.glue.tasks import TASKS; \
        print(len(read_records('../shared/data/imdb/reviews.jsonl.gz', TASKS['IMDB'], 'test')))"

Fields are named by the task's `Columns`; a label may be a dotted path into a nested
object (KLUE-STS: `labels.real-label`). A row without a field it needs is an error naming
the row (the array index + 1, or the JSONL line), never a silent skip.
"""

from __future__ import annotations

import json

from nlplab import NlplabError, io


def _get(rec, path: str, where: str, t):
    value = rec
    for key in str(path).split("."):
        if not isinstance(value, dict) or key not in value:
            raise NlplabError(f"{where}: no field {path!r}; is this {t.origin}?")
        value = value[key]
    if value is None:
        raise NlplabError(f"{where}: field {path!r} is null; every row needs it")
    return value


def _rows(path: str, t):
    """(where, object) for every record: a JSON array's items or a JSONL file's lines."""
    reader, _ = io.open_input(path)
    with reader:
        if t.reader == "json":
            try:
                data = json.loads(reader.read().decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                line = f":{e.lineno}" if isinstance(e, json.JSONDecodeError) else ""
                raise NlplabError(f"{path}{line}: not a JSON array ({e}); is this {t.origin}?") from None
            if not isinstance(data, list):
                raise NlplabError(f"{path}: a JSON {type(data).__name__}, not an array of records; is this {t.origin}?")
            for k, rec in enumerate(data):
                yield f"{path}: record {k + 1}", rec
            return
        for lineno, raw in enumerate(reader, 1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise NlplabError(f"{path}:{lineno}: not a JSON object ({e}); is this {t.origin}?") from None
            yield f"{path}:{lineno}", rec


def read_records(path, t, split: str):
    """One split of a JSON/JSONL task. ids: the id field, else the row's number among the
    rows kept (IMDB: its number within the split)."""
    from nlplab.glue.data import Split, parse_label

    path, cols = str(path), t.columns[split]
    out = Split(t.name, split, [], [], [] if cols.text_b is not None else None, [] if cols.label is not None else None,
                path)
    for where, rec in _rows(path, t):
        if not isinstance(rec, dict):
            raise NlplabError(f"{where}: a JSON {type(rec).__name__}, not an object; is this {t.origin}?")
        if cols.where is not None and rec.get(cols.where[0]) != cols.where[1]:
            continue
        out.ids.append(str(_get(rec, cols.id, where, t)) if cols.id is not None else str(len(out.ids)))
        out.texts_a.append(str(_get(rec, cols.text_a, where, t)))
        if out.texts_b is not None:
            out.texts_b.append(str(_get(rec, cols.text_b, where, t)))
        if out.labels is not None:
            out.labels.append(parse_label(t, str(_get(rec, cols.label, where, t)), where))
    return out
