"""`nlplab corpus stats` and the Corpus section of `nlplab report`, on a ten-row corpus built
through the CLI in which every stage drops a row: the table, the counts, the PNG, the page."""

import base64
import json
import re

import pytest
from conftest import run_cli

from nlplab.corpus import stats

ROWS = ["재밌다!!", "재밌다 !", "good movie", "", "정말 최고의 영화였습니다 배우들 연기가 대단하고 음악도 좋아요",
        "이 영화는 평가용 문장입니다", "앞부분은 좋았지만 결말이 너무 허무해서 실망했어요 다시는 보고 싶지 않네요",
        "정말 최고의 영화였습니다 배우들 연기가 대단하고 음악도 좋아요 ㅎ", "음악이 좋아서 두 번 봤어요", "지루하고 길다"]
# row 6 is an evaluation text (exact); row 7 holds 20+ letters of the second one (ngram)
EVAL = ["이 영화는 평가용 문장입니다", "결말이 너무 허무해서 실망했어요 다시는 보고 싶지 않습니다"]
SHA = "6f8d105f8c413547c555000e203c3d4fadee286845b802d755cf4de88a0ddd17"  # of a.jsonl as written below
PNG = b"\x89PNG\r\n\x1a\n"

TABLE = """\
input    rows  sha256
a.jsonl    10  6f8d105f8c41

stage          in  dropped  out  reasons
read           10        0   10
length         10        1    9  too_short: 1
language        9        1    8  not_ko: 1
decontaminate   8        2    6  ev.jsonl:text (exact): 1, ev.jsonl:text (ngram): 1
exact_dedup     6        1    5  duplicate: 1
near_dedup      5        1    4  near_duplicate: 1

excluded file  eval texts  exact  ngram
ev.jsonl:text           2      1      1

split  rows  chars  words  shards
in       10    168     43
train     2     22      7       1
valid     2     39      9       1
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus-stats")
    (root / "a.jsonl").write_text("".join(json.dumps({"review": r}, ensure_ascii=False) + "\n" for r in ROWS),
                                  encoding="utf-8")
    (root / "ev.jsonl").write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in EVAL),
                                   encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # relative paths: the manifest names a.jsonl, not a temporary folder
        assert run_cli("corpus", "build", "a.jsonl:review", "-o", "out", "--lang", "ko", "--valid-fraction", 0.3,
                       "--exclude", "ev.jsonl:text", "--no-progress") == 0
    return root / "out"


def test_table_aligns_every_stage_with_its_counts(corpus):
    text = stats.table(stats.load(corpus))
    assert text.startswith(TABLE)
    assert "length         10        1    9  too_short: 1" in text.splitlines()
    assert re.fullmatch(r"built in \d+\.\ds, [\d,]+ rows/s, by nlplab \S+: nlplab .*", text.splitlines()[-1])


def test_table_says_what_was_not_checked_and_shows_a_stage_note():
    m = {"inputs": [{"source": "b.txt", "rows": 1234, "sha256": None}], "excludes": [],
         "excludes_absent": ["glue/CoLA/dev.tsv:3"],
         "stages": [{"stage": "sentences", "rows_in": 2, "dropped": 0, "rows_out": 5, "reasons": {},
                     "note": "2 documents became 5 sentences"}],
         "splits": {"train": {"rows": 5, "chars": 12345, "words": 9, "shards": ["train-00000.parquet"]}},
         "seconds": 1.25, "rows_per_s": 1600.0, "nlplab_version": "0.1.0", "command": "nlplab corpus build b.txt"}
    assert stats.table(m).splitlines() == [
        "input   rows  sha256", "b.txt  1,234  -", "",
        "stage      in  dropped  out  reasons", "sentences   2        0    5  2 documents became 5 sentences", "",
        "excluded file: none (no --exclude given; nothing was checked against evaluation sets)",
        "not checked (exclude file absent): glue/CoLA/dev.tsv:3", "",
        "split  rows   chars  words  shards", "train     5  12,345      9       1", "",
        "built in 1.2s, 1,600 rows/s, by nlplab 0.1.0: nlplab corpus build b.txt"]


def test_counts_are_the_manifests_numbers(corpus):
    got = stats.counts(stats.load(corpus))
    assert got.pop("seconds") > 0 and got.pop("rows_per_s") > 0
    assert got == {
        "inputs": [{"source": "a.jsonl", "rows": 10, "sha256": SHA}],
        "rows_in": 10,
        "stages": {"read": {"rows_in": 10, "dropped": 0, "rows_out": 10, "reasons": {}},
                   "length": {"rows_in": 10, "dropped": 1, "rows_out": 9, "reasons": {"too_short": 1}},
                   "language": {"rows_in": 9, "dropped": 1, "rows_out": 8, "reasons": {"not_ko": 1}},
                   "decontaminate": {"rows_in": 8, "dropped": 2, "rows_out": 6,
                                     "reasons": {"ev.jsonl:text (exact)": 1, "ev.jsonl:text (ngram)": 1}},
                   "exact_dedup": {"rows_in": 6, "dropped": 1, "rows_out": 5, "reasons": {"duplicate": 1}},
                   "near_dedup": {"rows_in": 5, "dropped": 1, "rows_out": 4, "reasons": {"near_duplicate": 1}}},
        "excludes": [{"file": "ev.jsonl:text", "texts": 2, "removed": {"exact": 1, "ngram": 1}}],
        "splits": {"train": {"rows": 2, "chars": 22, "words": 7, "shards": 1},
                   "valid": {"rows": 2, "chars": 39, "words": 9, "shards": 1}},
    }


def test_histograms_write_a_png_and_nothing_beside_it(corpus, tmp_path):
    stats.histograms(stats.load(corpus), tmp_path / "h.png")
    assert [p.name for p in tmp_path.iterdir()] == ["h.png"]  # the temporary file was renamed, not left
    assert (tmp_path / "h.png").read_bytes()[:8] == PNG


def test_corpus_stats_prints_the_table_and_writes_lengths_png(corpus, tmp_path, capsys):
    code, out, err = run_cli("corpus", "stats", corpus, capsys=capsys)
    assert code == 0 and out.startswith(TABLE)
    assert err == f"{corpus / 'lengths.png'}: length histograms\n"
    assert (corpus / "lengths.png").read_bytes()[:8] == PNG
    code, out, _ = run_cli("corpus", "stats", corpus, "--json", "--png", tmp_path / "l.png", capsys=capsys)
    assert code == 0 and json.loads(out) == stats.counts(stats.load(corpus))
    assert json.loads(out)["stages"]["length"] == {"rows_in": 10, "dropped": 1, "rows_out": 9, "reasons": {"too_short": 1}}
    assert (tmp_path / "l.png").read_bytes()[:8] == PNG


def test_report_shows_a_corpus_section(corpus, tmp_path, capsys):
    code, out, _ = run_cli("report", corpus, "-o", tmp_path / "report.html", capsys=capsys)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert code == 0 and "<h2>Corpus</h2>" in html and "0 runs, 0 sweeps, 1 corpus;" in html
    stages = re.search(r'<table class="corpus-stages" data-corpus="out">.*?<tbody>(.*?)</table>', html, re.S).group(1)
    assert re.findall(r"<tr><th>(\w+)</th>", stages) == ["read", "length", "language", "decontaminate",
                                                         "exact_dedup", "near_dedup"]
    assert "<tr><th>length</th><td>10</td><td>1</td><td>9</td><td>too_short: 1</td></tr>" in stages
    assert "<tr><th>ev.jsonl:text</th><td>2</td><td>1</td><td>1</td></tr>" in html  # the exclude file's rules
    assert "<td>a.jsonl:2</td><td>재밌다 !</td><td>kept a.jsonl:1: 재밌다!!</td>" in html  # an example per reason
    assert "<td>a.jsonl:6</td><td>이 영화는 평가용 문장입니다</td><td>eval: 이 영화는 평가용 문장입니다</td>" in html
    examples = re.search(r'<table class="corpus-examples".*?<tbody>(.*?)</table>', html, re.S).group(1)
    assert re.findall(r"<tr><th>\w+</th><td>([^<]+)</td>", examples) == [  # up to 3 per reason: here 1 each
        "too_short", "not_ko", "ev.jsonl:text (exact)", "ev.jsonl:text (ngram)", "duplicate", "near_duplicate"]
    img = re.search(r'<img alt="text lengths out" src="data:image/png;base64,([^"]+)">', html).group(1)
    assert base64.b64decode(img)[:8] == PNG
    lines = out.splitlines()  # the text summary lists the corpus
    assert lines[0].split()[:2] == ["run", "kind"]
    assert lines[1].split() == ["out", "corpus", "ko:", "a.jsonl", "-", "10", "rows", "in", "train", "2", "/", "valid",
                                "2", "rows", *lines[1].split()[-3:]]


def test_a_folder_that_is_not_a_corpus_is_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli("corpus", "stats", tmp_path / "empty", capsys=capsys)
    assert code == 2 and err == (f"nlplab corpus stats: error: {tmp_path / 'empty'}: not a corpus folder "
                                 "(no manifest.json); build one with `nlplab corpus build`\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "manifest.json").write_text('{"files": []}')
    code, _, err = run_cli("corpus", "stats", tmp_path / "other", capsys=capsys)
    assert code == 2 and err.endswith("manifest.json: not a corpus manifest (no inputs, stages, splits); "
                                      "rebuild it with `nlplab corpus build`\n")
    # a manifest.json of another kind is not a corpus to the report either: it stays "not a run folder"
    code, _, err = run_cli("report", tmp_path / "other", "-o", tmp_path / "r.html", capsys=capsys)
    assert code == 2 and "not a run folder" in err and len(err.splitlines()) == 1
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text('{"splits": ')
    code, _, err = run_cli("report", tmp_path / "broken", "-o", tmp_path / "r.html", capsys=capsys)
    assert code == 2 and "manifest.json:1:12: damaged manifest" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "empty" / "lengths.png").exists()
