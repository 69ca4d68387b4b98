"""Subword vocabularies: SentencePiece (unigram, bpe, char) and HF tokenizers (wordpiece,
bpe, byte-level BPE), trained on the user's corpus, optionally morpheme-aware for Korean.

    nlplab subword train CORPUS... -o DIR --lang ko --model unigram --vocab-size 8000 --pretokenize mecab
    nlplab subword encode DIR INPUT -o OUT [--ids]
    nlplab subword decode DIR INPUT -o OUT
    nlplab subword stats DIR [DIR...] CORPUS
"""

from nlplab.subword.tokenizer import SubwordEncoder, SubwordTokenizer
from nlplab.subword.train import SPECIAL_TOKENS, SubwordConfig, train

__all__ = ["SubwordConfig", "SubwordTokenizer", "SubwordEncoder", "train", "SPECIAL_TOKENS"]
