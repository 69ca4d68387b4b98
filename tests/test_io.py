"""nlplab.io: compressed inputs (.gz, .bz2, .xz, .zst) read like the plain file, damaged
ones are one line, and corpus folders of parquet shards read in order."""

import bz2
import gzip
import json
import lzma
import os
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from nlplab import NlplabError, io

TEXTS = ["아버지가 방에 들어가신다", "a \"quoted\" line", "", "😍 emoji", "tab\there"]
COMPRESS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress,
            ".zst": lambda b: zstandard.ZstdCompressor().compress(b)}
KIND = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}


def jsonl(texts) -> bytes:
    return "".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts)).encode()


def texts_of(path, *args, **kw):
    return list(io.iter_texts(io.inspect(str(path), *args, **kw)))


# --- compressed files -------------------------------------------------------------------


@pytest.mark.parametrize("ext", list(COMPRESS))
def test_compressed_jsonl_reads_back_the_plain_texts(tmp_path, ext):
    texts = TEXTS * 700  # several chunks and several compressed blocks
    plain = tmp_path / "reviews.jsonl"
    plain.write_bytes(jsonl(texts))
    packed = tmp_path / f"reviews.jsonl{ext}"
    packed.write_bytes(COMPRESS[ext](plain.read_bytes()))
    layout = io.inspect(str(packed))
    assert (layout.format, layout.columns, layout.text_col) == ("jsonl", ["id", "text"], "text")
    assert texts_of(packed) == texts_of(plain) == texts
    # the bytes read_chunks reports are the compressed file's: they add up to its size (progress)
    chunks = list(io.read_chunks(layout, 4096))
    assert len(chunks) > 10 and [c[0] for c in chunks[:2]] == [1, 1 + len(chunks[0][1])]
    assert sum(n for *_, n in chunks) == io.input_size(layout) == packed.stat().st_size


def test_format_is_the_suffix_before_the_compression_suffix(tmp_path):
    (tmp_path / "x.txt.gz").write_bytes(gzip.compress(b"one\ntwo\n"))
    (tmp_path / "ratings.tsv.xz").write_bytes(lzma.compress("id\tdocument\n1\t좋다\n2\t별로\n".encode()))
    (tmp_path / "plain.gz").write_bytes(gzip.compress(b"only line\n"))
    assert io.inspect(str(tmp_path / "x.txt.gz")).format == "txt"
    assert texts_of(tmp_path / "x.txt.gz") == ["one", "two"]
    layout = io.inspect(str(tmp_path / "ratings.tsv.xz"))
    assert (layout.format, layout.columns, layout.text_col) == ("tsv", ["id", "document"], 1)
    assert texts_of(tmp_path / "ratings.tsv.xz") == ["좋다", "별로"]
    assert texts_of(tmp_path / "plain.gz") == ["only line"]  # no format suffix: txt


def test_open_input_tells_the_compressed_bytes_consumed(tmp_path):
    data = jsonl(TEXTS * 2000)
    path = tmp_path / "a.jsonl.gz"
    path.write_bytes(gzip.compress(data))
    f, raw = io.open_input(str(path))
    with f:
        assert f.readline() == data.split(b"\n")[0] + b"\n"
        assert 0 < raw.tell() <= path.stat().st_size
        assert b"".join(f.readlines()) == data[len(data.split(b"\n")[0]) + 1:]
        assert raw.tell() == path.stat().st_size
    assert raw.closed  # closing the reader closes the file under it


def test_a_truncated_gzip_file_is_one_line_naming_the_file_and_the_fix(tmp_path):
    path = tmp_path / "x.jsonl.gz"
    whole = gzip.compress(jsonl(TEXTS * 500))
    path.write_bytes(whole[: len(whole) - 20])
    with pytest.raises(NlplabError) as e:
        texts_of(path)
    assert str(e.value) == (f"{path}: truncated or damaged gzip data (Compressed file ended before the end-of-stream "
                            "marker was reached); re-download or re-compress the file")


@pytest.mark.parametrize("ext", list(COMPRESS))
def test_truncated_and_damaged_files_of_every_kind_fail_in_one_line(tmp_path, ext):
    whole = COMPRESS[ext](jsonl(TEXTS * 500))
    cut = tmp_path / f"cut.jsonl{ext}"
    cut.write_bytes(whole[: len(whole) // 2])  # zstd's stream reader would end here in silence
    with pytest.raises(NlplabError, match=rf"^{cut}: truncated or damaged {KIND[ext]} data \(.+\); "
                                          "re-download or re-compress the file$"):
        texts_of(cut)
    fake = tmp_path / f"fake.txt{ext}"
    fake.write_bytes(b"not compressed at all\n" * 10)
    with pytest.raises(NlplabError, match=rf"^{fake}: truncated or damaged {KIND[ext]} data"):
        texts_of(fake)  # the header line already: inspect reads through the decompressor


def test_a_non_utf8_row_inside_a_gzip_file_names_file_line_and_column(tmp_path):
    path = tmp_path / "b.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"text": "ok"}\n{"text": "fine"}\n{"text": "caf\xe9"}\n'))
    with pytest.raises(NlplabError) as e:
        texts_of(path)
    assert str(e.value) == f"{path}:3:14: byte 0xe9 is not UTF-8; re-encode the file (e.g. iconv -f cp949 -t utf-8)"


def test_a_compressed_csv_reads_quoted_rows_and_reports_compressed_bytes(tmp_path):
    path = tmp_path / "r.csv.bz2"
    path.write_bytes(bz2.compress(b'id,text\n1,"two\nlines"\n2,plain\n'))
    layout = io.inspect(str(path))
    assert layout.format == "csv" and texts_of(path) == ["two\nlines", "plain"]
    assert sum(n for *_, n in io.read_chunks(layout)) == path.stat().st_size


def test_a_compressed_fifo_is_read_once_with_its_format(tmp_path):
    fifo = tmp_path / "in.jsonl.gz"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(gzip.compress(jsonl(TEXTS))))
    writer.start()
    layout = io.inspect(str(fifo))
    writer.join()
    assert layout.format == "jsonl" and layout.path.endswith(".jsonl.gz") and layout.path != str(fifo)
    assert list(io.iter_texts(layout)) == TEXTS


# --- corpus folders ---------------------------------------------------------------------


def shard(path, texts, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": texts, "source": ["web"] * len(texts)}), path, **kw)


@pytest.fixture
def corpus(tmp_path):
    """A corpus folder as `nlplab corpus build` writes it: 2 train shards, 1 valid shard."""
    d = tmp_path / "corpus"
    shard(d / "train" / "train-00001.parquet", ["세 번째", "four"], row_group_size=1)
    shard(d / "train" / "train-00000.parquet", ["first text", "두 번째\n둘째 줄", ""])
    shard(d / "valid" / "valid-00000.parquet", ["held out"])
    splits = {"train": {"rows": 5, "shards": ["train-00000.parquet", "train-00001.parquet"]},
              "valid": {"rows": 1, "shards": ["valid-00000.parquet"]}}
    (d / "manifest.json").write_text(json.dumps({"splits": splits}))
    return d


def test_a_corpus_folder_reads_its_train_split_in_shard_order(corpus):
    layout = io.inspect(str(corpus))
    assert (layout.format, layout.columns, layout.text_col, layout.rows) == ("parquet", ["text", "source"], "text", 5)
    assert layout.files == [str(corpus / "train" / f"train-0000{i}.parquet") for i in (0, 1)]
    assert texts_of(corpus) == ["first text", "두 번째\n둘째 줄", "", "세 번째", "four"]
    assert texts_of(corpus / "train") == texts_of(corpus)  # the split folder itself
    assert texts_of(corpus / "train" / "train-00001.parquet") == ["세 번째", "four"]  # one shard
    assert texts_of(corpus, None, "source") == ["web"] * 5
    valid = io.corpus_split(str(corpus), "valid")
    assert valid == str(corpus / "valid") and texts_of(valid) == ["held out"]
    assert io.corpus_split(str(corpus / "train"), "valid") is None and io.corpus_split(str(corpus), "test") is None


def test_parquet_chunks_number_rows_across_shards_and_share_out_the_bytes(corpus):
    layout = io.inspect(str(corpus))
    chunks = list(io.read_chunks(layout, chunk_bytes=1))  # one row a batch
    assert [(start, texts) for start, texts, _ in chunks] == [
        (1, ["first text"]), (2, ["두 번째\n둘째 줄"]), (3, [""]), (4, ["세 번째"]), (5, ["four"])]
    assert sum(n for *_, n in chunks) == io.input_size(layout) == sum(os.path.getsize(f) for f in layout.files)
    records, skipped, n = io.parse_chunk(layout, *chunks[3][:2])
    assert (records, skipped, n) == ([(4, None, "세 번째")], [], 1)


def test_an_empty_valid_split_reads_no_rows(corpus):
    for f in (corpus / "valid").iterdir():
        f.unlink()
    (corpus / "manifest.json").write_text(json.dumps({"splits": {"train": {"shards": []}, "valid": {"shards": []}}}))
    layout = io.inspect(io.corpus_split(str(corpus), "valid"))
    assert (layout.format, layout.rows, layout.files) == ("parquet", 0, [])
    assert list(io.iter_texts(layout)) == []


def test_bad_parquet_inputs_are_one_line(corpus, tmp_path):
    def error(*args, **kw):
        with pytest.raises(NlplabError) as e:
            texts_of(*args, **kw)
        assert "\n" not in str(e.value)
        return str(e.value)

    (tmp_path / "empty").mkdir()
    assert error(tmp_path / "empty") == (f"{tmp_path / 'empty'}: is a folder without .parquet files; give a file, a "
                                         "folder of .parquet shards or a corpus folder (manifest.json, train/, valid/)")
    assert error(corpus, None, "body") == (f"{corpus / 'train' / 'train-00000.parquet'}: no column 'body'; columns: "
                                           "text, source")
    assert error(corpus, "txt") == f"{corpus}: is parquet, not txt; give a txt file (or drop --format txt if you passed it)"
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "ints.parquet")
    assert error(tmp_path / "ints.parquet") == (f"{tmp_path / 'ints.parquet'}: column 'text' holds int64, not text; "
                                                "pass --column with a string column")
    pq.write_table(pa.table({"text": ["a", None]}), tmp_path / "null.parquet")
    assert error(tmp_path / "null.parquet") == (f"{tmp_path / 'null.parquet'}: row 2 has no text (null 'text'); "
                                                "fill or drop the row")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    assert error(tmp_path / "junk.parquet").startswith(f"{tmp_path / 'junk.parquet'}: not a readable parquet file (")
    pq.write_table(pa.table({"body": ["x"]}), corpus / "train" / "train-00001.parquet")
    assert error(corpus) == (f"{corpus / 'train' / 'train-00001.parquet'}: no column 'text'; columns: body; "
                             "every shard needs it")


def test_the_manifest_s_shard_list_decides_and_a_missing_shard_is_one_line(corpus):
    shard(corpus / "train" / "stray.parquet", ["not listed"])  # left by hand: the manifest does not list it
    assert texts_of(corpus)[-1] == "four"
    (corpus / "manifest.json").write_text("{}")  # a manifest without a shard list: the folder's files, by name
    assert texts_of(corpus)[0] == "not listed"  # stray < train-...
    (corpus / "manifest.json").write_text(json.dumps({"splits": {"train": {"shards": ["train-00009.parquet"]}}}))
    with pytest.raises(NlplabError) as e:
        texts_of(corpus)
    assert str(e.value) == (f"{corpus / 'train' / 'train-00009.parquet'}: shard listed in {corpus / 'manifest.json'} "
                            "is missing; rebuild the corpus")
