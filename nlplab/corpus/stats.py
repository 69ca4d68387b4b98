"""`nlplab corpus stats DIR`: a corpus folder's manifest as a table, its counts as JSON, and
the character-length histograms of train and valid as a PNG.

    nlplab corpus stats out/ko                 # the table; DIR/lengths.png
    nlplab corpus stats out/ko --json --png lengths.png

Everything here is read from DIR/manifest.json (written by nlplab/corpus/build.py): no
shard is opened, so a corpus of any size answers at once. The row helpers (input_rows,
stage_rows, exclude_rows, split_rows) are shared with the Corpus section of `nlplab report`,
so the terminal and the page show the same table.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from nlplab import NlplabError
from nlplab.corpus import read

NEED = ("inputs", "stages", "splits")
INPUT_HEAD = ["input", "rows", "sha256"]
STAGE_HEAD = ["stage", "in", "dropped", "out", "reasons"]
EXCLUDE_HEAD = ["excluded file", "eval texts", "exact", "ngram"]
SPLIT_HEAD = ["split", "rows", "chars", "words", "shards"]


def load(folder) -> dict:
    """The manifest of a corpus folder; NlplabError when it is not one."""
    return check(read.manifest(folder), folder)


def check(manifest, folder) -> dict:
    missing = [k for k in NEED if not isinstance(manifest, dict) or k not in manifest]
    if missing:
        raise NlplabError(f"{Path(folder) / read.MANIFEST}: not a corpus manifest (no {', '.join(missing)}); "
                          "rebuild it with `nlplab corpus build`")
    return manifest


def counts(m: dict) -> dict:
    """The manifest's numbers without its examples and config (`--json`)."""
    return {
        "inputs": [{"source": i["source"], "rows": i["rows"], "sha256": i["sha256"]} for i in m["inputs"]],
        "rows_in": m.get("rows_in"),
        "stages": {s["stage"]: {k: s[k] for k in ("rows_in", "dropped", "rows_out", "reasons")} for s in m["stages"]},
        "excludes": [{"file": e["file"], "texts": e["texts"], "removed": e["removed"]} for e in m.get("excludes", [])],
        "splits": {name: {"rows": s["rows"], "chars": s["chars"], "words": s["words"], "shards": len(s["shards"])}
                   for name, s in m["splits"].items()},
        "seconds": m.get("seconds"),
        "rows_per_s": m.get("rows_per_s"),
    }


# ---- rows of the tables, as strings (the terminal and the report page share them)

def input_rows(m: dict) -> list[list[str]]:
    return [[i["source"], f"{i['rows']:,}", (i["sha256"] or "-")[:12]] for i in m["inputs"]]


def reasons(stage: dict) -> str:
    if stage.get("note"):  # a stage that splits rows (sentences, several fields): more rows out than in
        return stage["note"]
    return ", ".join(f"{r}: {n:,}" for r, n in stage["reasons"].items())


def stage_rows(m: dict) -> list[list[str]]:
    return [[s["stage"], f"{s['rows_in']:,}", f"{s['dropped']:,}", f"{s['rows_out']:,}", reasons(s)]
            for s in m["stages"]]


def exclude_rows(m: dict) -> list[list[str]]:
    return [[e["file"], f"{e['texts']:,}", f"{e['removed']['exact']:,}", f"{e['removed']['ngram']:,}"]
            for e in m.get("excludes", [])]


def absent(m: dict) -> str:
    """Optional exclude files that were not there: evaluation sets the corpus was NOT checked against."""
    missing = m.get("excludes_absent") or []
    return f"not checked (exclude file absent): {', '.join(missing)}" if missing else ""


def split_rows(m: dict) -> list[list[str]]:
    rows = [[name, f"{s['rows']:,}", f"{s['chars']:,}", f"{s['words']:,}", f"{len(s['shards']):,}"]
            for name, s in m["splits"].items()]
    if "selected_in" in m:  # the raw texts read, before cleaning: what the filters started from
        first = m["stages"][0]
        rows.insert(0, ["in", f"{first['rows_out']:,}", f"{m['selected_in']['chars']:,}",
                        f"{m['selected_in']['words']:,}", ""])
    return rows


def built(m: dict) -> str:
    return (f"built in {m.get('seconds', 0):.1f}s, {m.get('rows_per_s', 0):,.0f} rows/s, "
            f"by nlplab {m.get('nlplab_version', '?')}: {m.get('command') or '-'}")


# ---- the terminal table

def _width(s: str) -> int:
    """Terminal columns: Hangul and other wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def _grid(head: list[str], rows: list[list[str]], left: tuple = (0,)) -> str:
    """Aligned columns: the `left` ones (names, hashes, reasons) to the left, numbers to the right."""
    cells = [head, *rows]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(head))]
    pad = [[" " * (w - _width(c)) for c, w in zip(r, widths)] for r in cells]
    return "\n".join("  ".join(c + p if i in left else p + c for i, (c, p) in enumerate(zip(r, ps))).rstrip()
                     for r, ps in zip(cells, pad))


def table(m: dict) -> str:
    excludes = (_grid(EXCLUDE_HEAD, exclude_rows(m)) if m.get("excludes")
                else "excluded file: none (no --exclude given; nothing was checked against evaluation sets)")
    if absent(m):
        excludes += "\n" + absent(m)
    return "\n\n".join([_grid(INPUT_HEAD, input_rows(m), (0, 2)), _grid(STAGE_HEAD, stage_rows(m), (0, 4)), excludes,
                        _grid(SPLIT_HEAD, split_rows(m)), built(m)])


# ---- the length histograms

def _bin_label(i: int) -> str:
    # bin i holds lengths L with L.bit_length() == i: [2^(i-1), 2^i); bin 0 is the empty text
    lo, hi = (0, 0) if i == 0 else (1 << (i - 1), (1 << i) - 1)
    return str(lo) if lo == hi else f"{lo}-{hi}"


def figure(m: dict):
    """Train and valid side by side, as shares of each split's rows (valid is ~1% of the
    corpus: raw counts would hide its shape); the row counts are in the legend."""
    from matplotlib.figure import Figure

    hists = {name: s["char_histogram"]["counts"] for name, s in m["splits"].items()}
    n = max(len(c) for c in hists.values())
    used = [i for i in range(n) if any(i < len(c) and c[i] for c in hists.values())]
    lo, hi = (used[0], used[-1] + 1) if used else (0, n)
    bins = range(lo, hi)
    fig = Figure(figsize=(1.5 + 0.55 * len(bins), 3.4))
    ax = fig.subplots()
    width = 0.8 / len(hists)
    for k, (name, c) in enumerate(hists.items()):
        total = sum(c) or 1
        share = [100 * (c[i] if i < len(c) else 0) / total for i in bins]
        ax.bar([j + (k - (len(hists) - 1) / 2) * width for j in range(len(bins))], share, width,
               label=f"{name} ({m['splits'][name]['rows']:,} rows)", color=f"C{k}")
    ax.set_xticks(range(len(bins)), [_bin_label(i) for i in bins], rotation=45 if len(bins) > 8 else 0)
    ax.set(xlabel="characters per text (log-2 bins)", ylabel="% of the split's rows", title="text lengths")
    ax.legend(fontsize=8)
    return fig


def histograms(m: dict, png_path) -> None:
    """figure() as a PNG file, written whole or not at all."""
    from nlplab import io
    from nlplab.report.plots import png_bytes

    data = png_bytes(figure(m))
    with io.atomic_output(str(png_path), "wb") as f:
        f.write(data)
