"""The CLI starts without the heavy stages (issue 21): building the parser and running
`preprocess` import no torch, transformers or datasets, in the parent or in its workers."""

import json
import os
import subprocess
import sys

import pytest

from nlplab import cli

HEAVY = ("torch", "transformers", "datasets")

# A stand-in for each heavy library, first on the path: importing it anywhere (the CLI, a
# forked or spawned worker) logs the name and fails, so a guarded `try: import` shows too.
BLOCKER = ("import os\nwith open(os.environ['NLPLAB_IMPORT_LOG'], 'a') as f:\n    f.write(__name__ + '\\n')\n"
           "raise ImportError(__name__ + ' must not be imported here (issue 21)')\n")

SCRIPT = """
import json, sys
from nlplab import cli, parallel
start, argv = sys.argv[1], sys.argv[2:]
if start != "default":
    parallel.start_method = lambda: start
code = cli.main(argv)
print(json.dumps({"code": code, "modules": sorted(m for m in sys.modules if m.split(".")[0] in %r)}))
""" % (HEAVY + ("nlplab",),)


def run_blocked(tmp_path, start: str, *args) -> tuple[dict, list[str]]:
    blocked = tmp_path / "blocked"
    for name in HEAVY:
        (blocked / name).mkdir(parents=True)
        (blocked / name / "__init__.py").write_text(BLOCKER, encoding="utf-8")
    log = tmp_path / "imports.log"
    log.touch()
    env = {**os.environ, "PYTHONPATH": str(blocked), "NLPLAB_IMPORT_LOG": str(log)}
    done = subprocess.run([sys.executable, "-c", SCRIPT, start, *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), log.read_text(encoding="utf-8").split()


@pytest.mark.parametrize("start", ["default", "spawn"])
def test_preprocess_imports_no_torch(tmp_path, start):
    src = tmp_path / "in.txt"
    src.write_text("".join(f"아버지가 방에 들어가신다 {i}\n" for i in range(40)), encoding="utf-8")
    out = tmp_path / "out.txt"
    result, imported = run_blocked(tmp_path, start, "preprocess", src, "-o", out, "--lang", "ko", "--tokenizer",
                                   "mecab", "--workers", "2", "--chunk-bytes", "64", "--no-progress")
    assert result["code"] == 0 and imported == []
    assert not [m for m in result["modules"] if m.split(".")[0] in HEAVY]
    assert out.read_text(encoding="utf-8").splitlines()[3] == "아버지 가 방 에 들어가 신다 3"


def test_tokenize_text_and_version_import_only_what_they_run(tmp_path, capsys):
    result, imported = run_blocked(tmp_path, "default", "tokenize", "--text", "아버지가 방에 들어가신다",
                                   "--tokenizer", "mecab")
    assert result["code"] == 0 and imported == []
    assert not [m for m in result["modules"] if m.startswith(tuple(cli.STAGES.values()))]  # no other stage's parser
    with pytest.raises(SystemExit):  # --version builds no sub-command at all
        cli.main(["--version"])
    assert capsys.readouterr().out.strip() == f"nlplab {cli.__version__}"
    assert "COMMAND" not in cli.build_parser(["--version"]).format_usage()


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    listed = capsys.readouterr().out
    full = commands(cli.build_parser())
    built_in = commands(cli.build_parser(["preprocess"]))
    assert {"preprocess", "clean", "tokenize", "stopwords", "demo"} < built_in
    assert full == built_in | set(cli.STAGES)  # a stage's new command goes into cli.STAGES too, or it loads them all
    for name in full:
        assert f"\n    {name} " in listed or f"\n    {name}\n" in listed, name
    for name, module in cli.STAGES.items():  # `nlplab lm ...` builds lm's parser only
        assert commands(cli.build_parser([name, "--help"])) - built_in == {n for n, m in cli.STAGES.items() if m == module}


def commands(parser) -> set[str]:
    return set(parser._subparsers._group_actions[0].choices)


def test_a_typo_lists_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["finetun"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'finetun'" in err and all(f"'{name}'" in err for name in cli.STAGES)


def test_every_commands_help_formats():
    """`--help` of every command and sub-command renders: argparse %-formats help strings,
    so a literal "15%" in an option's help once crashed `nlplab pretrain train --help`."""
    import argparse

    def walk(parser, path):
        text = parser.format_help()
        assert text.startswith("usage: "), path
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, path + [name])
        yield path, text

    seen = dict((" ".join(p), t) for p, t in walk(cli.build_parser(), []))
    assert {"pretrain train", "pretrain fill", "bench", "finetune", "lm train", "sweep"} <= set(seen)
    assert "(80% [MASK], 10% random, 10% kept)" in " ".join(seen["pretrain train"].split())
    assert "--cpu-workers CPU_WORKERS" in seen["bench"] and "--cpu-workers CPU_WORKERS" in seen["sweep"]
