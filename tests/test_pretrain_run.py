"""`nlplab pretrain` end to end on a tiny model: the run folder (HF loading round trip,
metrics with tokens/s), exact resume, 2 processes = 1, ELECTRA's generator and AUC,
`pretrain fill`, `finetune --model RUN`, and bad inputs as one line before any training."""

import contextlib
import json

import pytest
import torch
from conftest import ROOT, run_cli
from safetensors.torch import load_file

from nlplab import NlplabError
from nlplab.pretrain.config import PretrainConfig

KO = ROOT / "corpora" / "ko_sample.txt"


@pytest.fixture(scope="module")
def vocab(tmp_path_factory):
    from nlplab.subword import SubwordConfig
    from nlplab.subword import train as train_subword

    out = tmp_path_factory.mktemp("ptv") / "wp"
    train_subword(SubwordConfig(corpus=[str(KO)], output=str(out), lang="ko", model="wordpiece", vocab_size=600),
                  progress=False)
    return out


def args(vocab, out, *more):
    return (KO, "-o", out, "--tokenizer", vocab, "--size", "tiny", "--batch-size", "4", "--max-length", "32",
            "--max-steps", "12", "--log-every", "2", "--eval-every", "6", "--save-every", "4", "--valid", KO,
            "--eval-blocks", "8", "--seed", "3", "--no-progress", *more)


@contextlib.contextmanager
def interrupted_at(step: int):
    """Ctrl-C right after the checkpoint of `step` is written."""
    from nlplab.training import checkpoint

    real = checkpoint.save_checkpoint

    def save_then_stop(path, **saved):
        real(path, **saved)
        if saved["step"] == step:
            raise KeyboardInterrupt
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(checkpoint, "save_checkpoint", save_then_stop)
        yield


@pytest.fixture(scope="module")
def mlm_run(vocab, tmp_path_factory):
    out = tmp_path_factory.mktemp("mlm") / "run"
    assert run_cli("pretrain", *args(vocab, out)) == 0
    return out


def test_mlm_run_folder_loads_with_hf_and_logs_tokens_per_s(mlm_run):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    m = AutoModelForMaskedLM.from_pretrained(mlm_run)
    assert type(m).__name__ == "BertForMaskedLM" and m.config.num_hidden_layers == 2 and m.config.hidden_size == 128
    tok = AutoTokenizer.from_pretrained(mlm_run)
    assert tok.mask_token == "[MASK]" and len(tok) == m.config.vocab_size
    lines = [json.loads(x) for x in (mlm_run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in lines if r["split"] == "train"]
    assert [r["step"] for r in train] == [2, 4, 6, 8, 10, 12]
    assert all(r["tokens_per_s"] > 0 and r["tokens"] == r["step"] * 4 * 32 for r in train)
    assert [r["step"] for r in lines if r["split"] == "valid"] == [6, 12]
    s = json.loads((mlm_run / "metrics.json").read_text())
    assert (s["steps"], s["tokens"], s["stopped"]) == (12, 12 * 4 * 32, "max_steps")
    assert 0 <= s["valid"]["mlm_accuracy"] <= 1 and s["valid"]["mlm_loss"] > 0
    assert not (mlm_run / "checkpoint").exists()  # finished: the model folder is the result


def test_resume_after_an_interruption_gives_the_same_weights(vocab, mlm_run, tmp_path):
    out = tmp_path / "run"
    with interrupted_at(8):
        assert run_cli("pretrain", *args(vocab, out)) == 130
    assert run_cli("pretrain", "-o", out, "--resume", "--no-progress") == 0
    a, b = load_file(mlm_run / "model.safetensors"), load_file(out / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    same = [json.loads(x) for x in (mlm_run / "metrics.jsonl").read_text().splitlines()]
    again = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    drop = ("tokens_per_s",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in same] == \
        [{k: v for k, v in r.items() if k not in drop} for r in again]


def test_a_run_cut_by_its_time_budget_keeps_its_checkpoint_and_resumes_to_the_same_weights(vocab, mlm_run, tmp_path,
                                                                                            monkeypatch):
    """--max-minutes ends the run before its 12-step schedule: the model folder is written
    (fine-tuning can take it), the checkpoint stays, and --resume with a new budget finishes
    the same schedule with the uncut run's weights."""
    out = tmp_path / "run"
    monkeypatch.setenv("NLPLAB_TEST_EARLY_RANK", "0")
    monkeypatch.setenv("NLPLAB_TEST_EARLY_SECONDS", "60")  # the 1-minute budget is over after the first step
    assert run_cli("pretrain", *args(vocab, out, "--max-minutes", "1")) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert (m["stopped"], m["steps"]) == ("max_minutes", 1)
    assert (out / "checkpoint" / "last.pt").is_file() and (out / "model.safetensors").is_file()
    assert "the schedule has 11 steps left: `--resume`" in (out / "train.log").read_text()
    monkeypatch.delenv("NLPLAB_TEST_EARLY_RANK")
    assert run_cli("pretrain", "-o", out, "--resume", "--max-minutes", "0", "--no-progress") == 0
    m = json.loads((out / "metrics.json").read_text())
    assert (m["stopped"], m["steps"]) == ("max_steps", 12) and not (out / "checkpoint" / "last.pt").exists()
    a, b = load_file(mlm_run / "model.safetensors"), load_file(out / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_electra_saves_discriminator_and_generator_and_scores_auc(vocab, tmp_path):
    from transformers import AutoModelForMaskedLM, AutoModelForPreTraining

    out = tmp_path / "el"
    assert run_cli("pretrain", *args(vocab, out, "--objective", "electra")) == 0
    d = AutoModelForPreTraining.from_pretrained(out)
    g = AutoModelForMaskedLM.from_pretrained(out / "generator")
    assert type(d).__name__ == "ElectraForPreTraining" and type(g).__name__ == "ElectraForMaskedLM"
    assert g.config.hidden_size == 64 and d.config.hidden_size == 128  # 1/4, at least 64
    assert torch.equal(d.electra.embeddings.word_embeddings.weight, g.electra.embeddings.word_embeddings.weight)
    v = json.loads((out / "metrics.json").read_text())["valid"]
    assert 0 <= v["disc_auc"] <= 1 and 0 <= v["disc_accuracy"] <= 1 and 0 < v["replaced"] < 0.15
    from scipy.stats import entropy

    from nlplab.pretrain.train import at_prior, rates
    assert v["disc_prior_loss"] == pytest.approx(entropy([v["replaced"], 1 - v["replaced"]]))
    said = f"valid step {v['step']}: the discriminator is at its prior" in (out / "train.log").read_text()
    assert said == (v["disc_loss"] >= 0.98 * v["disc_prior_loss"])  # the run log says so exactly when it is
    w = {"mlm_loss_sum": 6.0, "masked": 3, "correct": 1, "tokens": 100, "replaced": 15, "disc_correct": 85}
    learnt, prior = rates({**w, "disc_loss_sum": 30.0}), rates({**w, "disc_loss_sum": 42.0})
    assert learnt["disc_prior_loss"] == pytest.approx(entropy([0.15, 0.85])) == pytest.approx(0.42271, abs=1e-5)
    assert not at_prior(learnt) and at_prior(prior) and not at_prior(rates({k: w[k] for k in ("mlm_loss_sum", "masked", "correct")}))


def test_fill_gives_top_k_for_each_mask(mlm_run, capsys):
    code, out, _ = run_cli("pretrain", "fill", mlm_run, "영화 [MASK] 좋다 [MASK]", "--top-k", "3", "--json",
                           capsys=capsys)
    got = json.loads(out)
    assert code == 0 and len(got["masks"]) == 2 and all(len(m) == 3 for m in got["masks"])
    for m in got["masks"]:
        ps = [c["p"] for c in m]
        assert ps == sorted(ps, reverse=True) and 0 < sum(ps) <= 1 + 1e-6
    code, _, err = run_cli("pretrain", "fill", mlm_run, "no mask here", capsys=capsys)
    assert code == 2 and "has no [MASK]" in err


def test_finetune_takes_the_pretraining_run_as_model(mlm_run, tmp_path):
    rows = ["id\tdocument\tlabel"] + [f"{i}\t{t}\t{i % 2}" for i, t in
                                      enumerate(KO.read_text(encoding="utf-8").splitlines()[:60]) if t]
    (tmp_path / "train.tsv").write_text("\n".join(rows[:41]) + "\n", encoding="utf-8")
    (tmp_path / "dev.tsv").write_text("\n".join(rows[:1] + rows[41:]) + "\n", encoding="utf-8")
    out = tmp_path / "ft"
    assert run_cli("finetune", "--train", tmp_path / "train.tsv", "--dev", tmp_path / "dev.tsv", "--text", "document",
                   "--label", "label", "--model", mlm_run, "-o", out, "--epochs", "1", "--batch-size", "8",
                   "--no-progress") == 0
    from transformers import AutoModelForSequenceClassification

    m = AutoModelForSequenceClassification.from_pretrained(out)
    enc = load_file(mlm_run / "model.safetensors")
    # the classifier starts from the pretrained encoder (its embeddings moved only by fine-tuning)
    assert m.config.hidden_size == 128 and enc["bert.embeddings.word_embeddings.weight"].shape[0] == m.config.vocab_size


@pytest.mark.parametrize("extra, message", [
    (("--size", "huge"), "unknown size 'huge'"),
    (("--objective", "xlnet"), "invalid choice"),
    (("--mask-rate", "0"), "--mask-rate must be in"),
    (("--batch-size", "4096"), "fewer than one global batch of 4096"),
])
def test_bad_inputs_are_one_line_before_training(vocab, tmp_path, capsys, extra, message):
    out = tmp_path / "bad"
    try:
        code, _, err = run_cli("pretrain", *args(vocab, out, *extra), capsys=capsys)
    except SystemExit as e:  # argparse's choices
        code, err = e.code, capsys.readouterr().err
    assert code == 2 and message in err.strip().splitlines()[-1]  # argparse's usage, then the one line
    assert not (out / "model.safetensors").exists()


def test_empty_corpus_resume_changes_and_position_table(vocab, mlm_run, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    code, _, err = run_cli("pretrain", empty, "-o", tmp_path / "e", "--tokenizer", vocab, "--size", "tiny", capsys=capsys)
    assert code == 2 and "no text to pretrain on" in err
    with pytest.raises(NlplabError, match="--model continues a masked LM"):
        PretrainConfig(corpus=str(KO), output="x", model=str(mlm_run), objective="electra")
    code, _, err = run_cli("pretrain", KO, "-o", tmp_path / "p", "--model", mlm_run, "--max-length", "600",
                           "--no-progress", capsys=capsys)
    assert code == 2 and "above the model's 512 positions" in err
    code, _, err = run_cli("pretrain", "-o", mlm_run, "--resume", "--lr", "0.1", capsys=capsys)
    assert code == 2 and "differs from the run's in lr" in err


def test_two_processes_train_like_one(vocab, tmp_path):
    """The same global batch of 4 blocks, as 4 on one process or 2 + 2 on two (gloo): the
    same masks (drawn for the global batch) and, without dropout, the same weights."""
    from test_dist import close, nlplab

    runs = {}
    for n, batch in ((1, 4), (2, 2)):
        out = runs[n] = tmp_path / f"p{n}"
        code, err, _ = nlplab("pretrain", *args(vocab, out, "--dropout", "0", "--batch-size", batch, "--nproc", n))
        assert code == 0, err
    assert close(load_file(runs[1] / "model.safetensors"), load_file(runs[2] / "model.safetensors"), atol=1e-5)
    one, two = (json.loads((runs[n] / "metrics.json").read_text()) for n in (1, 2))
    assert two["processes"] == 2 and one["tokens"] == two["tokens"]
    assert one["valid"]["mlm_loss"] == pytest.approx(two["valid"]["mlm_loss"], abs=1e-4)


def test_a_one_process_run_resumes_on_two(vocab, tmp_path):
    """Interrupted at step 8 on one process, resumed with --nproc 2: the checkpoint's global
    batch of 4 is split 2 + 2 and the weights end as the uninterrupted run's."""
    from test_dist import close, nlplab

    full = tmp_path / "full"
    assert run_cli("pretrain", *args(vocab, full, "--dropout", "0")) == 0
    out = tmp_path / "cut"
    with interrupted_at(8):
        assert run_cli("pretrain", *args(vocab, out, "--dropout", "0")) == 130
    code, err, _ = nlplab("pretrain", "-o", out, "--resume", "--nproc", 2, "--no-progress")
    assert code == 0, err
    assert close(load_file(full / "model.safetensors"), load_file(out / "model.safetensors"), atol=1e-5)
    assert json.loads((out / "metrics.json").read_text())["processes"] == 2


def test_report_reads_a_pretraining_run(mlm_run, tmp_path):
    from nlplab.report.runs import load_run

    r = load_run(mlm_run)
    last = json.loads((mlm_run / "metrics.json").read_text())["valid"]
    assert (r.kind, r.task, r.model, r.steps) == ("pretrain", "ko_sample.txt", "mlm tiny", 12)
    assert r.best() == ("valid masked acc", last["mlm_accuracy"])
    assert r.throughput[1] == "tokens/s" and r.throughput[0] > 0
    out = tmp_path / "report.html"
    assert run_cli("report", mlm_run, "-o", out) == 0
    html = out.read_text(encoding="utf-8")
    assert "1 run, 0 sweeps" in html and "mlm tiny" in html and html.count('src="data:image/png;base64,') == 2
