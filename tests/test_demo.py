"""`nlplab demo` (`make demo`): it ends with the next steps, one line each, and every nlplab
command among them is one the CLI accepts as written."""

import shlex

from conftest import run_cli

from nlplab import demo
from nlplab.cli import build_parser

NEXT = [
    "nlplab preprocess ../shared/data/nsmc/ratings_train.txt -o out/nsmc.tok.tsv --lang ko --column document "
    "--tokenizer mecab --workers 2",
    "nlplab finetune --task SST-2 --data-dir ../shared/data/glue --model minilm --max-train-samples 2000 "
    "-o runs/sst2-minilm && nlplab serve runs/sst2-minilm",
    "pip install notebook && jupyter notebook notebooks/   # 01 preprocessing, 02 subwords, 03 biLM, 04 fine-tuning",
]


def test_demo_ends_with_the_next_steps(tmp_path, capsys, monkeypatch):
    # the side-by-side and preprocessing on cheap backends; the subword part left out
    monkeypatch.setattr(demo, "BACKENDS", {"ko": ["mecab"], "en": ["whitespace"]})
    monkeypatch.setattr(demo, "PREPROCESS", (("en", "whitespace", {}),))
    monkeypatch.setattr(demo, "_subword_demo", lambda out_dir: None)
    code, out, _ = run_cli("demo", "--out", tmp_path / "demo", "--lines", 1, capsys=capsys)
    lines = out.splitlines()
    assert code == 0 and lines[-4] == "=== next (in the venv: . .venv/bin/activate; real data: corpora/README.md) ==="
    assert lines[-3:] == NEXT and "=== ko: ko_sample.txt" in out and (tmp_path / "demo" / "en_sample.whitespace.txt").is_file()


def test_each_next_step_is_a_command_the_cli_takes():
    commands = [c.strip() for line in NEXT for c in line.split("#")[0].split("&&") if c.strip().startswith("nlplab ")]
    assert [c.split()[1] for c in commands] == ["preprocess", "finetune", "serve"]
    for c in commands:
        argv = shlex.split(c)[1:]
        args = build_parser(argv).parse_args(argv)
        assert args.command == argv[0]
    assert (demo.SAMPLES.parent / "notebooks" / "01_preprocessing.ipynb").is_file()
