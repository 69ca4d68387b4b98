"""`nlplab corpus build` config, and the shipped recipes (nlplab/configs/corpora/*.yaml).

Order of precedence: CorpusConfig defaults < the recipe (--config NAME|FILE) < flags.
Paths in a recipe are relative to --data-dir (a folder laid out as shared/data is).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nlplab import NlplabError, clean
from nlplab.config import opt

RECIPES = Path(__file__).resolve().parent.parent / "configs" / "corpora"
UNITS = ("document", "sentence")
SCRIPT = {"ko": "Hangul", "en": "Latin"}  # the letters --lang-share counts
# Decontamination unit and length per language. English: words, GPT-3's 13-gram rule (Brown
# et al. 2020, appendix C). Korean: characters of the normalized key, 20 in a row. Korean
# spacing is loose in user text ("재밌어요 정말" / "재밌어요정말"), so eojeol n-grams miss
# copies that differ only in spaces; and 13 eojeol are longer than most reviews (NSMC test:
# median 6 eojeol), so that rule would fall back to exact match for nearly every text.
# 20 characters is about 6 eojeol; BENCHMARKS.md ("Pretraining corpora") has the measurement.
DECONTAM = {"en": ("word", 13), "ko": ("char", 20)}
SHINGLES = {"en": ("word", 5), "ko": ("char", 5)}  # near-dedup shingles per language


@dataclass
class CorpusConfig:
    inputs: list = opt(None, "input files, each FILE or FILE:FIELD (column or jsonl key); txt/tsv/csv/jsonl, "
                       "plain or .gz/.bz2/.xz/.zst")
    output: str = opt(None, "output corpus folder (must not exist, or pass --force)", flag=["-o", "--output"])
    lang: str = opt(None, "language of the corpus: the language filter, sentence splitter and defaults", choices=["ko", "en"])
    clean: str | list = opt(None, "cleaning: a preset (ko, en, none), comma-separated steps, or a step list in a recipe "
                            "(default: the --lang preset)")
    column: str = opt(None, "text column or jsonl key of every input without its own :FIELD")
    exclude: list = opt(None, "evaluation files to keep out of the corpus, FILE or FILE:FIELD[,FIELD] (pairs: "
                        "sentence1,sentence2); repeat the flag for several")
    exclude_if_present: list = opt(None, "evaluation files excluded when they exist (a recipe's list of every "
                                   "evaluation set it knows); the manifest names the absent ones")
    data_dir: str = opt(None, "folder the relative paths of a recipe are read from (laid out as shared/data)")
    min_chars: int = opt(1, "drop texts shorter than this many characters after cleaning")
    max_chars: int = opt(0, "drop texts longer than this many characters (0: no limit)")
    min_words: int = opt(0, "drop texts with fewer whitespace-separated words (eojeol in Korean)")
    lang_share: float = opt(0.5, "drop texts whose letters are less than this share in the --lang script (Hangul, "
                            "Latin); 0 turns the filter off")
    unit: str = opt("document", "one row per document, or per sentence (NLTK punkt for en, Kiwi for ko)", choices=list(UNITS))
    dedup: str = opt("near", "exact: drop repeats of a normalized text; near: also MinHash-LSH near-duplicates; none",
                     choices=["none", "exact", "near"])
    near_threshold: float = opt(0.8, "near-dedup: Jaccard similarity of shingle sets above which texts are duplicates")
    num_perm: int = opt(128, "near-dedup: MinHash permutations")
    shingle: str = opt(None, "near-dedup shingles: char (n characters of the normalized text) or word n-grams "
                       "(default: char for ko, word for en)", choices=["char", "word"])
    shingle_size: int = opt(None, "near-dedup shingle length (default: 5)")
    decontam_unit: str = opt(None, "decontamination n-grams: word or char (default: word for en, char for ko)",
                             choices=["char", "word"])
    decontam_n: int = opt(None, "decontamination n-gram length (default: 13 words for en, 20 characters for ko); "
                          "evaluation texts shorter than this are matched exactly")
    valid_fraction: float = opt(0.01, "share of texts held out as the valid split, chosen by a hash of the text")
    shard_rows: int = opt(100_000, "rows per parquet shard")
    workers: int = opt(1, "processes for reading, cleaning and hashing; the output does not depend on it")
    examples: int = opt(5, "examples kept in the manifest per reason a row was dropped")
    seed: int = opt(1, "MinHash permutation seed (datasketch's default is 1)")
    chunk_bytes: int = opt(1 << 18, "input bytes per unit of work")
    force: bool = opt(False, "replace an existing corpus folder")

    def __post_init__(self):
        if isinstance(self.inputs, str):
            self.inputs = [self.inputs]
        if isinstance(self.exclude, str):
            self.exclude = [self.exclude]
        self.exclude = list(self.exclude or [])
        self.exclude_if_present = list(self.exclude_if_present or [])
        if not self.inputs or not self.output:
            raise NlplabError("give INPUT file(s) and -o OUTPUT folder (or a recipe with --config)")
        if self.lang not in ("ko", "en"):
            raise NlplabError("which language is the corpus? pass --lang ko or --lang en")
        if self.clean is None:
            self.clean = self.lang
        clean.pipeline(self.clean)  # an unknown step is an error now, not in a worker
        self.shingle = self.shingle or SHINGLES[self.lang][0]
        self.shingle_size = self.shingle_size or SHINGLES[self.lang][1]
        self.decontam_unit = self.decontam_unit or DECONTAM[self.lang][0]
        self.decontam_n = self.decontam_n or DECONTAM[self.lang][1]
        for name, low in (("min_chars", 0), ("max_chars", 0), ("min_words", 0), ("workers", 1), ("examples", 0),
                          ("shard_rows", 1), ("num_perm", 2), ("shingle_size", 1), ("decontam_n", 1), ("chunk_bytes", 1)):
            if getattr(self, name) < low:
                raise NlplabError(f"--{name.replace('_', '-')} must be at least {low}, got {getattr(self, name)}")
        if self.max_chars and self.max_chars < self.min_chars:
            raise NlplabError(f"--max-chars {self.max_chars} is below --min-chars {self.min_chars}; nothing could pass")
        for name in ("lang_share", "valid_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise NlplabError(f"--{name.replace('_', '-')} must be between 0 and 1, got {getattr(self, name)}")
        if self.valid_fraction == 1:
            raise NlplabError("--valid-fraction 1 leaves no train split; use a value below 1")
        if not 0 < self.near_threshold < 1:
            raise NlplabError(f"--near-threshold must be between 0 and 1 (exclusive), got {self.near_threshold}")


def recipe_path(name: str) -> Path:
    """A shipped recipe by name (ko-reviews) or any YAML file."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    shipped = RECIPES / f"{name}.yaml"
    if not shipped.exists():
        known = ", ".join(sorted(f.stem for f in RECIPES.glob("*.yaml")))
        raise NlplabError(f"no recipe {name!r}; shipped recipes: {known}, or give a YAML file")
    return shipped


def split_spec(spec: str) -> tuple[str, list[str], tuple | None]:
    """FILE[:FIELD[,FIELD]][?KEY=VALUE[,VALUE]] -> (path, fields, (key, values) or None).
    A path that exists is taken whole (it may hold ':'). `?split=train,unsup` keeps only
    the rows whose column or jsonl key `split` has one of the values (IMDB's one file
    holds train, test and unsup)."""
    where = None
    if "?" in spec and not Path(spec).exists():
        spec, cond = spec.rsplit("?", 1)
        k, eq, values = cond.partition("=")
        if not eq or not k or not values:
            raise NlplabError(f"{spec}?{cond}: a row selector is ?KEY=VALUE[,VALUE] (e.g. ?split=train,unsup)")
        where = (k, frozenset(values.split(",")))
    if Path(spec).exists() or ":" not in spec:
        return spec, [], where
    path, fields = spec.rsplit(":", 1)
    if not path or "/" in fields:
        return spec, [], where
    return path, [f for f in fields.split(",") if f], where


def resolve_paths(cfg: CorpusConfig, from_recipe: set[str]) -> None:
    """Recipe paths (inputs/exclude set by the recipe, not by flags) become --data-dir paths."""
    for name in ("inputs", "exclude", "exclude_if_present"):
        if name not in from_recipe:
            continue
        specs = getattr(cfg, name)
        if any(not Path(split_spec(s)[0]).is_absolute() for s in specs) and not cfg.data_dir:
            raise NlplabError("the recipe's paths are relative to the data folder; pass --data-dir "
                              "(a folder laid out as shared/data, e.g. ../shared/data)")
        setattr(cfg, name, [str(Path(cfg.data_dir) / s) if not Path(split_spec(s)[0]).is_absolute() else s
                            for s in specs])
