"""`nlplab demo` (what `make demo` runs): clean and tokenize the Korean and English sample
corpora with several backends, print a side-by-side, preprocess the whole samples, and end
with the commands to try next."""

from __future__ import annotations

from pathlib import Path

from nlplab import NlplabError, clean, preprocess
from nlplab.tokenize import load

SAMPLES = Path(__file__).resolve().parent.parent / "corpora"
BACKENDS = {"ko": ["mecab", "kiwi", "okt", "komoran"], "en": ["nltk", "treebank", "tweet"]}
# (lang, tokenizer, options) of the whole-sample preprocessing runs
PREPROCESS = (("ko", "mecab", {"stopwords": True}), ("ko", "kiwi", {}), ("en", "treebank", {"stopwords": True}))
# One line each: the real data (../shared/data, corpora/README.md), a model and its page, the walkthroughs.
NEXT_STEPS = (
    "nlplab preprocess ../shared/data/nsmc/ratings_train.txt -o out/nsmc.tok.tsv --lang ko --column document "
    "--tokenizer mecab --workers 2",
    "nlplab finetune --task SST-2 --data-dir ../shared/data/glue --model minilm --max-train-samples 2000 "
    "-o runs/sst2-minilm && nlplab serve runs/sst2-minilm",
    "pip install notebook && jupyter notebook notebooks/   # 01 preprocessing, 02 subwords, 03 biLM, 04 fine-tuning",
)


def _pick(lines: list[str], n: int) -> list[str]:
    """Short, messy lines make the best show: some HTML/URL/emoji, under 90 characters."""
    messy = [s for s in lines if 15 < len(s) < 90 and any(c in s for c in "<&@#ㅋ!😀🤣👍http")]
    return (messy or [s for s in lines if s.strip()])[:n]


def run(out_dir: str, n_lines: int) -> int:
    for lang in ("ko", "en"):
        path = SAMPLES / f"{lang}_sample.txt"
        lines = path.read_text(encoding="utf-8").splitlines()
        cleaner = clean.pipeline(lang)
        tokenizers = {}
        for name in BACKENDS[lang]:
            try:
                tokenizers[name] = load(name, lang=lang)
            except NlplabError as e:
                print(f"[{name} skipped: {e}]")
        print(f"\n=== {lang}: {path.name} ({len(lines)} lines), clean preset '{lang}' ===")
        for text in _pick(lines, n_lines):
            cleaned = cleaner(text)
            print(f"\nraw      {text}\ncleaned  {cleaned}")
            for name, tok in tokenizers.items():
                print(f"{name:<9}{' '.join(t for t, _ in tok.pairs(cleaned))}")
    print(f"\n=== preprocessing the whole samples into {out_dir}/ ===")
    for lang, tokenizer, extra in PREPROCESS:
        cfg = preprocess.PreprocessConfig(input=str(SAMPLES / f"{lang}_sample.txt"),
                                          output=f"{out_dir}/{lang}_sample.{tokenizer}.txt",
                                          lang=lang, tokenizer=tokenizer, **extra)
        try:
            s = preprocess.run(cfg, progress=False)
        except NlplabError as e:
            print(f"[{tokenizer} skipped: {e}]")
            continue
        print(preprocess.report(cfg, s) + (" (stopwords removed)" if extra else ""))
    _subword_demo(out_dir)
    print("\n=== next (in the venv: . .venv/bin/activate; real data: corpora/README.md) ===")
    print("\n".join(NEXT_STEPS))
    return 0


def _subword_demo(out_dir: str) -> None:
    """Plain vs morpheme-aware (Mecab) unigram vocabularies on the Korean sample."""
    from nlplab.subword import SubwordConfig, SubwordTokenizer, train

    print(f"\n=== subword vocabularies on ko_sample.txt into {out_dir}/ ===")
    text = "아버지가방에들어가신다 재밌어요ㅋㅋ"
    for pretok in ("none", "mecab"):
        folder = f"{out_dir}/ko-unigram-{pretok}"
        train(SubwordConfig(corpus=[str(SAMPLES / "ko_sample.txt")], output=folder, lang="ko", vocab_size=1200,
                            pretokenize=pretok, force=True), argv=["demo"], progress=False)
        print(f"{'morpheme-aware' if pretok == 'mecab' else 'plain':<15}{' '.join(SubwordTokenizer(folder).pieces(text))}")
