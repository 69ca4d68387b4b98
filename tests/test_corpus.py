"""nlplab corpus build/export: filters, keys, MinHash parity with datasketch, dedup and
decontamination on crafted rows, the manifest's accounting, determinism, bad input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from nlplab import NlplabError
from nlplab.cli import main
from nlplab.corpus import filters, hashing
from nlplab.corpus.config import CorpusConfig, split_spec

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"

# --- the per-text pieces --------------------------------------------------------------


def test_key_is_ccnet_normalization():
    assert hashing.key("재밌다!!") == hashing.key("재밌다 !") == "재밌다"
    assert hashing.key("ＡＢＣ, abc 1２3!") == "abcabc123"  # NFKC folds full width, then lower-case
    assert hashing.words("Hello, World! 2 times") == ["hello", "world", "2", "times"]
    assert "".join(hashing.words("재밌다 !! 진짜")) == hashing.key("재밌다 !! 진짜")


def test_length_filter():
    assert filters.length("좋아요", 5, 0, 0) == "too_short"
    assert filters.length("좋아요 정말", 1, 4, 0) == "too_long"
    assert filters.length("좋아요 정말", 1, 0, 3) == "too_few_words"
    assert filters.length("좋아요 정말 최고", 1, 0, 3) is None


def test_language_filter_counts_letters_of_the_key():
    assert filters.script_share(hashing.key("영화 good"), "Hangul") == pytest.approx(2 / 6)
    assert filters.language(hashing.key("영화 최고 10점!!"), "ko", 0.5) is None  # digits count for neither side
    assert filters.language(hashing.key("good movie 굿"), "ko", 0.5) == "not_ko"
    assert filters.language(hashing.key("10/10 !!"), "ko", 0.5) == "no_letters"
    assert filters.language(hashing.key("good"), "ko", 0) is None  # 0 turns it off


def test_window_hashes_stay_inside_each_text():
    sym, lengths = hashing.char_symbols(["abcd", "xabc", "ab"])
    h, owner = hashing.window_hashes(sym, lengths, 3)
    assert owner.tolist() == [0, 0, 1, 1]  # "ab" has no window; none crosses texts ("dxa")
    assert h[0] == h[3]  # "abc" hashes alike wherever it is
    assert len(set(h.tolist())) == 3


def test_minhash_equals_datasketch_given_the_same_shingle_hashes():
    datasketch = pytest.importorskip("datasketch")
    from datasketch.hashfunc import sha1_hash32

    docs = [["abcde", "bcdef", "cdefg"], ["재밌는영화", "밌는영화였"], ["x"]]
    hv = np.array([sha1_hash32(s.encode()) for d in docs for s in d], dtype=np.uint32)
    owner = np.repeat(np.arange(len(docs)), [len(d) for d in docs])
    sig = hashing.MinHasher(128, seed=1, batch=4).signatures(hv, owner, len(docs))  # batch=4: across batches
    for i, d in enumerate(docs):
        m = datasketch.MinHash(num_perm=128, seed=1)
        m.update_batch([s.encode() for s in d])
        assert sig[i].tolist() == m.hashvalues.tolist()


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.9])
def test_lsh_bands_as_datasketch_picks_them(threshold):
    lsh = pytest.importorskip("datasketch.lsh")
    assert hashing.lsh_params(threshold, 128) == lsh._optimal_param(threshold, 128, 0.5, 0.5)


def test_input_specs():
    assert split_spec("a/b.jsonl.gz:review") == ("a/b.jsonl.gz", ["review"], None)
    assert split_spec("chat.csv:Q,A") == ("chat.csv", ["Q", "A"], None)
    assert split_spec("imdb.jsonl.gz:text?split=train,unsup") == ("imdb.jsonl.gz", ["text"],
                                                                   ("split", frozenset({"train", "unsup"})))
    assert split_spec("dir/plain.txt") == ("dir/plain.txt", [], None)
    with pytest.raises(NlplabError, match="KEY=VALUE"):
        split_spec("x.jsonl:text?split")


# --- builds on crafted rows -----------------------------------------------------------

LONG = "정말 최고의 영화였습니다 배우들의 연기가 대단했고 음악도 좋았어요 다시 보고 싶네요"
TEST_LONG = "이 영화는 평가 세트에 들어 있는 긴 문장이라서 학습 말뭉치에 절대 나오면 안 됩니다"


def _rows():
    return [
        "재밌다!!",                         # 1 kept
        "재밌다 !",                         # 2 exact duplicate of 1 (same key)
        LONG,                               # 3 kept
        LONG.replace("싶네요", "싶네"),     # 4 near duplicate of 3 (Jaccard of 5-grams ~0.95)
        "good movie",                       # 5 not Korean
        "",                                 # 6 too short
        TEST_LONG,                          # 7 an evaluation text: exact
        "앞에 말을 붙여도 " + TEST_LONG[:30] + " 뒤에도",  # 8 shares 20+ key characters with it: ngram
        "짧은 평가",                         # 9 a short evaluation text: exact only
        "짧은 평가 문장이 들어간 다른 리뷰",  # 10 holds the short one, but no 20-char window: kept
        "완전히 다른 이야기를 하는 리뷰입니다 아주 길게 써 봅니다",  # 11 kept
    ]


@pytest.fixture
def crafted(tmp_path):
    src = tmp_path / "raw.jsonl"
    src.write_text("".join(json.dumps({"id": i, "review": t}, ensure_ascii=False) + "\n"
                           for i, t in enumerate(_rows())), encoding="utf-8")
    ev = tmp_path / "test.tsv"
    ev.write_text(f"id\tdocument\tlabel\n1\t{TEST_LONG}\t1\n2\t짧은 평가\t0\n", encoding="utf-8")
    return src, ev


def _build(src, ev, out, *extra):
    return main(["corpus", "build", f"{src}:review", "-o", str(out), "--lang", "ko", "--exclude", f"{ev}:document",
                 "--valid-fraction", "0", "--no-progress", *extra])


def _texts(folder, split="train"):
    return [t for f in sorted((Path(folder) / split).glob("*.parquet")) for t in pq.read_table(f)["text"].to_pylist()]


def test_every_rule_on_crafted_rows(crafted, tmp_path):
    src, ev = crafted
    out = tmp_path / "c"
    assert _build(src, ev, out) == 0
    assert _texts(out) == ["재밌다!!", LONG, "짧은 평가 문장이 들어간 다른 리뷰", _rows()[10]]
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    stages = {s["stage"]: s for s in m["stages"]}
    assert {k: s["reasons"] for k, s in stages.items()} == {
        "read": {}, "length": {"too_short": 1}, "language": {"not_ko": 1},
        "decontaminate": {f"{ev}:document (exact)": 2, f"{ev}:document (ngram)": 1},
        "exact_dedup": {"duplicate": 1}, "near_dedup": {"near_duplicate": 1}}
    near = stages["near_dedup"]["examples"]["near_duplicate"][0]
    assert (near["where"], near["kept_where"], near["kept_text"]) == (f"{src}:4", f"{src}:3", LONG)
    assert stages["exact_dedup"]["examples"]["duplicate"][0]["kept_text"] == "재밌다!!"
    (excl,) = m["excludes"]
    assert (excl["rows"], excl["texts"], excl["short_exact_only"], excl["removed"]) == (2, 2, 1, {"exact": 2, "ngram": 1})
    assert excl["examples"]["ngram"][0]["eval_text"] == TEST_LONG
    # accounting: every row is either out or dropped for one reason
    assert m["rows_in"] == 11 == m["splits"]["train"]["rows"] + sum(s["dropped"] for s in m["stages"])
    for a, b in zip(m["stages"], m["stages"][1:]):
        assert a["rows_out"] == b["rows_in"]
    assert m["splits"]["train"]["chars"] == sum(map(len, _texts(out)))
    assert m["inputs"][0]["rows"] == 11 and len(m["inputs"][0]["sha256"]) == 64
    assert (out / "corpus.log").read_text(encoding="utf-8").count("done:") == 1


def test_dedup_exact_and_none(crafted, tmp_path):
    src, ev = crafted
    assert _build(src, ev, tmp_path / "e", "--dedup", "exact") == 0
    assert LONG.replace("싶네요", "싶네") in _texts(tmp_path / "e")
    assert _build(src, ev, tmp_path / "n", "--dedup", "none") == 0
    assert _texts(tmp_path / "n").count("재밌다 !") == 1


def _shard_bytes(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(Path(folder).rglob("*.parquet"))}


def test_reruns_and_workers_give_identical_shards(tmp_path):
    src = tmp_path / "raw.txt.gz"
    texts = [f"리뷰 번호 {i % 700} 는 이런 내용의 평범한 영화 감상문입니다 {i % 300}" for i in range(3000)]
    with gzip.open(src, "wt", encoding="utf-8") as f:
        f.write("\n".join(texts) + "\n")
    common = ["--lang", "ko", "--valid-fraction", "0.1", "--shard-rows", "500", "--chunk-bytes", "4096", "--no-progress"]
    assert main(["corpus", "build", str(src), "-o", str(tmp_path / "a"), *common]) == 0
    assert main(["corpus", "build", str(src), "-o", str(tmp_path / "b"), *common]) == 0
    assert main(["corpus", "build", str(src), "-o", str(tmp_path / "w2"), "--workers", "2", *common]) == 0
    a = _shard_bytes(tmp_path / "a")
    assert len(a) > 2 and a == _shard_bytes(tmp_path / "b") == _shard_bytes(tmp_path / "w2")
    m = json.loads((tmp_path / "a" / "manifest.json").read_text(encoding="utf-8"))
    assert 0 < m["splits"]["valid"]["rows"] < m["splits"]["train"]["rows"]
    # the split is a function of the text: a new input does not move old rows
    more = tmp_path / "more.txt"
    more.write_text("새로 들어온 전혀 다른 리뷰 한 줄입니다\n", encoding="utf-8")
    assert main(["corpus", "build", str(src), str(more), "-o", str(tmp_path / "c"), *common]) == 0
    assert set(_texts(tmp_path / "a", "valid")) <= set(_texts(tmp_path / "c", "valid"))


def test_datasets_reads_the_shards_and_export_writes_one_text_a_line(crafted, tmp_path):
    datasets = pytest.importorskip("datasets")
    src, ev = crafted
    out = tmp_path / "c"
    assert _build(src, ev, out) == 0
    ds = datasets.load_dataset("parquet", data_dir=str(out / "train"), split="train", cache_dir=str(tmp_path / "hf"))
    assert ds["text"] == _texts(out) and set(ds["source"]) == {str(src)}
    assert main(["corpus", "export", str(out), "-o", str(tmp_path / "c.txt")]) == 0
    assert (tmp_path / "c.txt").read_text(encoding="utf-8").splitlines() == _texts(out)


def test_sentence_units_and_fields_and_selectors(tmp_path):
    src = tmp_path / "raw.jsonl"
    src.write_text(json.dumps({"split": "train", "text": "It was great. I loved it!"}) + "\n"
                   + json.dumps({"split": "test", "text": "A held-out review."}) + "\n", encoding="utf-8")
    out = tmp_path / "s"
    assert main(["corpus", "build", f"{src}:text?split=train", "-o", str(out), "--lang", "en", "--unit", "sentence",
                 "--valid-fraction", "0", "--dedup", "exact"]) == 0
    assert _texts(out) == ["it was great.", "i loved it!"]
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert [(s["stage"], s["rows_in"], s["rows_out"]) for s in m["stages"][:2]] == [("read", 2, 1), ("units", 1, 2)]
    chat = tmp_path / "chat.csv"
    chat.write_text("Q,A,label\n12시 땡!,하루가 또 가네요.,0\n", encoding="utf-8")
    assert main(["corpus", "build", f"{chat}:Q,A", "-o", str(tmp_path / "q"), "--lang", "ko", "--valid-fraction", "0"]) == 0
    assert _texts(tmp_path / "q") == ["12시 땡!", "하루가 또 가네요."]


def test_recipe_paths_come_from_the_data_dir(tmp_path, capsys):
    data = tmp_path / "data"
    for rel, text in [("nsmc-raw/reviews.jsonl.gz", None), ("ko-text/unlabeled_comments_5.txt", "댓글 하나\n"),
                      ("ko-text/ChatbotData.csv", "Q,A,label\n질문,대답,0\n"),
                      ("nsmc/ratings_test.txt", "id\tdocument\tlabel\n1\t질문\t0\n"),
                      ("korsts/sts-dev.tsv", "genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2\n"),
                      ("korean-hate-speech/dev.tsv", "comments\n댓글 하나\n"),
                      ("korean-hate-speech/test.no_label.tsv", "comments\n")]:
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            with gzip.open(data / rel, "wt", encoding="utf-8") as f:
                f.write(json.dumps({"review": "리뷰 한 줄"}, ensure_ascii=False) + "\n")
        else:
            (data / rel).write_text(text, encoding="utf-8")
    extra = tmp_path / "extra.txt"
    extra.write_text("대답\n", encoding="utf-8")
    out = tmp_path / "ko"
    assert main(["corpus", "build", "--config", "ko-reviews", "--data-dir", str(data), "-o", str(out),
                 "--valid-fraction", "0", "--exclude", str(extra)]) == 0
    assert _texts(out) == ["리뷰 한 줄"]  # 댓글 하나: korean-hate-speech dev; 질문: NSMC test; 대답: --exclude added
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert [s["source"] for s in m["inputs"]] == ["nsmc-raw/reviews.jsonl.gz", "ko-text/unlabeled_comments_5.txt",
                                                  "ko-text/ChatbotData.csv"]
    assert len(m["excludes"]) == 5 and m["excludes"][-1]["file"] == str(extra)
    assert [Path(e.split(":")[0]).relative_to(data).as_posix() for e in m["excludes_absent"]] == [
        "korsts/sts-test.tsv", "kornli/xnli.dev.ko.tsv", "kornli/xnli.test.ko.tsv"]
    assert main(["corpus", "build", "--config", "ko-reviews", "-o", str(tmp_path / "x")]) == 2
    assert "pass --data-dir" in capsys.readouterr().err


# --- bad input: one line, non-zero exit, no folder ----------------------------------------


def _fails(capsys, tmp_path, args, message):
    out = tmp_path / "bad"
    assert main(["corpus", "build", *args, "-o", str(out), "--lang", "ko"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".bad.")]


def test_bad_inputs(tmp_path, capsys, crafted):
    src, ev = crafted
    _fails(capsys, tmp_path, [str(tmp_path / "missing.jsonl")], "missing.jsonl: no such file")
    _fails(capsys, tmp_path, [f"{src}:body"], "no column 'body'")
    _fails(capsys, tmp_path, [f"{src}:review", "--exclude", str(tmp_path / "gone.tsv")], "gone.tsv: no such file")
    _fails(capsys, tmp_path, [f"{src}:review", "--exclude", f"{ev}:sentence"], "no column 'sentence'")
    bad = tmp_path / "bad.txt"
    bad.write_bytes("좋아요\n".encode() + b"\xff\xfe bad\n")
    _fails(capsys, tmp_path, [str(bad)], "bad.txt:2:1: byte 0xff is not UTF-8")
    trunc = tmp_path / "cut.jsonl.gz"
    trunc.write_bytes(gzip.compress(src.read_bytes() * 50)[:-40])
    _fails(capsys, tmp_path, [f"{trunc}:review"], "cut.jsonl.gz")
    _fails(capsys, tmp_path, [f"{src}:review", "--min-chars", "500"], "no row is left: length dropped 11 of 11")
    en = tmp_path / "en.txt"
    en.write_text("only english here\nand more english\n", encoding="utf-8")
    _fails(capsys, tmp_path, [str(en)], "no row is left: language dropped 2 of 2 rows (not_ko: 2); check --lang")


def test_existing_output_needs_force_and_must_be_a_corpus(crafted, tmp_path, capsys):
    src, ev = crafted
    out = tmp_path / "c"
    assert _build(src, ev, out) == 0
    assert _build(src, ev, out) == 2
    assert "already exists" in capsys.readouterr().err
    assert _build(src, ev, out, "--force") == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine", encoding="utf-8")
    assert _build(src, ev, other, "--force") == 2
    assert "not a corpus folder" in capsys.readouterr().err and (other / "notes.txt").exists()


def test_config_checks():
    with pytest.raises(NlplabError, match="--lang"):
        CorpusConfig(inputs=["a.txt"], output="o")
    with pytest.raises(NlplabError, match="--valid-fraction must be between 0 and 1"):
        CorpusConfig(inputs=["a.txt"], output="o", lang="ko", valid_fraction=1.5)
    with pytest.raises(NlplabError, match="--near-threshold"):
        CorpusConfig(inputs=["a.txt"], output="o", lang="ko", near_threshold=1)
    with pytest.raises(NlplabError, match="unknown cleaning step"):
        CorpusConfig(inputs=["a.txt"], output="o", lang="ko", clean="nfc,nope")


# --- the real thing ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "nsmc-raw" / "reviews.jsonl.gz").exists(), reason="needs ../shared/data")
def test_no_nsmc_test_text_survives_in_nsmc_raw(tmp_path):
    """All 712,404 raw reviews against NSMC test, checked by a second, plain-Python
    implementation: no output key equals a test key, and no output key holds any 20
    consecutive characters of a test key."""
    out = tmp_path / "ko"
    assert main(["corpus", "build", f"{SHARED}/nsmc-raw/reviews.jsonl.gz:review", "-o", str(out), "--lang", "ko",
                 "--exclude", f"{SHARED}/nsmc/ratings_test.txt:document", "--dedup", "exact", "--workers", "2",
                 "--valid-fraction", "0.01", "--no-progress"]) == 0
    from nlplab import clean

    cleaner = clean.pipeline("ko")
    test = [line.split("\t")[1] for line in
            (SHARED / "nsmc" / "ratings_test.txt").read_text(encoding="utf-8").splitlines()[1:]]
    keys = {hashing.key(cleaner(t)) for t in test} - {""}
    grams = {k[i:i + 20] for k in keys for i in range(len(k) - 19)}
    survivors = _texts(out) + _texts(out, "valid")
    assert len(survivors) > 600_000
    leaked = [t for t in survivors if (k := hashing.key(t)) in keys or any(k[i:i + 20] in grams for i in range(len(k) - 19))]
    assert leaked == []
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["rows_in"] == 712_404 and m["excludes"][0]["rows"] == 50_000
