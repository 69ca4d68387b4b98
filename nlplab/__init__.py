"""nlplab: Korean/English NLP preprocessing and language-model lab.

Stages, in data-flow order: clean -> tokenize -> subword -> lm / finetune -> glue.
"""

__version__ = "0.1.0"


class NlplabError(Exception):
    """A user-facing error: the CLI prints its message as one line and exits non-zero.

    The message names the file (and line/column where known) and says how to fix it.
    """
