"""`nlplab serve`: a web page that shows what each stage does to one text, ending in the
fine-tuned model's prediction.

    nlplab serve runs/sst2 [--port 8000] [--host 127.0.0.1] [--max-chars 2000]

The page (serve.html, inline CSS/JS, nothing loaded from elsewhere) posts to one JSON API:

    POST /api/analyze {"text": "...", "text_pair": "...", "lang": "auto|en|ko"}
      -> {"lang", "hangul_ratio", "texts": [{"column", "steps", "cleaned", "tokens"}, ...],
          "model_text", "prepared", "pieces", "truncated", "coverage": {"uncovered", "warning"},
          "prediction": {"label", "name", "probs"} | {"score"}}
    GET /api/info -> the run: task, labels, whether it takes a pair, the limits

Cleaning (nlplab/clean.py, the preset of the language) and the word/morpheme tokenizers
(the backends `nlplab demo` shows) run on each text; the model gets the text as in its
training, as `nlplab finetune predict` gives it: raw, or with the cleaning and pre-split of
its vocabulary (inference.Run.prepare, recorded in the run's nlplab_subword.json).
Standard library only (http.server): a demo for one user, not a production server.
"""

from __future__ import annotations

import contextlib
import errno
import json
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

import regex

from nlplab import NlplabError, clean, config
from nlplab.config import opt
from nlplab.demo import BACKENDS


@dataclass
class ServeConfig:
    run: str = opt(None, "fine-tuning run folder (-o of `nlplab finetune`)")
    port: int = opt(8000, "port to listen on (0: any free port)")
    host: str = opt("127.0.0.1", "address to listen on; 127.0.0.1 keeps the page on this machine, 0.0.0.0 opens it to the network")
    max_chars: int = opt(2000, "longest text accepted per text box, in characters (longer: HTTP 413)")
    tokenizers: str = opt(",".join(BACKENDS["en"] + BACKENDS["ko"]),
                          "tokenizer backends to show, comma-separated; each runs on text of its own language. Each "
                          "one left out saves its memory: kiwi ~480 MB, okt ~360 MB, komoran ~200 MB, nltk ~200 MB "
                          "(its POS tagger), mecab ~10 MB; okt and komoran load on the first Korean request")


# A Korean review often carries Latin words (OST, CG, 4DX): 30% Hangul among the letters is
# still Korean text, while an English sentence with one Korean name in it stays below.
KO_RATIO = 0.3
_HANGUL = regex.compile(r"\p{Script=Hangul}")
_LETTER = regex.compile(r"\p{L}")
# One warm-up text per language: Okt loads its dictionaries on its first call, not when built.
WARM_UP = {"en": "Loading the tokenizers.", "ko": "토크나이저를 불러옵니다."}
DRAIN_LIMIT = 1 << 20  # an over-long body up to this size is read before the 413, so the client sees it
_SURROGATE = regex.compile(r"[\ud800-\udfff]")  # JSON may escape one alone (\ud800); it is no character
# A word the vocabulary cannot spell: split into more pieces than characters (NFD jamo, UTF-8
# bytes), or a word of 2+ letters spelled one piece a letter; a Hangul syllable is a unit a
# Korean vocabulary may well spell one by one. Most pieces so: the prediction means little.
UNCOVERED = 0.5
_SYLLABLE = regex.compile(r"[\uac00-\ud7a3]")
_LATIN = regex.compile(r"\p{Latin}")
LANGUAGES = {"en": "English", "ko": "Korean"}


class RequestError(Exception):
    """A bad request: answered with this status and {"error": message}."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def hangul_ratio(text: str) -> float:
    letters = len(_LETTER.findall(text))
    return len(_HANGUL.findall(text)) / letters if letters else 0.0


def uncovered(tokenizer, texts: list[str]) -> float:
    """The share of the pieces of `texts` (as the model gets them, specials left out) that
    spell a word this vocabulary does not cover: one holding the unknown piece, one split
    into more pieces than it has characters, or a non-Hangul word of 2+ characters split
    into one piece per character. A piece that is only a word-start mark (SentencePiece's
    lone U+2581) is not counted. An ELMo task model's LM run says it itself: its share of
    tokens outside the LM vocabulary (nlplab/finetune/elmo_data.py)."""
    if hasattr(tokenizer, "uncovered"):
        return tokenizer.uncovered(texts)
    bad = total = 0
    for text in texts:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        words: dict[int, list] = {}
        for w, (start, end), piece, i in zip(enc.word_ids(), enc["offset_mapping"], enc.tokens(), enc["input_ids"]):
            if piece.strip("\u2581"):
                words.setdefault(w, []).append((start, end, i))
        for pieces in words.values():
            start, end = min(p[0] for p in pieces), max(p[1] for p in pieces)
            chars, n = end - start, len(pieces)
            if tokenizer.unk_token_id in [p[2] for p in pieces] or n > chars or \
                    (n == chars >= 2 and not _SYLLABLE.search(text[start:end])):
                bad += n
            total += n
    return bad / total if total else 0.0


def vocab_language(tokenizer) -> str:
    """ko when the vocabulary holds more entries with a Hangul syllable than with a Latin letter, else en."""
    vocab = tokenizer.get_vocab()
    return "ko" if sum(bool(_SYLLABLE.search(w)) for w in vocab) > sum(bool(_LATIN.search(w)) for w in vocab) else "en"


def model_text(run) -> dict:
    """What the model gets, as in training: {"clean", "pretokenize", "note"}. Fine-tuning runs
    its tokenizer's preparation only, which an nlplab subword folder records in its
    nlplab_subword.json and the run folder keeps a copy of (any other tokenizer: raw text)."""
    from nlplab.subword.train import META_FILE

    meta = json.loads((run.folder / META_FILE).read_text(encoding="utf-8")) if run.prepare is not None else {}
    cleaned = meta.get("clean") not in (None, "none")
    split = meta.get("pretokenize") not in (None, "none")
    note = "the model sees the text as in training: this run's training data was "
    if cleaned:
        note += f"cleaned with --clean {meta['clean']}" + (f" and split by {meta['pretokenize']}" if split else "")
        note += ", and so is this text"
    else:
        note += "not cleaned" + (f", only split by {meta['pretokenize']}, as this text is" if split else "")
    if meta:
        note += " (the vocabulary's nlplab_subword.json)"
    return {"clean": meta.get("clean", "none"), "pretokenize": meta.get("pretokenize", "none"), "note": note}


def by_language(tokenizers: str) -> dict[str, list[str]]:
    """--tokenizers "nltk,mecab" -> {"en": ["nltk"], "ko": ["mecab"]}, checked."""
    from nlplab.tokenize import TOKENIZERS

    names = [n.strip() for n in tokenizers.split(",") if n.strip()]
    unknown = [n for n in names if n not in TOKENIZERS]
    if unknown:
        raise NlplabError(f"--tokenizers: unknown {', '.join(unknown)}; choose from {', '.join(TOKENIZERS)}")
    return {lang: [n for n in names if TOKENIZERS[n].lang == lang] for lang in ("en", "ko")}


def start_jvm(names: list[str]) -> None:
    """Start KoNLPy's JVM now when a KoNLPy backend is wanted, if this is the main thread.
    Started from a request thread, the JVM keeps the process from ever exiting (DestroyJavaVM
    waits for the thread that created it). KoNLPy also lets Java take SIGINT, and Java's
    handler ends the process on Ctrl-C without Python's cleanup: Python's handler is put back.
    Anything that fails here fails again, with its one-line message, when the backend loads."""
    from nlplab.tokenize import TOKENIZERS, korean

    if threading.current_thread() is not threading.main_thread() or \
            not any(issubclass(TOKENIZERS[n], korean.KoNLPy) for n in names):
        return
    handler = signal.getsignal(signal.SIGINT)
    try:
        korean.require_java()
        from konlpy import jvm

        jvm.init_jvm()
    except Exception:
        return
    finally:
        if handler is not None:  # None: a handler not set from Python, nothing to put back
            signal.signal(signal.SIGINT, handler)


class Analyzer:
    """Everything the page shows for one request, from a finished run and the tokenizers.

    Requests are analysed one at a time (one lock): Mecab's tagger and KoNLPy's JVM are not
    meant to be shared by threads, and two CPU-bound requests at once are no faster."""

    def __init__(self, run, max_chars: int = 2000, tokenizers: str = ServeConfig.tokenizers):
        from nlplab.finetune.inference import default_columns  # the columns `finetune predict` reads

        self.run, self.max_chars, self.backends = run, max_chars, by_language(tokenizers)
        start_jvm(self.backends["en"] + self.backends["ko"])  # the JVM alone (~40 MB); its taggers load on first use
        self.vocab_lang, self.model_text = vocab_language(run.tokenizer), model_text(run)
        from nlplab.tokenize import TOKENIZERS, korean

        # KoNLPy's taggers (Okt ~360 MB, Komoran ~200 MB of Java heap) load on the first Korean
        # request, not at warm-up: a page used in English never holds them
        self.lazy = [n for n in self.backends["ko"] if issubclass(TOKENIZERS[n], korean.KoNLPy)]
        a, b = default_columns(run)
        self.pair = b is not None
        self.columns = [a or "text"] + ([b] if self.pair else [])
        self._lock = threading.Lock()
        self._loaded: dict = {}  # name -> tokenizer, or the NlplabError that kept it from loading

    def info(self) -> dict:
        labels = self.run.labels
        return {"task": labels["task"], "run": str(self.run.folder), "model": self.run.cfg.model,
                "regression": labels["regression"], "labels": labels["labels"],
                "label_names": labels.get("label_names") or [], "pair": self.pair, "columns": self.columns,
                "max_chars": self.max_chars, "max_length": self.run.cfg.max_length, "backends": self.backends,
                "vocabulary": self.vocab_lang, "model_text": self.model_text}

    # ---- tokenizer backends: built once, on first use (KoNLPy starts a JVM: seconds)
    def _backend(self, name: str, lang: str):
        if name not in self._loaded:
            from nlplab.tokenize import load

            try:
                self._loaded[name] = load(name, lang=lang, pos=True)  # pos: English tags too
            except NlplabError as e:
                self._loaded[name] = e
        return self._loaded[name]

    def warm_up(self) -> dict[str, str]:
        """Build every backend but the lazy (KoNLPy) ones and run it once; {name: error} of
        those that cannot run."""
        failed = {}
        for lang, names in self.backends.items():
            for name in names:
                if name in self.lazy:
                    continue
                with self._lock:  # a request may slip in between two backends
                    got = self._tokens(name, lang, WARM_UP[lang])
                if "error" in got:
                    failed[name] = got["error"]
        return failed

    def _tokens(self, name: str, lang: str, text: str) -> dict:
        tok = self._backend(name, lang)
        if isinstance(tok, NlplabError):
            return {"error": str(tok)}
        try:
            return {"tokens": [[w, t] for w, t in tok.pairs(text)]}
        except Exception as e:  # a backend crashing on some input (a JVM exception) must not take the page down
            return {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}

    # ---- one request
    def check(self, payload) -> tuple[str, str | None, str]:
        """(text, text_pair, lang) of a request body, or a RequestError saying what to fix."""
        if not isinstance(payload, dict):
            raise RequestError(400, 'the body must be a JSON object: {"text": "...", "lang": "auto"}')
        for key, value in payload.items():  # before any message quotes one
            for where, s in ((f"field name {key[:20]!r}", key), (key, value)):
                m = _SURROGATE.search(s) if isinstance(s, str) else None
                if m:
                    raise RequestError(400, f"{where} has a lone surrogate \\u{ord(m.group()):04x} at character "
                                            f"{m.start()} (counting from 0): a \\ud800-\\udfff escape is one half "
                                            "of a pair, as in \\ud83d\\ude00; send the text itself as UTF-8")
        unknown = sorted(set(payload) - {"text", "text_pair", "lang"})
        if unknown:
            raise RequestError(400, f"unknown field(s) {', '.join(unknown)}; known fields: text, text_pair, lang")
        lang = payload.get("lang") or "auto"
        if lang not in ("auto", "en", "ko"):
            raise RequestError(400, f"lang must be auto, en or ko; got {lang!r}")
        texts = []
        for key, column in zip(("text", "text_pair"), self.columns + [None]):
            value = payload.get(key)
            if key == "text_pair" and not self.pair:
                if value:
                    raise RequestError(400, f"{self.run.labels['task']} takes one text; leave text_pair out")
                texts.append(None)
                continue
            if value is not None and not isinstance(value, str):
                raise RequestError(400, f"{key} must be a string")
            if not value or value.isspace():
                raise RequestError(400, f"{key} ({column}) is empty: type a sentence")
            if len(value) > self.max_chars:
                raise RequestError(413, f"{key} ({column}) has {len(value):,} characters; the limit is "
                                        f"{self.max_chars:,} (nlplab serve --max-chars)")
            texts.append(value)
        return texts[0], texts[1], lang

    def analyze(self, payload) -> dict:
        text, pair, lang = self.check(payload)
        given = [t for t in (text, pair) if t is not None]
        ratio = hangul_ratio(" ".join(given))
        if lang == "auto":
            lang = "ko" if ratio >= KO_RATIO else "en"
        cleaner = clean.pipeline(lang)
        out = {"lang": lang, "hangul_ratio": round(ratio, 4), "texts": []}
        with self._lock:
            for column, t in zip(self.columns, given):
                steps = [{"step": name, "options": spec[1] if isinstance(spec, list) else {}, "text": after,
                          "why": clean.why_again(cleaner, i)}
                         for i, ((name, after), spec) in enumerate(zip(cleaner.trace(t), cleaner.spec()))]
                cleaned = steps[-1]["text"] if steps else t
                tokens = {name: self._tokens(name, lang, cleaned) for name in self.backends[lang]}
                out["texts"].append({"column": column, "text": t, "steps": steps, "cleaned": cleaned, "tokens": tokens})
            out.update(self._model(text, pair))
        return out

    def _coverage(self, texts: list[str]) -> dict:
        """{"uncovered": share of pieces (see uncovered), "warning": a line, or None}."""
        share = uncovered(self.run.tokenizer, texts)
        warning = None
        if share > UNCOVERED:
            warning = "this run's vocabulary does not cover this text: "
            if ("ko" if hangul_ratio(" ".join(texts)) >= KO_RATIO else "en") != self.vocab_lang:
                warning += f"it was trained on {LANGUAGES[self.vocab_lang]}"
            else:
                warning += f"{100 * share:.0f}% of its pieces are [UNK] or single characters"
        return {"uncovered": round(share, 4), "warning": warning}

    def _model(self, text: str, pair: str | None) -> dict:
        """Subword pieces exactly as the model gets them, and its prediction (Run.scores)."""
        from nlplab.finetune.data import encode
        from nlplab.glue.data import Split

        run = self.run
        split = Split(run.labels["task"], "input", ["0"], [text], [pair] if pair is not None else None, None)
        ids = encode(split, None, run.tokenizer, run.cfg.max_length, prepare=run.prepare).input_ids[0]
        given = [t for t in (text, pair) if t is not None]
        prepared = [run.prepare(t) for t in given] if run.prepare else None
        got = {"model_text": self.model_text, "prepared": prepared,
               "pieces": run.tokenizer.convert_ids_to_tokens(ids), "truncated": len(ids) >= run.cfg.max_length,
               "coverage": self._coverage(prepared or given)}
        scores = run.scores([text], [pair] if pair is not None else None)[0]
        if run.labels["regression"]:
            got["prediction"] = {"score": float(scores)}
            return got
        names = run.labels.get("label_names") or []
        best = int(scores.argmax())
        got["prediction"] = {"label": run.classes[best], "name": names[best] if best < len(names) else None,
                             "probs": {c: float(p) for c, p in zip(run.classes, scores)}}
        return got


def page(analyzer: Analyzer) -> bytes:
    """serve.html with the run's info inlined, so the page is complete at load (no second request)."""
    info = json.dumps(analyzer.info(), ensure_ascii=False).replace("</", "<\\/")  # cannot close the <script>
    return resources.files("nlplab").joinpath("serve.html").read_text(encoding="utf-8").replace("__INFO__", info).encode()


# Belt and braces for "nothing loaded from the internet": the browser refuses it too.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; "
       "img-src data:; base-uri 'none'; form-action 'none'")


class Handler(BaseHTTPRequestHandler):
    server_version = "nlplab-serve"
    timeout = 30  # seconds a client may stall mid-request before its thread gives up

    def do_GET(self):
        self._t0 = time.perf_counter()
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send(200, self.server.page, "text/html; charset=utf-8")
        elif path == "/api/info":
            self._json(200, self.server.analyzer.info())
        elif path == "/api/analyze":
            self._json(405, {"error": "POST a JSON object to /api/analyze"})
        else:
            self._json(404, {"error": f"no page {path}; the page is /, the API /api/analyze"})

    def do_POST(self):
        self._t0 = time.perf_counter()
        if self.path.split("?", 1)[0] != "/api/analyze":
            return self._json(404, {"error": f"no API {self.path}; POST to /api/analyze"})
        try:
            self._json(200, self.server.analyzer.analyze(self._body()))
        except RequestError as e:
            self._json(e.status, {"error": str(e)})
        except Exception as e:  # a bug must not kill the server; the page shows it, the log has it
            self.log_error("analyze failed: %r", e)
            self._json(500, {"error": f"internal error: {type(e).__name__}: {e}"})

    def _body(self):
        limit = self.server.body_limit
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise RequestError(411, "send the JSON body with a Content-Length header") from None
        if length < 0:  # read(-1) would wait for the client to close
            self.close_connection = True
            raise RequestError(400, f"Content-Length {length}: give the body's size in bytes, 0 or more")
        if length > limit:
            if length <= DRAIN_LIMIT:
                with contextlib.suppress(TimeoutError):
                    self.rfile.read(length)
            self.close_connection = True
            raise RequestError(413, f"the request body has {length:,} bytes; the limit is {limit:,} "
                                    f"(texts up to --max-chars {self.server.analyzer.max_chars:,})")
        try:
            body = self.rfile.read(length)
        except TimeoutError:  # the client's stall, not a failed analysis: 408, as http.server gives for headers
            self.close_connection = True
            raise RequestError(408, f"the request body stopped: Content-Length says {length:,} bytes and none came "
                                    f"for {self.timeout} s; send the whole body") from None
        if len(body) < length:
            self.close_connection = True
            raise RequestError(400, f"the request body ended after {len(body):,} of the {length:,} bytes "
                                    "Content-Length says")
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RequestError(400, f"the request body is not JSON ({e})") from None

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False).encode(), "application/json; charset=utf-8")

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CSP)
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code="-", size="-"):
        took = f" {time.perf_counter() - self._t0:.2f}s" if hasattr(self, "_t0") else ""
        self.log_message("%s %s %s%s", self.command, self.path, int(code) if str(code).isdigit() else code, took)

    def log_message(self, format, *args):
        print(f"[{time.strftime('%H:%M:%S')}] {format % args}", file=sys.stderr)


class Server(ThreadingHTTPServer):
    daemon_threads = True  # Ctrl-C does not wait for open connections

    def __init__(self, host: str, port: int):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), Handler)

    def attach(self, analyzer: Analyzer) -> Server:
        self.analyzer, self.page = analyzer, page(analyzer)
        # JSON escapes a character in up to 12 bytes (a \ud83d\ude00 surrogate pair): two texts
        # of --max-chars always fit, and a body past this cannot hold a valid request.
        self.body_limit = 2 * 12 * analyzer.max_chars + 1024
        return self

    @property
    def url(self) -> str:
        host = self.server_address[0]
        return f"http://{f'[{host}]' if ':' in host else host}:{self.server_port}/"


def bind(cfg: ServeConfig) -> Server:
    """The server, bound, before the model loads: a taken port fails in a moment, not after it.
    `attach` an Analyzer, then `serve_forever`."""
    if not 0 <= cfg.port <= 65535:
        raise NlplabError(f"--port {cfg.port}: a port is 0..65535")
    if cfg.max_chars < 1:
        raise NlplabError(f"--max-chars {cfg.max_chars}: give at least 1")
    try:
        return Server(cfg.host, cfg.port)
    except OSError as e:
        raise _bind_error(cfg, e) from None


def _bind_error(cfg: ServeConfig, e: OSError) -> NlplabError:
    if e.errno == errno.EADDRINUSE:
        return NlplabError(f"port {cfg.port} on {cfg.host} is already in use; pick another with --port "
                           f"(e.g. --port {cfg.port + 1 if cfg.port < 65535 else 8000}, or --port 0 for any free port)")
    if e.errno == errno.EACCES:
        return NlplabError(f"port {cfg.port}: not allowed for this user (ports below 1024 need root); use --port 8000")
    return NlplabError(f"cannot listen on {cfg.host}:{cfg.port} ({e.strerror or e}); check --host")


def add_commands(sub):
    p = sub.add_parser("serve", help="a web page: type a text, see cleaning, tokens, subword pieces and the run's prediction",
                       description="Serve a page (and a JSON API, POST /api/analyze) for one fine-tuning run.")
    config.add_arguments(p, ServeConfig, positional=("run",))
    p.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    cfg = config.resolve(ServeConfig, args)
    if not cfg.run:
        raise NlplabError("give the run folder: nlplab serve RUN (the -o folder of `nlplab finetune`)")

    from nlplab.finetune.inference import Run

    by_language(cfg.tokenizers)  # a typo fails now, not after the model loaded
    server = bind(cfg)
    try:
        a = Analyzer(Run.load(cfg.run), cfg.max_chars, cfg.tokenizers)
    except BaseException:
        server.server_close()
        raise
    server.attach(a)
    if cfg.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"nlplab serve: listening on {cfg.host}: other machines can reach the page", file=sys.stderr)
    print(f"nlplab serve: {a.info()['task']} run {cfg.run} at {server.url} (Ctrl-C stops)", file=sys.stderr)

    stopped = threading.Event()

    def warm_up():  # in the background: the page is up at once, a first request waits for its backends
        t0 = time.perf_counter()
        failed = a.warm_up()
        shown = "; ".join(f"{k}: {v}" for k, v in failed.items())
        if not stopped.is_set():
            print(f"nlplab serve: tokenizers ready in {time.perf_counter() - t0:.1f}s"
                  + (f"; {', '.join(a.lazy)} load on the first Korean request" if a.lazy else "")
                  + (f"; unavailable: {shown}" if failed else ""), file=sys.stderr)

    threading.Thread(target=warm_up, daemon=True, name="nlplab-warm-up").start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        stopped.set()
        print("nlplab serve: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
