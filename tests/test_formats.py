"""nlplab.formats: the output's name sets its format (TSV in, JSONL out) and compression;
conversions keep every row and column, and the ones that cannot are one line, no file."""

import bz2
import csv
import gzip
import lzma

import pytest
import zstandard
from conftest import run_cli

from nlplab import NlplabError, formats

TOKENIZE = ["--lang", "en", "--tokenizer", "whitespace"]  # `tokenize` cleans nothing: tokens are the words as given


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def one_line_error(capsys, *args):
    capsys.readouterr()  # what earlier runs printed
    code, _, err = run_cli(*args, capsys=capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_the_extension_names_the_format_else_the_default():
    assert [formats.output_format(p, "tsv") for p in
            ("a.jsonl", "a.ndjson", "a.JSONL", "a.csv", "a.txt", "a.tsv", "a.jsonl.gz", "a.csv.zst", "a.tok", "a.gz", "-")] == \
        ["jsonl", "jsonl", "jsonl", "csv", "txt", "tsv", "jsonl", "csv", "tsv", "tsv", "tsv"]
    with pytest.raises(NlplabError, match=r"^a.parquet: parquet is not written here; name the output .jsonl, .tsv, .csv or .txt"):
        formats.output_format("a.parquet", "tsv")


def test_tsv_in_jsonl_out_keeps_every_column_and_row(tmp_path, capsys):
    src = write(tmp_path / "in.tsv", 'id\tdocument\tlabel\n1\tHello "big" world\t1\n2\t\t0\n3\tBye\t0\n')
    code, _, err = run_cli("tokenize", src, "-o", tmp_path / "out.jsonl", *TOKENIZE, "--column", "document", capsys=capsys)
    assert code == 0 and "3 of 3 rows" in err, err
    assert (tmp_path / "out.jsonl").read_text(encoding="utf-8") == (
        '{"id": "1", "document": ["Hello", "\\"big\\"", "world"], "label": "1"}\n'
        '{"id": "2", "document": [], "label": "0"}\n'
        '{"id": "3", "document": ["Bye"], "label": "0"}\n')


def test_jsonl_in_csv_out_quotes_commas_quotes_and_line_breaks(tmp_path, capsys):
    src = write(tmp_path / "in.jsonl", '{"id": 1, "text": "a, \\"b\\"", "note": "two\\nlines", "tags": ["x"]}\n'
                                       '{"id": 2, "text": "plain", "note": null, "tags": []}\n')
    code, _, err = run_cli("clean", src, "-o", tmp_path / "out.csv", "--lang", "en", "--clean", "none", capsys=capsys)
    assert code == 0, err
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == (
        'id,text,note,tags\n1,"a, ""b""","two\nlines","[""x""]"\n2,plain,null,[]\n')
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as f:
        assert list(csv.reader(f)) == [["id", "text", "note", "tags"], ["1", 'a, "b"', "two\nlines", '["x"]'],
                                       ["2", "plain", "null", "[]"]]


def test_txt_in_gives_one_text_column(tmp_path, capsys):
    src = write(tmp_path / "in.txt", "Hello world\n\nBye\n")
    assert run_cli("tokenize", src, "-o", tmp_path / "out.jsonl", *TOKENIZE) == 0
    assert (tmp_path / "out.jsonl").read_text() == '{"text": ["Hello", "world"]}\n{"text": []}\n{"text": ["Bye"]}\n'
    assert run_cli("tokenize", src, "-o", tmp_path / "out.tsv", *TOKENIZE, "--output-column", "tokens") == 0
    assert (tmp_path / "out.tsv").read_text() == "text\ttokens\nHello world\tHello world\n\t\nBye\tBye\n"


def test_headerless_tsv_to_jsonl_uses_the_reader_s_column_numbers(tmp_path, capsys):
    src = write(tmp_path / "cola.tsv", "gj04\t1\t\tThey drank the pub.\n")
    assert run_cli("tokenize", src, "-o", tmp_path / "o.jsonl", *TOKENIZE, "--no-header", "--column", "3") == 0
    assert (tmp_path / "o.jsonl").read_text() == '{"0": "gj04", "1": "1", "2": "", "3": ["They", "drank", "the", "pub."]}\n'
    assert run_cli("tokenize", src, "-o", tmp_path / "o.csv", *TOKENIZE, "--no-header", "--column", "3") == 0
    assert (tmp_path / "o.csv").read_text() == "gj04,1,,They drank the pub.\n"  # headerless stays headerless


@pytest.mark.parametrize("ext,unpack", [(".gz", gzip.decompress), (".bz2", bz2.decompress), (".xz", lzma.decompress),
                                        (".zst", lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b))])
def test_a_compressed_output_is_compressed_and_reads_back(tmp_path, capsys, ext, unpack):
    src = write(tmp_path / "in.tsv", "id\ttext\n1\tHello world\n2\tBye\n")
    plain, packed = tmp_path / "out.jsonl", tmp_path / f"out.jsonl{ext}"
    clean = ["--lang", "en", "--clean", "none"]
    assert run_cli("clean", src, "-o", plain, *clean) == 0
    assert run_cli("clean", src, "-o", packed, *clean) == 0
    assert plain.read_bytes() == b'{"id": "1", "text": "Hello world"}\n{"id": "2", "text": "Bye"}\n'
    assert packed.read_bytes() != plain.read_bytes() and unpack(packed.read_bytes()) == plain.read_bytes()
    # and nlplab reads it back as jsonl
    code, _, err = run_cli("clean", packed, "-o", tmp_path / "back.tsv", "--lang", "en", "--clean", "none", capsys=capsys)
    assert code == 0 and (tmp_path / "back.tsv").read_text() == 'id\ttext\n1\tHello world\n2\tBye\n', err


def test_gzip_output_is_the_same_bytes_on_every_run(tmp_path):
    src = write(tmp_path / "in.txt", "a b\n")
    assert run_cli("tokenize", src, "-o", tmp_path / "1.txt.gz", *TOKENIZE) == 0
    assert run_cli("tokenize", src, "-o", tmp_path / "2.txt.gz", *TOKENIZE) == 0
    assert (tmp_path / "1.txt.gz").read_bytes() == (tmp_path / "2.txt.gz").read_bytes()
    assert (tmp_path / "1.txt.gz").read_bytes()[:2] == b"\x1f\x8b"


def test_tabular_to_txt_needs_the_text_to_be_the_only_column(tmp_path, capsys):
    src = write(tmp_path / "in.tsv", "id\ttext\n1\tHello world\n")
    out = tmp_path / "out.txt"
    assert one_line_error(capsys, "tokenize", src, "-o", out, *TOKENIZE) == (
        f"nlplab tokenize: error: {out}: a .txt output holds only the text, and {src} also has id; "
        "name the output .tsv, .csv or .jsonl to keep them")
    assert not out.exists() and not list(tmp_path.glob("*.partial"))
    only = write(tmp_path / "only.csv", "text\nHello world\n\nBye\n")
    assert run_cli("tokenize", only, "-o", out, *TOKENIZE) == 0
    assert out.read_text() == "Hello world\n\nBye\n"  # no header: a txt file is its texts
    jl = write(tmp_path / "in.jsonl", '{"text": "a"}\n{"text": "b", "id": 2}\n')
    assert one_line_error(capsys, "tokenize", jl, "-o", tmp_path / "j.txt", *TOKENIZE) == (
        f"nlplab tokenize: error: {jl}:2: has keys besides 'text' (id), which a .txt output would drop; "
        f"name {tmp_path / 'j.txt'} .jsonl, or pass --on-error skip to skip such rows")
    assert not (tmp_path / "j.txt").exists()
    assert one_line_error(capsys, "tokenize", only, "-o", out, *TOKENIZE, "--output-column", "tokens") == (
        f"nlplab tokenize: error: --output-column adds a column, and a .txt output holds one; name {out} .tsv, .csv or .jsonl")


def test_an_unknown_extension_keeps_the_input_s_format(tmp_path, capsys):
    src = write(tmp_path / "in.tsv", "id\ttext\n1\tHello world\n")
    assert run_cli("tokenize", src, "-o", tmp_path / "out.tok", *TOKENIZE) == 0
    assert (tmp_path / "out.tok").read_text() == "id\ttext\n1\tHello world\n"
    assert run_cli("tokenize", src, "-o", tmp_path / "out.gz", *TOKENIZE) == 0  # no format suffix: the input's, gzip'd
    assert gzip.decompress((tmp_path / "out.gz").read_bytes()) == b"id\ttext\n1\tHello world\n"


def test_cells_tsv_cannot_hold_are_an_error_naming_the_line(tmp_path, capsys):
    src = write(tmp_path / "in.csv", 'id,text,note\n1,ok,fine\n2,ok,two\tcells\n')
    out = tmp_path / "out.tsv"
    assert one_line_error(capsys, "tokenize", src, "-o", out, *TOKENIZE) == (
        f"nlplab tokenize: error: {src}:3: column 'note' holds a tab or line break, which TSV (quoting off) cannot; "
        f"name {out} .csv or .jsonl, or pass --on-error skip to skip such rows")
    assert not out.exists()
    code, _, err = run_cli("tokenize", src, "-o", out, *TOKENIZE, "--on-error", "skip", capsys=capsys)
    assert code == 0 and "1 of 2 rows" in err and "skipped 1 rows (--on-error skip) at lines 3" in err
    assert out.read_text() == "id\ttext\tnote\n1\tok\tfine\n"
    write(src, 'id,text,note\n1,ok,"two\nlines"\n')  # a quoted line break: the same
    assert "column 'note' holds a tab or line break" in one_line_error(capsys, "tokenize", src, "-o", out, *TOKENIZE)
    # the processed text is flattened, as it always was
    src = write(tmp_path / "t.jsonl", '{"text": "a\\tb\\nc"}\n')
    assert run_cli("clean", src, "-o", out, "--lang", "en", "--clean", "none") == 0
    assert out.read_text() == "text\na b c\n"


def test_jsonl_to_tsv_needs_the_same_keys_on_every_row(tmp_path, capsys):
    src = write(tmp_path / "in.jsonl", '{"id": 1, "text": "a"}\n{"text": "b", "id": 2}\n{"text": "c"}\n')
    out = tmp_path / "out.tsv"
    assert one_line_error(capsys, "tokenize", src, "-o", out, *TOKENIZE) == (
        f"nlplab tokenize: error: {src}:3: has keys text, line 1 has id, text; a tsv output needs the same keys "
        f"on every row; name {out} .jsonl, or pass --on-error skip to skip such rows")
    assert not out.exists()
    src = write(tmp_path / "ok.jsonl", '{"id": 1, "text": "a"}\n{"text": "b", "id": 2}\n')
    assert run_cli("tokenize", src, "-o", out, *TOKENIZE) == 0
    assert out.read_text() == "id\ttext\n1\ta\n2\tb\n"  # the header's order, whatever each row's


def test_output_column_may_not_repeat_a_column_outside_jsonl(tmp_path, capsys):
    src = write(tmp_path / "in.jsonl", '{"id": 1, "text": "a b"}\n')
    assert "--output-column id: " in one_line_error(capsys, "tokenize", src, "-o", tmp_path / "o.tsv", *TOKENIZE,
                                                    "--output-column", "id")
    assert run_cli("tokenize", src, "-o", tmp_path / "o.jsonl", *TOKENIZE, "--output-column", "id") == 0
    assert (tmp_path / "o.jsonl").read_text() == '{"id": ["a", "b"], "text": "a b"}\n'  # jsonl to jsonl: as before
