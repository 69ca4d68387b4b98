"""The `nlplab pretrain` config: the shared training fields (nlplab/training/config.py) with
pretraining's defaults, then its own. Imports no torch.

Defaults: a BERT-mini (4 x 256) masked LM on blocks of 128 tokens, 32 a process, AdamW
5e-4 with 6% warmup and linear decay (ELECTRA-Small's peak rate, Clark et al. 2020 table
7; BERT-base's 1e-4 is too low for a model this small), weight decay 0.01, clipping at 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from nlplab import NlplabError
from nlplab.config import opt
from nlplab.training.config import TrainConfig, override

OBJECTIVES = ("mlm", "electra")  # nlplab/pretrain/model.py builds both
MASKS = ("token", "whole-word")


@dataclass
class PretrainConfig(TrainConfig):
    epochs: int = override("epochs", 1, "passes over the corpus's blocks")
    lr: float = override("lr", 5e-4, "peak learning rate (ELECTRA-Small: 5e-4; BERT-base's 1e-4 is low for small models)")
    weight_decay: float = override("weight_decay", 0.01)
    scheduler: str = override("scheduler", "linear")
    warmup_ratio: float = override("warmup_ratio", 0.06)
    eval_every: int = override("eval_every", 500, "evaluate on the valid blocks every N steps (and at the end)")
    save_every: int = override("save_every", 500, "write a resumable checkpoint every N steps (and at the end)")
    corpus: str = opt(None, "an `nlplab corpus build` folder (its train split; its valid split validates) or a text "
                      "file, one text a line (also .gz ...; tsv/csv/jsonl: the text column)")
    tokenizer: str = opt(None, "subword folder (`nlplab subword train`: its cleaning and morpheme pre-split are applied "
                         "as at vocabulary training); default: --model's")
    objective: str = opt("mlm", "mlm: BERT's masked LM, dynamic masking, no next-sentence task (RoBERTa); electra: "
                         "replaced-token detection with a generator 1/4 the size", choices=list(OBJECTIVES))
    size: str = opt("mini", "model size from nlplab/configs/pretrain.yaml (tiny, mini, small, medium, base, "
                    "electra-small)")
    model: str = opt(None, "continue this model instead of a fresh one (mlm: a BERT folder, or minilm): "
                     "domain-adaptive pretraining")
    valid: str = opt(None, "valid corpus (default with a corpus folder: its valid split): masked-token loss and "
                     "accuracy; ELECTRA also replaced-token accuracy and AUC")
    mask: str = opt("token", "token: each token chosen alone (BERT); whole-word: a word's tokens together (a word is "
                    "what the tokenizer's pre-tokenizer splits: an eojeol, or a morpheme with a Mecab pre-split "
                    "vocabulary)", choices=list(MASKS))
    mask_rate: float = opt(0.15, "fraction of the tokens chosen for prediction (80% [MASK], 10% random, 10% kept)")
    max_length: int = opt(128, "block length in tokens ([CLS] included): documents are packed, no padding")
    batch_size: int = opt(32, "blocks per process per micro-batch (the global batch: x processes x --grad-accum)")
    eval_blocks: int = opt(256, "valid blocks scored at each evaluation (the same ones and masks every time)")
    dropout: float = opt(None, "hidden and attention dropout (default: BERT's 0.1)")
    compile: bool = opt(False, "torch.compile the model (pays off on a GPU for long runs)")

    def __post_init__(self):
        super().__post_init__()
        if not self.corpus:
            raise NlplabError("give the corpus: nlplab pretrain CORPUS -o RUN --tokenizer SUBWORD_DIR")
        if not self.tokenizer and not self.model:
            raise NlplabError("give --tokenizer SUBWORD_DIR (from `nlplab subword train`), or --model to continue")
        if self.model and self.objective == "electra":
            raise NlplabError("--model continues a masked LM; ELECTRA starts fresh (drop --model, or --objective mlm)")
        self.at_least(1, "batch_size", "eval_blocks")
        if not 0 < self.mask_rate < 1:
            raise NlplabError(f"--mask-rate must be in (0, 1), got {self.mask_rate}")
        if self.max_length < 8:
            raise NlplabError(f"--max-length must be at least 8 tokens, got {self.max_length}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise NlplabError(f"--dropout must be in [0, 1), got {self.dropout}")
