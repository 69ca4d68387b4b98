"""ELMo-style bidirectional LSTM language model: train, evaluate, embed.

    nlplab lm train ../shared/data/ptb/train.txt --valid ../shared/data/ptb/valid.txt -o runs/ptb --preset small
    nlplab lm eval runs/ptb --data ../shared/data/ptb/test.txt --json
    nlplab lm embed runs/ptb sentences.txt -o elmo.pt

Files: config.py (LMConfig, presets in configs/lm.yaml), vocab.py (word/char/subword
vocabularies), data.py (stream and sentence batches), model.py (BiLM), train.py (the
training loop), evaluate.py (perplexity), embed.py (ELMo layers + scalar mix),
checkpoint.py (the run folder), commands.py (the CLI).
"""

from nlplab.lm.config import LMConfig

__all__ = ["LMConfig", "BiLM", "BiLMConfig"]


def __getattr__(name):
    # model.py imports torch (~1 s); `nlplab lm --help` and every other command must not pay it (issue 21)
    if name in ("BiLM", "BiLMConfig"):
        from nlplab.lm import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
