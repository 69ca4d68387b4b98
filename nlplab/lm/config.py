"""The `nlplab lm train` config and its presets (nlplab/configs/lm.yaml).

Order of precedence: LMConfig defaults < the --preset entry < the run's config.yaml (--resume)
< --config FILE < flags (nlplab/training/config.py: resolve_config).
The defaults are ELMo's small model (Peters et al. 2018; bilm-tf `elmo_2x1024_128_2048cnn_1xhighway`):
char CNN with 2048 filters and one highway layer, 2 LSTM layers of 1024 cells projected to 128.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from nlplab import NlplabError
from nlplab.config import opt
from nlplab.training.config import TrainConfig, alias_of, override

PRESETS = Path(__file__).resolve().parent.parent / "configs" / "lm.yaml"
PRESET_NAMES = ("tiny", "small", "ptb", "elmo-small", "elmo-original")
ELMO_FILTERS = "1:32,2:32,3:64,4:128,5:256,6:512,7:1024"  # bilm-tf options.json, 2048 filters in all


@dataclass
class LMConfig(TrainConfig):
    """The shared training fields (nlplab/training/config.py) with the biLM's defaults, then its own."""

    resume: bool = override("resume", False, "continue the run in -o from its checkpoint.pt exactly where it stopped "
                            "(its config.yaml; options given now must agree with it)")
    force: bool = override("force", False, "start over in an existing run folder (its files are removed)")
    seed: int = override("seed", 1234, "seed for initialisation, dropout and sentence order")
    epochs: int = override("epochs", 10, "passes over the training corpus")
    max_steps: int = override("max_steps", 0, "stop after this many steps (0: epochs decide; with both, whichever comes first)")
    max_minutes: float = override("max_minutes", 0.0, "stop training after this many minutes (0: no limit); the run then "
                                  "ends as after its last epoch: valid, best weights, test. A time budget: pair it with a "
                                  "schedule that needs no step count (constant, plateau, step)")
    optimizer: str = override("optimizer", "adam")
    lr: float = override("lr", 1e-3, "peak learning rate (ELMo: adagrad 0.2; pytorch/examples: sgd 20)")
    eval_every: int = override("eval_every", 0, "also evaluate on --valid every N steps (0: only at each epoch end)")
    save_every: int = override("save_every", 500, "write checkpoint.pt every N steps (and at the end; 0: only at the end)")
    log_every: int = override("log_every", 50, "log train loss, perplexity, tokens/s and lr every N steps")
    train: str = opt(None, "training corpus: txt with one line (stream mode) or sentence per line; tsv/csv/jsonl with --column "
                     "(also .gz/.bz2/.xz/.zst); a corpus folder (nlplab corpus build: its train split, one text a line)")
    valid: str = opt(None, "validation corpus: perplexity per epoch (and --eval-every), best weights, early stopping, plateau "
                     "(default with a corpus folder as TRAIN: its valid split, when it has rows)")
    test: str = opt(None, "test corpus, evaluated once at the end with the best weights")
    preset: str = opt(None, "preset from nlplab/configs/lm.yaml (under --config and flags)", choices=list(PRESET_NAMES))
    column: str = opt(None, "tsv/csv column or jsonl key holding the text (txt: the whole line)")
    mode: str = opt("stream", "stream: running text in contiguous windows, LSTM state carried (PTB, WikiText); "
                    "sentence: each line alone with <s> </s>, padded", choices=["stream", "sentence"])
    encoder: str = opt("char", "token encoder: ELMo's char CNN, a word embedding table, or a subword table (--tokenizer)",
                       choices=["char", "word", "subword"])
    tokenizer: str = opt(None, "--encoder subword: an nlplab subword folder (nlplab subword train); its pieces are the vocabulary")
    pretokenize: str = opt("whitespace", "--encoder word/char: split lines on whitespace (PTB, WikiText are tokenized), "
                           "or with an nlplab tokenizer (mecab for Korean morphemes, kiwi, nltk, ...)")
    clean: str = opt("none", "cleaning before tokenizing: a preset (ko, en), comma-separated steps, or none")
    min_count: int = opt(1, "word vocabulary: words seen fewer times become <unk>")
    max_vocab: int = opt(0, "word vocabulary: keep the N most frequent entries, specials included (0: all)")
    max_chars: int = opt(50, "char CNN: characters (bytes) per token with <bow>/<eow> (ELMo: 50)")
    char_dim: int = opt(16, "char CNN: character embedding size (ELMo: 16)")
    char_filters: str = opt(ELMO_FILTERS, "char CNN: width:count of each convolution (ELMo: 2048 filters in all)")
    highway: int = opt(1, "char CNN: highway layers (ELMo small: 1, original: 2)")
    hidden_dim: int = opt(1024, "LSTM cells per layer and direction")
    proj_dim: int = opt(128, "projection after each LSTM layer (LSTMP), also the token encoder's output size")
    layers: int = opt(2, "LSTM layers per direction")
    dropout: float = opt(0.1, "dropout on the token encoder output, between LSTM layers and before the softmax")
    variational: bool = opt(False, "variational dropout (Gal & Ghahramani 2016): one mask per sequence, the same at every "
                            "position, on the token encoder output, between LSTM layers and before the softmax")
    tie: bool = opt(False, "tie the softmax weights to the input embedding (word/subword encoders)")
    softmax: str = opt("full", "full softmax, or adaptive (nn.AdaptiveLogSoftmaxWithLoss, for vocabularies over ~50k)",
                       choices=["full", "adaptive"])
    cutoffs: str = opt("", "adaptive softmax cluster boundaries, e.g. 2000,10000 (default: from the vocabulary size)")
    batch_size: int = opt(64, "stream mode: parallel streams; sentence mode: sentences per batch")
    bptt: int = opt(20, "stream mode: window length (ELMo unrolls 20); sentence mode: longer sentences are cut into pieces")
    eval_batch_size: int = opt(10, "streams (or sentences) per evaluation batch; perplexities depend on it in stream mode")
    device: str = opt("auto", "auto: cuda when visible, else cpu", choices=["auto", "cpu", "cuda"])
    checkpoint_every: int = opt(None, alias_of("save_every"))

    def __post_init__(self):
        if self.checkpoint_every is not None:  # from here on only `save_every` says it
            self.save_every, self.checkpoint_every = self.checkpoint_every, None
        super().__post_init__()
        if not self.train:
            raise NlplabError("give the training corpus: nlplab lm train TRAIN_FILE -o RUN")
        self.at_least(1, "batch_size", "bptt", "eval_batch_size", "layers", "hidden_dim", "proj_dim", "max_chars",
                      "char_dim", "min_count")
        self.at_least(0, "max_vocab")
        if self.proj_dim >= self.hidden_dim:
            raise NlplabError(f"--proj-dim {self.proj_dim} must be smaller than --hidden-dim {self.hidden_dim} (LSTMP projects down)")
        if not 0 <= self.dropout < 1:
            raise NlplabError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.encoder == "subword" and not self.tokenizer:
            raise NlplabError("--encoder subword needs --tokenizer SUBWORD_DIR (from `nlplab subword train`)")
        if self.tokenizer and self.encoder != "subword":
            raise NlplabError("--tokenizer SUBWORD_DIR is for --encoder subword; for Mecab morphemes use --pretokenize mecab")
        if self.tie and self.encoder == "char":
            raise NlplabError("--tie needs an embedding table to tie to; use --encoder word or subword, or drop --tie")
        if self.tie and self.softmax == "adaptive":
            raise NlplabError("--tie works with the full softmax only; drop --tie or use --softmax full")
        if self.max_chars < 3:
            raise NlplabError("--max-chars must be at least 3 (<bow>, one byte, <eow>)")
        self.char_filters = ",".join(f"{w}:{n}" for w, n in filters(self.char_filters))
        cutoffs(self.cutoffs, None)  # syntax only; the vocabulary size is checked when it is known


def filters(spec: str) -> list[tuple[int, int]]:
    """'1:32,2:32' -> [(1, 32), (2, 32)]."""
    try:
        out = [tuple(int(x) for x in item.split(":")) for item in spec.split(",") if item.strip()]
    except ValueError:
        out = []
    if not out or any(len(f) != 2 or f[0] < 1 or f[1] < 1 for f in out):
        raise NlplabError(f"--char-filters {spec!r}: write width:count pairs, e.g. {ELMO_FILTERS}")
    return out


def cutoffs(spec: str, vocab_size: int | None) -> list[int]:
    """Adaptive softmax cluster boundaries; default: 2000, 10000, 50000 below the vocabulary size."""
    try:
        out = [int(x) for x in str(spec).split(",") if x.strip()]
    except ValueError:
        raise NlplabError(f"--cutoffs {spec!r}: write increasing integers, e.g. 2000,10000") from None
    if out != sorted(set(out)) or any(c < 1 for c in out):
        raise NlplabError(f"--cutoffs {spec!r}: write increasing positive integers, e.g. 2000,10000")
    if vocab_size is None:
        return out
    if not out:
        out = [c for c in (2000, 10000, 50000) if c < vocab_size - 1] or [vocab_size // 2]
    if out[-1] >= vocab_size - 1:
        raise NlplabError(f"--cutoffs {spec}: every boundary must be below the vocabulary size - 1 ({vocab_size - 1}); "
                          "lower them or use --softmax full")
    return out


def preset(name: str | None) -> dict:
    """One entry of configs/lm.yaml ({} for None)."""
    if not name:
        return {}
    data = yaml.safe_load(PRESETS.read_text(encoding="utf-8"))
    if name not in data:
        raise NlplabError(f"{PRESETS}: no preset {name!r}; presets: {', '.join(data)}")
    return {**data[name], "preset": name}
