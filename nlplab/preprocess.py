"""clean -> tokenize -> stopwords over a file, streamed, in parallel, order kept.

    nlplab preprocess ../shared/data/nsmc/ratings_train.txt -o out/nsmc.tsv --lang ko \
        --column document --tokenizer mecab --stopwords --workers 2

One output row per input row, in order, other columns kept, in the format the output's
name gives (.jsonl, .tsv, .csv, .txt, maybe compressed; nlplab/formats.py) or else the
input's; a text that cleans to nothing gives an empty token list, never a dropped row. Rows are only skipped with
`--on-error skip`, and then counted and reported with their line numbers.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import os
import sys
from collections import deque
from dataclasses import asdict, dataclass, field

import yaml

from nlplab import NlplabError, clean, formats, io, parallel, tokenize
from nlplab.config import opt
from nlplab.progress import Progress, close_logger, file_logger
from nlplab.tokenize.base import COARSE_TAGS, CONTENT_TAGS
from nlplab.tokenize.stopwords import Filter


@dataclass
class PreprocessConfig:
    input: str = opt(None, "input file: txt (one text per line), tsv, csv or jsonl, also .gz/.bz2/.xz/.zst; - reads standard input")
    output: str = opt(None, "output file: .txt/.tsv/.csv/.jsonl (also .gz/.bz2/.xz/.zst) is written in that format, "
                      "any other name in the input's; - writes standard output", flag=["-o", "--output"])
    lang: str = opt(None, "language of the text", choices=["ko", "en"])
    tokenizer: str = opt(None, "tokenizer: " + ", ".join(tokenize.TOKENIZERS) + ", or none to only clean (default: mecab for ko, nltk for en)")
    clean: str | list = opt(None, "cleaning: a preset (ko, en, none), comma-separated steps (nfc,html,url,...), or a step list in --config (default: the --lang preset)")
    format: str = opt(None, "input format (default: from the file extension)", choices=list(io.ROW_FORMATS))
    column: str = opt(None, "tsv/csv column or jsonl key with the text (with --no-header: a 0-based index)")
    output_column: str = opt(None, "write results into this new column and keep the text column (default: replace the text)")
    no_header: bool = opt(False, "the tsv/csv file has no header row (GLUE CoLA train/dev)")
    stopwords: bool = opt(False, "remove stopwords and punctuation (ko: also particles and endings, by POS)")
    stopwords_file: str = opt(None, "extra stopwords, one per line, merged into the built-in list")
    pos: bool = opt(False, "write each token as token/TAG")
    tagset: str = opt("native", "tags written with --pos: the backend's own or nlplab's coarse set", choices=["native", "coarse"])
    keep_tags: str = opt(None, "keep only tokens with these coarse tags: 'content' or a list such as NOUN,VERB,ADJ")
    drop_tags: str = opt(None, "drop tokens with these coarse tags, e.g. PART,ENDING,PUNCT")
    stem: bool = opt(False, "stem: English Porter/Snowball; Korean dictionary form of verbs and adjectives")
    stemmer: str = opt("porter", "English stemmer for --stem", choices=["porter", "snowball"])
    norm: bool = opt(False, "okt only: normalize spelling before analysis")
    workers: int = opt(1, "processes; each loads its tokenizer once; order is kept")
    on_error: str = opt("fail", "bad rows (not UTF-8, wrong field count, analyzer crash): fail, or skip and report", choices=["fail", "skip"])
    chunk_bytes: int = opt(1 << 18, "input bytes per unit of work")

    def __post_init__(self):
        if self.lang is None:
            known = tokenize.TOKENIZERS.get(self.tokenizer)
            if known is None or self.tokenizer in tokenize.ANY_LANGUAGE:
                raise NlplabError("which language is the text? pass --lang ko or --lang en")
            self.lang = known.lang
        if self.lang not in ("ko", "en"):
            raise NlplabError(f"--lang must be ko or en, not {self.lang!r}")
        self.tokenizer = self.tokenizer or tokenize.DEFAULT[self.lang]
        if self.tokenizer != "none" and self.tokenizer not in tokenize.TOKENIZERS:
            raise NlplabError(f"unknown tokenizer {self.tokenizer!r}; choose one of: {', '.join(tokenize.TOKENIZERS)}, none")
        if self.clean is None:
            self.clean = self.lang
        if self.workers < 1:
            raise NlplabError(f"--workers must be at least 1, got {self.workers}")
        if self.tokenizer == "none" and (self.stopwords or self.pos or self.keep_tags or self.drop_tags or self.stem):
            raise NlplabError("--stopwords/--pos/--keep-tags/--drop-tags/--stem need a tokenizer; drop --tokenizer none")
        if self.chunk_bytes < 1:
            raise NlplabError(f"--chunk-bytes must be at least 1, got {self.chunk_bytes}")
        both = sorted((_tag_set(self.keep_tags) or set()) & (_tag_set(self.drop_tags) or set()))
        if both:
            raise NlplabError(f"--keep-tags and --drop-tags both name {', '.join(both)}; give each tag to one of them")
        for name in ("keep_tags", "drop_tags"):
            tags = _tag_set(getattr(self, name))
            bad = sorted(tags - set(COARSE_TAGS)) if tags else []
            if bad:
                raise NlplabError(f"--{name.replace('_', '-')}: unknown tag(s) {', '.join(bad)}; coarse tags: content, {', '.join(COARSE_TAGS)}")


def _tag_set(spec) -> frozenset | None:
    if not spec:
        return None
    items = spec if isinstance(spec, list) else str(spec).split(",")
    tags = set()
    for t in (s.strip().upper() for s in items if s.strip()):
        tags |= CONTENT_TAGS if t == "CONTENT" else {t}
    return frozenset(tags)


@dataclass
class Summary:
    rows_in: int = 0
    rows_out: int = 0
    tokens: int = 0
    skipped: list = field(default_factory=list)  # [(line, reason)]
    seconds: float = 0.0


class Preprocessor:
    """The per-text work: clean, tokenize, filter, format. Picklable: built in the main
    process, its backends are loaded lazily in whichever process uses it.

        >>> Preprocessor(PreprocessConfig(lang="ko", tokenizer="mecab")).process("재밌어요ㅋㅋㅋ")
        ['재밌', '어요', 'ㅋㅋ']
    """

    def __init__(self, cfg: PreprocessConfig, layout: io.Layout | None = None, encoder=None,
                 rows: formats.Rows | None = None):
        self.cfg, self.layout, self.encoder = cfg, layout, encoder  # encoder: text -> tokens (subword stage)
        if rows is None and layout is not None:  # no output named: the input's format
            rows = formats.Rows(layout, layout.format, "-", cfg.output_column)
        self.rows = rows  # input row + result -> output row, in the output's format
        self._ready = False

    def __getstate__(self):
        return {"cfg": self.cfg, "layout": self.layout, "encoder": self.encoder, "rows": self.rows, "_ready": False}

    def setup(self):
        if self._ready:
            return self
        cfg = self.cfg
        self.cleaner = clean.pipeline(cfg.clean)
        self.tok = None
        if cfg.tokenizer != "none":
            self.keep, self.drop = _tag_set(cfg.keep_tags), _tag_set(cfg.drop_tags)
            options = {}
            if cfg.stem:
                options["stem"] = cfg.stemmer if cfg.lang == "en" else True
            if cfg.lang == "en" and (cfg.pos or self.keep or self.drop):
                options["pos"] = True
            if cfg.norm:
                if cfg.tokenizer != "okt":
                    raise NlplabError("--norm is an Okt option; use it with --tokenizer okt")
                options["norm"] = True
            self.tok = tokenize.load(cfg.tokenizer, lang=cfg.lang, **options)
            self.stop = Filter(cfg.lang, cfg.stopwords_file) if cfg.stopwords else None
            self.filtering = bool(self.stop or self.keep or self.drop)
            self.coarse_cache = {}
        self._ready = True
        return self

    def _coarse(self, tag):
        c = self.coarse_cache.get(tag)
        if c is None:
            c = self.coarse_cache[tag] = self.tok.coarse(tag) or "X"
        return c

    def process(self, text: str) -> list[str] | str:
        """Tokens of one text (strings, `tok/TAG` with --pos), or the cleaned text when
        the tokenizer is none."""
        if not self._ready:
            self.setup()
        text = self.cleaner(text)
        if self.encoder is not None:
            return self.encoder(text)
        if self.tok is None:
            return text
        if not self.filtering and not self.cfg.pos:
            return self.tok.words(text)
        pairs = self.tok.pairs(text)
        if self.filtering:
            coarse = self._coarse
            pairs = [(w, t) for w, t in pairs
                     if (self.keep is None or coarse(t) in self.keep)
                     and (self.drop is None or coarse(t) not in self.drop)
                     and (self.stop is None or self.stop.keep(w, coarse(t)))]
        if self.cfg.pos:
            native = self.cfg.tagset == "native"
            return [f"{w}/{t if native else self._coarse(t)}" if t is not None else w for w, t in pairs]
        return [w for w, _ in pairs]

    # --- a chunk of file rows -> output bytes ---------------------------------------

    def chunk(self, start, payload):
        """Process one chunk read by `io.read_chunks`: returns (output bytes, rows in,
        rows out, tokens, skipped [(line, reason)])."""
        self.setup()
        try:
            records, skipped, n_in = io.parse_chunk(self.layout, start, payload, self.cfg.on_error)
        except NlplabError as e:  # a bad row with --on-error fail
            raise NlplabError(f"{e}; or {io.SKIP_HINT}") from None
        out, tokens = [], 0
        for lineno, record, text in records:
            try:
                value = self._value(lineno, text)
                out.append(self.rows.row(lineno, record, text, value))  # a row the output cannot hold: an error
            except NlplabError as e:
                if self.cfg.on_error == "fail":
                    raise
                skipped.append((lineno, str(e).split(": ", 1)[-1]))
                continue
            tokens += len(value) if isinstance(value, list) else 0
        return formats.dump(self.rows.fmt, out).encode("utf-8"), n_in, len(out), tokens, sorted(skipped)

    def _value(self, lineno: int, text: str):
        try:
            return self.process(text)
        except NlplabError:
            raise
        except Exception as e:  # an analyzer crashing on this row (KoNLPy throws Java errors)
            msg = " ".join(f"{type(e).__name__}: {e}".split())[:200]
            raise NlplabError(f"{self.layout.path}:{lineno}: {self.cfg.tokenizer} failed on this row ({msg}); "
                              f"{io.SKIP_HINT}") from None


# --- running over a file ------------------------------------------------------------

_WORKER: Preprocessor | None = None
# KoNLPy analyzers whose Java side gives the same results from several threads at once
# (checked on NSMC in tests/test_preprocess.py); the others run one JVM per process.
JVM_THREADSAFE = {"okt", "komoran"}


def _fresh_worker():
    """Pool initializer: analyzers anew in each worker (parallel.fresh_backends)."""
    global _WORKER
    parallel.fresh_backends()
    _INHERITED.append(_WORKER)  # the parent's copy is never freed (see fresh_backends)
    _WORKER = None


_INHERITED: list = []


def _work(proc, start, payload):
    global _WORKER
    if _WORKER is None:  # first task in this worker process: load the tokenizer once
        _WORKER = proc.setup()
    return _WORKER.chunk(start, payload)


def run(cfg: PreprocessConfig, progress: bool | None = None, encoder=None) -> Summary:
    """Preprocess cfg.input into cfg.output; returns the counts. Raises NlplabError for bad
    input, leaving no output file behind. `encoder` (a picklable text -> tokens callable)
    replaces the tokenizer: `nlplab subword encode` runs through here."""
    if not cfg.input or not cfg.output:
        raise NlplabError("give an INPUT file and -o OUTPUT")
    if cfg.output != "-":
        io.check_writable(cfg.output, [cfg.input])
    column = cfg.column
    layout = io.inspect(cfg.input, cfg.format, column, cfg.no_header)
    if layout.format == "parquet":  # refused, not read: its rows come as texts only, the other columns would be lost
        raise NlplabError(f"{cfg.input}: parquet input is not read by preprocess; give a txt, tsv, csv or jsonl file "
                          "(subword train and lm train read corpus folders)")
    fmt = formats.output_format(cfg.output, layout.format)  # the output's extension, else the input's format
    # jsonl to jsonl may overwrite a key; a tsv/csv column of that name would be there twice
    if cfg.output_column and (layout.format, fmt) != ("jsonl", "jsonl") and cfg.output_column in (layout.columns or []):
        raise NlplabError(f"--output-column {cfg.output_column}: {cfg.input} already has that column; name a new one "
                          "(or drop --output-column to replace the text)")
    proc = Preprocessor(cfg, layout, encoder, formats.Rows(layout, fmt, cfg.output, cfg.output_column))
    if cfg.workers == 1:
        proc.setup()  # fail fast on a missing backend or data before any output exists
    if cfg.output != "-":
        os.makedirs(os.path.dirname(os.path.abspath(cfg.output)), exist_ok=True)
    log = file_logger(cfg.output + ".log") if cfg.output != "-" else None
    if log:
        log.info("nlplab preprocess\n%s", yaml.safe_dump(asdict(cfg), sort_keys=False, allow_unicode=True))
    summary = Summary()
    total = os.path.getsize(layout.path) if layout.path != "-" else None  # a pipe's copy has a size
    try:
        with formats.open_output(cfg.output) as out, \
                Progress(total, ("rows", "tokens"), log=log, desc="preprocess", enabled=progress) as bar:
            out.write(proc.rows.header().encode("utf-8"))
            for data, n_in, n_out, n_tok, skipped, nbytes in _results(proc, layout, cfg):
                out.write(data)
                summary.rows_in += n_in
                summary.rows_out += n_out
                summary.tokens += n_tok
                summary.skipped += skipped
                bar.update(nbytes, rows=n_in, tokens=n_tok)
            summary.seconds = bar.elapsed()
    except NlplabError as e:
        if log:
            log.info("failed: %s", e)
        raise
    finally:
        if log:
            if summary.seconds:
                log.info("done: %s", report(cfg, summary))
            close_logger(log)
    return summary


def _results(proc: Preprocessor, layout: io.Layout, cfg: PreprocessConfig):
    """(output bytes, rows in, rows out, tokens, skipped, input bytes) per chunk, in order.

    With N workers at most 2N+2 chunks are in flight: the reader never runs ahead of the
    writer by more than that, so memory stays constant on files of any size.
    """
    chunk_bytes = cfg.chunk_bytes
    if cfg.workers > 1 and layout.path != "-":
        # Enough chunks to keep every worker busy on small files too (Kkma does ~30 rows/s).
        chunk_bytes = min(chunk_bytes, max(4096, os.path.getsize(layout.path) // (16 * cfg.workers)))
    chunks = io.read_chunks(layout, chunk_bytes)
    if cfg.workers == 1:
        for start, payload, nbytes in chunks:
            yield (*proc.chunk(start, payload), nbytes)
        return
    if cfg.tokenizer in JVM_THREADSAFE:
        # One JVM, several threads: JPype releases the GIL inside Java calls, and a second
        # JVM would repeat the JIT warm-up and compete with the first one's JIT/GC threads.
        workers, work, lead = multiprocessing.pool.ThreadPool(cfg.workers), proc.chunk, ()
        proc.setup()
    else:
        workers, work, lead = parallel.pool(cfg.workers, _fresh_worker), _work, (proc,)
    sizes = deque()  # each chunk's input bytes, in order, for the progress bar

    def items():
        for start, payload, nbytes in chunks:
            sizes.append(nbytes)
            yield (*lead, start, payload)

    with workers:
        for res in parallel.ordered(workers, work, items(), cfg.workers):
            yield (*res, sizes.popleft())


def report(cfg: PreprocessConfig, s: Summary) -> str:
    rate = s.rows_in / s.seconds if s.seconds else 0.0
    trate = s.tokens / s.seconds if s.seconds else 0.0
    msg = (f"{cfg.output}: {s.rows_out:,} of {s.rows_in:,} rows, {s.tokens:,} tokens in {s.seconds:.1f}s "
           f"({rate:,.0f} rows/s, {trate:,.0f} tokens/s)")
    if s.skipped:
        lines = ", ".join(str(n) for n, _ in s.skipped[:10]) + (" ..." if len(s.skipped) > 10 else "")
        reasons = sorted({r for _, r in s.skipped})[:3]
        msg += f"; skipped {len(s.skipped):,} rows (--on-error skip) at lines {lines}: {'; '.join(reasons)}"
    return msg


def main_summary(cfg, summary) -> None:
    print(report(cfg, summary), file=sys.stderr)
