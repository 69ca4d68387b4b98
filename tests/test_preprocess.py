"""`nlplab preprocess` / `clean` / `tokenize` end to end on files: order, row counts,
formats, atomic output, and every bad-input case; then the real files in ../shared/data."""

import csv
import json

import pytest
from conftest import run_cli

from nlplab.preprocess import PreprocessConfig, Preprocessor


def write(path, text, mode="w"):
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def lines(path):
    return path.read_text(encoding="utf-8").split("\n")[:-1]


# --- formats ------------------------------------------------------------------------


def test_txt_keeps_order_and_empty_rows(tmp_path, capsys):
    src = write(tmp_path / "in.txt", "아버지가 방에 들어가신다\n\n   \n<b>재밌어요</b>ㅋㅋㅋㅋ!!!!\n😍😍\n")
    out = tmp_path / "out.txt"
    code, _, err = run_cli("preprocess", src, "-o", out, "--lang", "ko", "--tokenizer", "mecab", capsys=capsys)
    assert code == 0, err
    assert lines(out) == ["아버지 가 방 에 들어가 신다", "", "", "재밌 어요 ㅋㅋ ! !", ""]
    assert "5 of 5 rows" in err


def test_tsv_keeps_other_columns_and_header(tmp_path, capsys):
    src = write(tmp_path / "in.tsv", 'id\tdocument\tlabel\n1\t"인생 영화" 최고!\t1\n2\t\t0\n3\t별로다\t0\n')
    out = tmp_path / "out.tsv"
    code, _, err = run_cli("preprocess", src, "-o", out, "--lang", "ko", "--column", "document", capsys=capsys)
    assert code == 0, err
    # quotes are data in TSV (quoting off), the empty document stays an empty field
    assert lines(out) == ["id\tdocument\tlabel", '1\t" 인생 영화 " 최고 !\t1', "2\t\t0", "3\t별로 다\t0"]


def test_output_column_keeps_text(tmp_path, capsys):
    src = write(tmp_path / "in.tsv", "sentence\tlabel\nit 's great .\t1\n")
    out = tmp_path / "out.tsv"
    code, _, err = run_cli("preprocess", src, "-o", out, "--lang", "en", "--tokenizer", "whitespace",
                           "--output-column", "tokens", "--stopwords", capsys=capsys)
    assert code == 0, err
    assert lines(out) == ["sentence\tlabel\ttokens", "it 's great .\t1\t's great"]


def test_txt_with_column_is_sniffed_as_tsv(tmp_path, capsys):
    # NSMC's ratings_train.txt is a TSV with a .txt name; an output named .txt is txt, which would drop id and label
    src = write(tmp_path / "ratings.txt", "id\tdocument\tlabel\n7\t좋아요\t1\n")
    out = tmp_path / "out.tsv"
    code, _, err = run_cli("tokenize", src, "-o", out, "--lang", "ko", "--column", "document", capsys=capsys)
    assert code == 0, err
    assert lines(out) == ["id\tdocument\tlabel", "7\t좋 아요\t1"]
    assert_error(capsys, ["tokenize", src, "-o", tmp_path / "out.txt", "--lang", "ko", "--column", "document"],
                 f"{tmp_path / 'out.txt'}: a .txt output holds only the text, and {src} also has id, label; "
                 "name the output .tsv, .csv or .jsonl to keep them")
    assert not (tmp_path / "out.txt").exists()


def test_csv_quoted_multiline_field(tmp_path, capsys):
    src = write(tmp_path / "in.csv", 'Q,A,label\n"안녕, 반가워","첫 줄\n둘째 줄",0\n뭐해?,그냥,1\n')
    out = tmp_path / "out.csv"
    code, _, err = run_cli("preprocess", src, "-o", out, "--lang", "ko", "--column", "A", capsys=capsys)
    assert code == 0, err
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows == [["Q", "A", "label"], ["안녕, 반가워", "첫 줄 둘째 줄", "0"], ["뭐해?", "그냥", "1"]]


def test_jsonl_tokens_are_lists(tmp_path, capsys):
    src = write(tmp_path / "in.jsonl", '{"id": 1, "text": "Don\'t stop!"}\n{"id": 2, "text": ""}\n')
    out = tmp_path / "out.jsonl"
    code, _, err = run_cli("preprocess", src, "-o", out, "--lang", "en", "--tokenizer", "treebank",
                           "--pos", capsys=capsys)
    assert code == 0, err
    rows = [json.loads(s) for s in lines(out)]
    assert rows == [{"id": 1, "text": ["do/VBP", "n't/RB", "stop/VB", "!/."]}, {"id": 2, "text": []}]


def test_no_header_column_index(tmp_path, capsys):
    # CoLA train/dev: no header, sentence in column 3
    src = write(tmp_path / "cola.tsv", "gj04\t1\t\tOur friends won't buy this analysis.\ngj04\t0\t*\tThey drank the pub.\n")
    out = tmp_path / "out.tsv"
    code, _, err = run_cli("tokenize", src, "-o", out, "--lang", "en", "--tokenizer", "treebank",
                           "--no-header", "--column", "3", capsys=capsys)
    assert code == 0, err
    assert lines(out) == ["gj04\t1\t\tOur friends wo n't buy this analysis .", "gj04\t0\t*\tThey drank the pub ."]


def test_clean_only_and_text_flag(tmp_path, capsys):
    code, out, _ = run_cli("clean", "--text", "<b>Soooooo</b> GOOD!!!! http://x.com 😍", "--lang", "en", capsys=capsys)
    assert code == 0 and out == "sooo good!!!\n"
    code, out, _ = run_cli("tokenize", "--text", "재밌어요ㅋㅋ", "--lang", "ko", "--tokenizer", "kiwi", "--pos",
                           "--tagset", "coarse", capsys=capsys)
    assert code == 0 and out.split() == ["재밌/ADJ", "어요/ENDING", "ㅋㅋ/SYM"]


def test_korean_stopwords_and_tag_filters():
    ko = dict(lang="ko", tokenizer="mecab", clean="none")
    assert Preprocessor(PreprocessConfig(**ko)).process("아버지가 방에 들어가신다") == ["아버지", "가", "방", "에", "들어가", "신다"]
    # particles (J*), endings (E*) and list words go; so does punctuation
    assert Preprocessor(PreprocessConfig(**ko, stopwords=True)).process("아버지가 방에 들어가신다!") == ["아버지", "방", "들어가"]
    assert Preprocessor(PreprocessConfig(**ko, keep_tags="NOUN")).process("아버지가 방에 들어가신다") == ["아버지", "방"]
    assert Preprocessor(PreprocessConfig(**ko, keep_tags="content", stem=True)).process("밥을 먹었다") == ["밥", "먹다"]


def test_english_stopwords_stem(tmp_path):
    cfg = PreprocessConfig(lang="en", tokenizer="nltk", stopwords=True, stem=True)
    assert Preprocessor(cfg).process("The cats are running in the gardens!") == ["cat", "run", "garden"]


def test_config_file_and_flag_override(tmp_path, capsys):
    src = write(tmp_path / "in.txt", "Hello, WORLD!!!!!\n")
    conf = write(tmp_path / "c.yaml", "lang: en\ntokenizer: treebank\nclean:\n  - lowercase\n  - squeeze: {max_repeat: 1}\n")
    out = tmp_path / "out.txt"
    assert run_cli("preprocess", src, "-o", out, "--config", conf) == 0
    assert lines(out) == ["helo , world !"]  # max_repeat 1 squeezes ll too
    assert run_cli("preprocess", src, "-o", out, "--config", conf, "--tokenizer", "whitespace") == 0
    assert lines(out) == ["helo, world!"]
    assert "tokenizer: whitespace" in (tmp_path / "out.txt.log").read_text(encoding="utf-8")


def test_workers_keep_order(tmp_path, capsys):
    rows = [f"{i}\t문장 번호 {i} 입니다 ㅋㅋㅋㅋ\t{i % 2}" for i in range(3000)]
    src = write(tmp_path / "in.tsv", "id\ttext\tlabel\n" + "\n".join(rows) + "\n")
    one, two = tmp_path / "one.tsv", tmp_path / "two.tsv"
    assert run_cli("preprocess", src, "-o", one, "--lang", "ko", "--chunk-bytes", "4096") == 0
    assert run_cli("preprocess", src, "-o", two, "--lang", "ko", "--chunk-bytes", "4096", "--workers", "2") == 0
    assert one.read_bytes() == two.read_bytes()
    got = lines(two)
    assert len(got) == 3001 and [r.split("\t")[0] for r in got[1:]] == [str(i) for i in range(3000)]


def test_workers_fork_after_kiwi_ran_in_this_process(tmp_path):
    """A Kiwi built in the parent (a notebook that tokenized first) is copied into each forked
    worker with its thread pool; freeing that copy there waited on threads that do not exist in
    the child and hung the run. Checked in a fresh process, under a timeout."""
    import subprocess
    import sys

    src = write(tmp_path / "in.txt", "".join(f"문장 번호 {i} 입니다\n" for i in range(40)))
    script = ("import sys\nfrom nlplab import tokenize\nfrom nlplab.cli import main\n"
              "tokenize.load('kiwi', 'ko')('재밌어요')\n"  # held by the tokenizer cache only
              "sys.exit(main(sys.argv[1:]))\n")
    args = ["preprocess", src, "-o", tmp_path / "out.txt", "--lang", "ko", "--tokenizer", "kiwi", "--chunk-bytes", "64",
            "--workers", "2", "--no-progress"]
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert lines(tmp_path / "out.txt")[7] == "문장 번호 7 이 ㅂ니다" and len(lines(tmp_path / "out.txt")) == 40


def test_log_file_records_config_and_counts(tmp_path):
    src = write(tmp_path / "in.txt", "a b\nc\n")
    assert run_cli("tokenize", src, "-o", tmp_path / "o.txt", "--lang", "en", "--tokenizer", "whitespace") == 0
    log = (tmp_path / "o.txt.log").read_text(encoding="utf-8")
    assert "tokenizer: whitespace" in log and "2 of 2 rows, 3 tokens" in log


# --- bad input ----------------------------------------------------------------------


def assert_error(capsys, args, *needles):
    code, _, err = run_cli(*args, capsys=capsys)
    assert code == 2
    msg = err.strip()
    assert "\n" not in msg, msg  # one line
    for n in needles:
        assert n in msg, msg
    return msg


def test_missing_file(tmp_path, capsys):
    assert_error(capsys, ["preprocess", tmp_path / "nope.txt", "-o", tmp_path / "o.txt", "--lang", "ko"],
                 "nope.txt", "no such file")
    assert not (tmp_path / "o.txt").exists()


def test_unknown_column_lists_columns(tmp_path, capsys):
    src = write(tmp_path / "in.tsv", "id\tdocument\tlabel\n1\tx\t0\n")
    assert_error(capsys, ["preprocess", src, "-o", tmp_path / "o.tsv", "--lang", "ko", "--column", "text2"],
                 "in.tsv", "no column 'text2'", "columns: id, document, label")
    src2 = write(tmp_path / "in2.tsv", "a\tb\n1\t2\n")
    assert_error(capsys, ["preprocess", src2, "-o", tmp_path / "o.tsv", "--lang", "ko"], "pass --column", "columns: a, b")


def test_bad_utf8_names_line_and_column(tmp_path, capsys):
    data = "좋아요\n괜찮아\n".encode() + "나빠".encode() + b"\xff\xfe" + "요\n끝\n".encode()
    src = write(tmp_path / "in.txt", data, "wb")
    out = tmp_path / "o.txt"
    assert_error(capsys, ["preprocess", src, "-o", out, "--lang", "ko"], "in.txt:3:3", "0xff", "--on-error skip")
    assert not out.exists()
    code, _, err = run_cli("preprocess", src, "-o", out, "--lang", "ko", "--on-error", "skip", capsys=capsys)
    assert code == 0
    assert lines(out) == ["좋 아요", "괜찮 아", "끝"]
    assert "3 of 4 rows" in err and "skipped 1 rows" in err and "lines 3" in err


def test_ragged_tsv(tmp_path, capsys):
    src = write(tmp_path / "in.tsv", "id\ttext\n1\tok\n2\tone\ttoo many\n3\tfine\n")
    assert_error(capsys, ["preprocess", src, "-o", tmp_path / "o.tsv", "--lang", "ko"],
                 "in.tsv:3", "3 tab-separated fields, header has 2")
    code, _, err = run_cli("preprocess", src, "-o", tmp_path / "o.tsv", "--lang", "ko", "--on-error", "skip", capsys=capsys)
    assert code == 0 and "skipped 1 rows" in err and len(lines(tmp_path / "o.tsv")) == 3


def test_bad_jsonl_line(tmp_path, capsys):
    src = write(tmp_path / "in.jsonl", '{"text": "a"}\n{"text": oops}\n')
    assert_error(capsys, ["preprocess", src, "-o", tmp_path / "o.jsonl", "--lang", "en", "--tokenizer", "whitespace"],
                 "in.jsonl:2:10", "not valid JSON")


def test_compressed_input_gives_the_plain_input_s_output(tmp_path, capsys):
    import gzip

    rows = '{"id": 1, "text": "Hello world."}\n{"id": 2, "text": "Second line here."}\n'
    plain = write(tmp_path / "in.jsonl", rows)
    packed = write(tmp_path / "in.jsonl.gz", gzip.compress(rows.encode()), "wb")
    for src, out in ((plain, tmp_path / "a.jsonl"), (packed, tmp_path / "b.jsonl")):
        code, _, err = run_cli("preprocess", src, "-o", out, "--lang", "en", "--tokenizer", "whitespace", capsys=capsys)
        assert code == 0 and "2 of 2 rows" in err, err
    assert lines(tmp_path / "b.jsonl") == lines(tmp_path / "a.jsonl") == [
        '{"id": 1, "text": ["hello", "world."]}', '{"id": 2, "text": ["second", "line", "here."]}']
    write(tmp_path / "cut.jsonl.gz", gzip.compress(rows.encode())[:-12], "wb")
    assert_error(capsys, ["preprocess", tmp_path / "cut.jsonl.gz", "-o", tmp_path / "c.jsonl", "--lang", "en"],
                 "cut.jsonl.gz: truncated or damaged gzip data (", "re-download or re-compress the file")
    assert not (tmp_path / "c.jsonl").exists()


def test_parquet_input_is_refused_in_one_line(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": ["a b"]}), tmp_path / "in.parquet")
    assert_error(capsys, ["preprocess", tmp_path / "in.parquet", "-o", tmp_path / "o.jsonl", "--lang", "en"],
                 "in.parquet: parquet input is not read by preprocess; give a txt, tsv, csv or jsonl file")


def test_failure_leaves_no_partial_output(tmp_path, capsys):
    good = "".join(f"줄 {i}\n" for i in range(5000)).encode()
    src = write(tmp_path / "in.txt", good + b"\xc3\x28\n", "wb")
    out = write(tmp_path / "o.txt", "previous result\n")
    assert_error(capsys, ["preprocess", src, "-o", out, "--lang", "ko", "--chunk-bytes", "2048"], "in.txt:5001:1")
    assert out.read_text(encoding="utf-8") == "previous result\n"  # untouched
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_bad_options(tmp_path, capsys):
    src = write(tmp_path / "in.txt", "x\n")
    o = tmp_path / "o.txt"
    assert_error(capsys, ["preprocess", src, "-o", o, "--lang", "ko", "--tokenizer", "spacy"], "unknown tokenizer 'spacy'", "mecab")
    assert_error(capsys, ["preprocess", src, "-o", o, "--lang", "en", "--tokenizer", "okt"], "'okt' is for 'ko'", "nltk")
    assert_error(capsys, ["preprocess", src, "-o", o], "--lang")
    assert_error(capsys, ["preprocess", src, "-o", src, "--lang", "en"], "is the input", "would overwrite it")
    assert_error(capsys, ["preprocess", src, "-o", src / "o.txt", "--lang", "en"], "in.txt is a file, not a folder")
    assert_error(capsys, ["tokenize", src, "-o", o, "--lang", "en", "--text", "hi"], "give --text alone")
    assert_error(capsys, ["sentences", src, "-o", src, "--lang", "en"], "is the input", "give another path")
    assert_error(capsys, ["stopwords", "--lang", "en", "--stopwords-file", tmp_path], f"{tmp_path}: Is a directory")
    assert_error(capsys, ["demo", "--out", src], "in.txt: is a file; give a folder")
    assert src.read_text(encoding="utf-8") == "x\n"
    assert_error(capsys, ["preprocess", src, "-o", o, "--lang", "ko", "--keep-tags", "content", "--drop-tags", "NOUN"],
                 "--keep-tags and --drop-tags both name NOUN")
    assert_error(capsys, ["preprocess", src, "-o", o, "--lang", "en", "--chunk-bytes", "0"], "--chunk-bytes must be at least 1")
    conf = write(tmp_path / "n.yaml", "lang: en\nchunk_bytes: abc\n")
    assert_error(capsys, ["preprocess", src, "-o", o, "--config", conf], "n.yaml: chunk_bytes: 'abc' is not a whole number")
    tsv = write(tmp_path / "t.tsv", "id\ttext\n1\ta b\n")
    assert_error(capsys, ["preprocess", tsv, "-o", tmp_path / "o.tsv", "--lang", "en", "--output-column", "id"],
                 "--output-column id", "already has that column")
    assert_error(capsys, ["preprocess", src, "-o", o, "--lang", "ko", "--clean", "nfc,bogus"], "'bogus'", "presets")
    assert_error(capsys, ["preprocess", src, "-o", o, "--lang", "ko", "--keep-tags", "NOUNS"], "NOUNS", "coarse tags")
    conf = write(tmp_path / "c.yaml", "lang: ko\ntokenzier: mecab\n")
    assert_error(capsys, ["preprocess", src, "-o", o, "--config", conf], "c.yaml", "unknown key(s) tokenzier")
    assert not o.exists()


def test_one_column_csv_keeps_blank_lines_as_empty_texts(tmp_path, capsys):
    src = write(tmp_path / "in.csv", "text\nHello world\n\nBye\n")
    code, _, err = run_cli("preprocess", src, "-o", tmp_path / "o.csv", "--lang", "en", "--tokenizer", "whitespace", "--clean", "none",
                           capsys=capsys)
    assert code == 0 and "3 of 3 rows" in err
    assert lines(tmp_path / "o.csv") == ["text", "Hello world", '""', "Bye"]


def test_empty_file(tmp_path, capsys):
    src = write(tmp_path / "in.txt", "")
    out = tmp_path / "o.txt"
    code, _, err = run_cli("preprocess", src, "-o", out, "--lang", "ko", capsys=capsys)
    assert code == 0 and out.read_text() == "" and "0 of 0 rows" in err


# --- other commands -----------------------------------------------------------------


def test_stopwords_command(capsys):
    code, out, _ = run_cli("stopwords", "--lang", "en", capsys=capsys)
    rows = out.splitlines()
    assert code == 0 and rows[0].startswith("# 179 en stopwords") and "the" in rows[1:] and len(rows) == 180


def test_sentences_command(tmp_path, capsys):
    src = write(tmp_path / "docs.txt", "안녕하세요. 반갑습니다\nDr. Kim left.\n")
    out = tmp_path / "s.txt"
    assert run_cli("sentences", src, "-o", out, "--lang", "ko") == 0
    assert out.read_text(encoding="utf-8") == "안녕하세요.\n반갑습니다\n\nDr. Kim left.\n\n"


def test_setup_data_links_from_local_folder(tmp_path, shared, capsys):
    code, out, _ = run_cli("setup-data", "--from", shared / "nltk_data", "--to", tmp_path / "nd", capsys=capsys)
    assert code == 0 and "punkt_tab: linked" in out
    assert (tmp_path / "nd/tokenizers/punkt_tab/english/abbrev_types.txt").exists()
    assert (tmp_path / "nd/corpora/stopwords/english").exists()
    assert_error(capsys, ["setup-data", "--from", tmp_path / "empty", "--to", tmp_path / "nd2"], "not found", "--from")


# --- real data (../shared/data) -----------------------------------------------------


@pytest.mark.slow
def test_nsmc_train_real(tmp_path, shared, capsys):
    out = tmp_path / "nsmc.tsv"
    code, _, err = run_cli("preprocess", shared / "nsmc/ratings_train.txt", "-o", out, "--lang", "ko",
                           "--column", "document", "--workers", "2", "--stopwords", capsys=capsys)
    assert code == 0, err
    src = (shared / "nsmc/ratings_train.txt").read_text(encoding="utf-8").split("\n")[:-1]
    got = lines(out)
    assert len(got) == len(src) == 150_001
    assert got[0] == "id\tdocument\tlabel"
    ids_in = [r.split("\t")[0] for r in src]
    assert [r.split("\t")[0] for r in got] == ids_in
    assert [r.split("\t")[2] for r in got] == [r.split("\t")[2] for r in src]
    empty_in = sum(1 for r in src[1:] if r.split("\t")[1] == "")
    assert empty_in == 5 and sum(1 for r in got[1:] if r.split("\t")[1] == "") >= 5


@pytest.mark.slow
@pytest.mark.parametrize("task,args,rows", [
    ("SST-2/train.tsv", ["--column", "sentence"], 67349),
    ("CoLA/train.tsv", ["--no-header", "--column", "3"], 8551),
    ("CoLA/test.tsv", ["--column", "sentence"], 1063),
    ("MRPC/train.tsv", ["--column", "#1 String"], 3668),  # header starts with a BOM
])
def test_glue_real(tmp_path, shared, task, args, rows):
    out = tmp_path / "o.tsv"
    assert run_cli("preprocess", shared / "glue" / task, "-o", out, "--lang", "en", "--tokenizer", "nltk", *args) == 0
    got = lines(out)
    assert len(got) == rows + ("--no-header" not in args)
    assert all(r.count("\t") == got[0].count("\t") for r in got)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["okt", "komoran"])
def test_jvm_threads_give_the_same_output(tmp_path, shared, backend):
    """okt/komoran workers are threads sharing one JVM (JVM_THREADSAFE): same bytes as 1 worker."""
    src = tmp_path / "nsmc.tsv"
    with (shared / "nsmc/ratings_train.txt").open(encoding="utf-8") as f:
        src.write_text("".join(next(f) for _ in range(1501)), encoding="utf-8")
    one, two = tmp_path / "one.tsv", tmp_path / "two.tsv"
    common = ["--lang", "ko", "--tokenizer", backend, "--column", "document", "--chunk-bytes", "8192"]
    assert run_cli("tokenize", src, "-o", one, *common) == 0
    assert run_cli("tokenize", src, "-o", two, *common, "--workers", "2") == 0
    assert one.read_bytes() == two.read_bytes() and len(lines(two)) == 1501


def test_atomic_outputs_get_ordinary_permissions(tmp_path, monkeypatch):
    """mkstemp's temp file is 0600; the renamed output must not stay private."""
    import nlplab.io
    from nlplab.config import write_atomic

    monkeypatch.setattr(nlplab.io, "_UMASK", 0o022)

    write_atomic(tmp_path / "a.txt", "x\n")
    with nlplab.io.atomic_output(str(tmp_path / "b.bin")) as f:
        f.write(b"y")
    want = 0o644
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == want
    assert (tmp_path / "b.bin").stat().st_mode & 0o777 == want
    assert (tmp_path / "a.txt").read_text() == "x\n"


@pytest.mark.parametrize("workers", [1, 2])
def test_a_pipe_is_read_once_and_every_row_kept(tmp_path, capsys, workers):
    """A FIFO (what `<(...)` and /dev/stdin are) opened twice would give its rows to the
    first open only: the input is copied once to a temporary file, so all 3 rows come out."""
    import os
    import threading

    fifo = tmp_path / "in.txt"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(b"Hello world.\nSecond line here.\nThird one!\n"))
    writer.start()
    out = tmp_path / "out.txt"
    code, _, err = run_cli("preprocess", fifo, "--lang", "en", "--workers", str(workers), "--no-progress", "-o", out,
                           capsys=capsys)
    writer.join()
    assert code == 0 and "3 of 3 rows" in err
    assert out.read_text().splitlines() == ["hello world .", "second line here .", "third one !"]
