"""Text normalizers: small named str -> str steps composed in a Sequence.

    nlplab clean corpora/ko_sample.txt -o out/ko.clean.txt --clean ko
    nlplab clean corpora/en_sample.txt -o out/en.clean.txt --clean nfkc,html,url,whitespace

Every step runs alone on one string, never raises on arbitrary Unicode and is
idempotent (step(step(x)) == step(x)); tests/test_clean.py checks both with hypothesis.
Removal steps replace what they remove with a space (collapsed later by `whitespace`)
so that removing a piece never glues its neighbours into a new match.
"""

from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass, field, fields

import regex

from nlplab import NlplabError

# --- patterns -------------------------------------------------------------------------

_TAG = regex.compile(r"<!--.*?-->|<(script|style)\b[^>]*>.*?</\1\s*>|</?[A-Za-z][^<>]*>", regex.S | regex.I)
# Tags that only change formatting inside a word; every other tag separates words.
_INLINE_TAG = regex.compile(r"</?(?:b|i|u|em|strong|span|font|small|big|sub|sup|a|mark|s)\b[^<>]*>", regex.I)
# URLs, @mentions and #hashtags may follow Korean (or any non-ASCII) text directly
# (자세한건https://x.com, 감사합니다@kim, 오늘#맛집): only an ASCII letter, digit or '_' in
# front means they are part of a word, an e-mail address or an entity (&#39;). With \w
# there instead, a later step that turns the letter in front into a space (jamo split:
# ㅋㅋ@bob, keep_scripts: 漢@bob) exposed a new match and the presets were not idempotent.
_URL = regex.compile(r"(?<![0-9A-Za-z_])(?:(?:https?|ftp)://|www\.)[^\s<>\"]*[^\s<>\".,!?;:)\]}'’”]", regex.I)
_EMAIL = regex.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A chain (@a@b, #맛집#서울) is one match: matching only its first piece left the next one
# with a space in front after removal, so a second run removed it too (not idempotent).
_MENTION = regex.compile(r"(?<![0-9A-Za-z_@])@\w+(?:@\w+)*")
_HASHTAG = regex.compile(r"(?<![0-9A-Za-z_&#])#\w+(?:#\w+)*")
_EMOJI = regex.compile(
    r"(?:\p{Extended_Pictographic}|\p{Regional_Indicator})"
    r"(?:[\uFE0F\u200D\u20E3\p{Emoji_Modifier}]|\p{Extended_Pictographic})*"
    r"|\p{Emoji_Modifier}"
)
_COMPAT_JAMO = regex.compile(r"[\u3131-\u318E]+")
_WS = regex.compile(r"\s+")
_CONTROL = regex.compile(r"[\p{Cc}\p{Cf}--[\t\n\r]]", regex.V1)
_NUMBER = regex.compile(r"\p{Nd}+(?:[.,]\p{Nd}+)*")
_DIGIT = regex.compile(r"\p{Nd}")


# --- steps ----------------------------------------------------------------------------
# Each step is a dataclass: its fields are the step's options (settable from YAML), and
# calling it cleans one string.


@dataclass(frozen=True)
class NFC:
    """Unicode NFC: composes Hangul jamo into syllables; safe for Korean."""

    def __call__(self, text: str) -> str:
        return unicodedata.normalize("NFC", text)


@dataclass(frozen=True)
class NFKC:
    """Unicode NFKC: also folds full-width/compatibility forms (ＡＢＣ -> ABC).

    Not in the Korean preset: NFKC turns compatibility jamo (ㅋ U+314B) into conjoining
    jamo (U+110F), which breaks ㅋㅋ/ㅠㅠ handling.
    """

    def __call__(self, text: str) -> str:
        return unicodedata.normalize("NFKC", text)


@dataclass(frozen=True)
class Html:
    """Remove tags, comments and script/style blocks, and unescape entities.

    Repeats until nothing changes, so doubly escaped text (&amp;lt;b&amp;gt;) is fully
    cleaned and the step is idempotent. Each change shortens the text, so it ends.
    """

    def __call__(self, text: str) -> str:
        if "<" not in text and "&" not in text:
            return text
        while True:
            new = _INLINE_TAG.sub("", text)
            new = _TAG.sub(" ", new)
            new = html.unescape(new)
            if new == text:
                return text
            text = new


@dataclass(frozen=True)
class Url:
    """Remove URLs (http, https, ftp, www.), or replace them with `replace`."""

    replace: str = ""

    def __call__(self, text: str) -> str:
        return _URL.sub(_padded(self.replace), text)


@dataclass(frozen=True)
class Email:
    """Remove e-mail addresses, or replace them with `replace`."""

    replace: str = ""

    def __call__(self, text: str) -> str:
        return _EMAIL.sub(_padded(self.replace), text)


@dataclass(frozen=True)
class Mention:
    """Remove @mentions, or replace them with `replace`."""

    replace: str = ""

    def __call__(self, text: str) -> str:
        return _MENTION.sub(_padded(self.replace), text)


@dataclass(frozen=True)
class Hashtag:
    """#hashtags: mode `keep-text` drops the '#' and keeps the word; `remove` drops both;
    `replace` puts the `replace` string instead."""

    mode: str = "keep-text"
    replace: str = "[HASHTAG]"

    def __post_init__(self):
        _check_choice("hashtag.mode", self.mode, ("keep-text", "remove", "replace"))

    def __call__(self, text: str) -> str:
        if self.mode == "keep-text":  # #맛집#서울 -> " 맛집 서울"
            return _HASHTAG.sub(lambda m: m.group(0).replace("#", " "), text)
        if self.mode == "remove":
            return _HASHTAG.sub(" ", text)
        # one `replace` per tag of a chain: #a#b -> " [HASHTAG] [HASHTAG] "
        return _HASHTAG.sub(lambda m: _padded(" ".join([self.replace] * m.group(0).count("#"))), text)


@dataclass(frozen=True)
class Emoji:
    """Remove emoji: pictographs with their modifiers, ZWJ sequences and flags."""

    def __call__(self, text: str) -> str:
        return _EMOJI.sub(" ", text)


@dataclass(frozen=True)
class Squeeze:
    """Squeeze runs of one repeated character to at most `max_repeat` (ㅋㅋㅋㅋ -> ㅋㅋ, !!!! -> !!)."""

    max_repeat: int = 2

    def __post_init__(self):
        if not isinstance(self.max_repeat, int) or self.max_repeat < 1:
            raise NlplabError(f"squeeze.max_repeat must be an integer >= 1, got {self.max_repeat!r}")
        object.__setattr__(self, "_pattern", regex.compile(r"(.)\1{%d,}" % self.max_repeat, regex.S))

    def __call__(self, text: str) -> str:
        return self._pattern.sub(lambda m: m.group(1) * self.max_repeat, text)


@dataclass(frozen=True)
class Jamo:
    """Jamo-only pieces (ㅋㅋ, ㅠㅠ, ㅇㅇ): `split` sets them apart from the syllables they
    are glued to (재밌어요ㅋㅋ -> 재밌어요 ㅋㅋ), `remove` deletes them, `keep` does nothing.

    Only compatibility jamo (U+3131-U+318E) count: conjoining jamo are parts of syllables.
    """

    mode: str = "split"

    def __post_init__(self):
        _check_choice("jamo.mode", self.mode, ("split", "remove", "keep"))

    def __call__(self, text: str) -> str:
        if self.mode == "keep":
            return text
        if self.mode == "remove":
            return _COMPAT_JAMO.sub(" ", text)
        return _COMPAT_JAMO.sub(lambda m: _split_run(text, m), text)


def _split_run(text: str, m) -> str:
    left = " " if m.start() > 0 and not text[m.start() - 1].isspace() else ""
    right = " " if m.end() < len(text) and not text[m.end()].isspace() else ""
    return left + m.group(0) + right


@dataclass(frozen=True)
class KeepScripts:
    """Keep only characters of the listed scripts, digits and white space (plus
    punctuation when `punct`); everything else becomes a space."""

    scripts: tuple[str, ...] = ("Hangul", "Latin")
    punct: bool = True

    def __post_init__(self):
        scripts = (self.scripts,) if isinstance(self.scripts, str) else tuple(self.scripts)
        object.__setattr__(self, "scripts", scripts)
        try:
            props = "".join(r"\p{%s}" % s for s in scripts)
            punct = r"\p{P}" if self.punct else ""
            pattern = regex.compile(r"[^%s\p{Nd}\s%s]+" % (props, punct))
        except regex.error as e:
            raise NlplabError(f"keep_scripts: unknown script in {list(scripts)} ({e}); use Unicode script names such as Hangul, Latin, Han, Hiragana") from None
        object.__setattr__(self, "_pattern", pattern)

    def __call__(self, text: str) -> str:
        return self._pattern.sub(" ", text)


@dataclass(frozen=True)
class Numbers:
    """Normalize numbers: mode `zero` maps every digit to 0 (2024.05.01 -> 0000.00.00),
    mode `replace` puts `replace` for each number (12,000 -> [NUM])."""

    mode: str = "zero"
    replace: str = "[NUM]"

    def __post_init__(self):
        _check_choice("numbers.mode", self.mode, ("zero", "replace"))

    def __call__(self, text: str) -> str:
        if self.mode == "zero":
            return _DIGIT.sub("0", text)
        return _NUMBER.sub(_padded(self.replace), text)


@dataclass(frozen=True)
class Control:
    """Remove control and format characters (zero-width spaces, BOMs, bidi marks);
    tabs and newlines stay for `whitespace` to handle."""

    def __call__(self, text: str) -> str:
        return _CONTROL.sub("", text)


@dataclass(frozen=True)
class Whitespace:
    """Collapse every run of white space (tabs and newlines too) into one space and strip."""

    def __call__(self, text: str) -> str:
        return _WS.sub(" ", text).strip()


@dataclass(frozen=True)
class Lowercase:
    """Lower-case (for English; Hangul has no case)."""

    def __call__(self, text: str) -> str:
        return text.lower()


def _padded(replacement: str) -> str:
    return f" {replacement} " if replacement else " "


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise NlplabError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


# --- the pipeline ---------------------------------------------------------------------

STEPS = {
    "nfc": NFC,
    "nfkc": NFKC,
    "html": Html,
    "url": Url,
    "email": Email,
    "mention": Mention,
    "hashtag": Hashtag,
    "emoji": Emoji,
    "squeeze": Squeeze,
    "jamo": Jamo,
    "keep_scripts": KeepScripts,
    "numbers": Numbers,
    "control": Control,
    "whitespace": Whitespace,
    "lowercase": Lowercase,
}

# The order makes each preset idempotent (preset(preset(x)) == preset(x)):
# - nfc/nfkc and control run again after html (AGAIN says why; tests/test_clean.py shows a
#   text that each second run is needed for). They also run before it: NFKC can make an
#   entity (&#０ -> &#0) and a ZWSP can hide one (&\u200bamp;).
# - en: lowercase before squeeze (AAAa -> aaaa) and squeeze before url (wwww.x -> www.x).
#   ko keeps squeeze after url: max_repeat 2 would turn www.x into ww.x.
PRESETS = {
    # Korean web text: NFC (not NFKC, see NFKC), keep Hangul/Latin/digits/punctuation.
    "ko": [
        "nfc", "control", "html", "nfc", "url", "email", "mention", "hashtag", "emoji",
        ("squeeze", {"max_repeat": 2}), ("jamo", {"mode": "split"}),
        ("keep_scripts", {"scripts": ["Hangul", "Latin"], "punct": True}), "whitespace",
    ],
    "en": [
        "nfkc", "control", "html", "control", "nfkc", "lowercase", ("squeeze", {"max_repeat": 3}),
        "url", "email", "mention", "hashtag", "emoji", "whitespace",
    ],
    "none": [],
}


# Why a preset runs a step a second time, after html; `nlplab serve` shows it on that row.
_NORMALIZE_AGAIN = "again after html: an unescaped entity (&#xFF21; -> Ａ) or a removed tag (ᄀ<b>ᅡ) leaves text to normalize"
AGAIN = {
    "nfc": _NORMALIZE_AGAIN,
    "nfkc": _NORMALIZE_AGAIN,
    "control": "again after html: an entity can unescape to a format character (&shy; -> U+00AD)",
}


@dataclass
class Sequence:
    """Apply steps in order, like `tokenizers.normalizers.Sequence`."""

    steps: list = field(default_factory=list)

    def __call__(self, text: str) -> str:
        for step in self.steps:
            text = step(text)
        return text

    def trace(self, text: str) -> list[tuple[str, str]]:
        """The text after each step: [(step name, text), ...], to see what a pipeline does."""
        out = []
        for step in self.steps:
            text = step(text)
            out.append((step_name(step), text))
        return out

    def spec(self) -> list:
        """The steps as plain data (names and non-default options), for config files."""
        return [step_spec(s) for s in self.steps]


def why_again(seq: Sequence, i: int) -> str | None:
    """AGAIN's reason when step i of `seq` ran before in it (a preset's second nfc), else None."""
    names = [step_name(s) for s in seq.steps]
    return AGAIN.get(names[i]) if names[i] in names[:i] else None


def step_name(step) -> str:
    return next(name for name, cls in STEPS.items() if isinstance(step, cls))


def step_spec(step):
    # non-default options only, as spec() promises (["squeeze", {"max_repeat": 3}], "url")
    options = {f.name: getattr(step, f.name) for f in fields(step) if getattr(step, f.name) != f.default}
    options = {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}
    return [step_name(step), options] if options else step_name(step)


def make_step(spec):
    """A step from `"name"`, `("name", {options})`, `["name", {...}]` or `{"name": {options}}`."""
    if isinstance(spec, dict):
        if len(spec) != 1:
            raise NlplabError(f"a cleaning step is written as {{name: {{options}}}}; got {spec!r}")
        spec = next(iter(spec.items()))
    name, options = (spec, {}) if isinstance(spec, str) else (spec[0], spec[1] or {})
    if name not in STEPS:
        raise NlplabError(f"unknown cleaning step {name!r}; known steps: {', '.join(STEPS)}")
    cls = STEPS[name]
    known = {f.name for f in fields(cls)}
    unknown = set(options) - known
    if unknown:
        raise NlplabError(f"cleaning step {name!r} has no option {', '.join(sorted(unknown))}; its options: {', '.join(sorted(known)) or 'none'}")
    return cls(**options)


def pipeline(spec) -> Sequence:
    """Build a pipeline from a preset name ("ko"), a comma list ("nfc,html,whitespace"),
    or a list of step specs (from YAML)."""
    if spec is None:
        return Sequence([])
    if isinstance(spec, Sequence):
        return spec
    if isinstance(spec, str):
        if spec in PRESETS:
            spec = PRESETS[spec]
        else:
            spec = [s.strip() for s in spec.split(",") if s.strip()]
            if not all(s in STEPS for s in spec):
                bad = next(s for s in spec if s not in STEPS)
                raise NlplabError(
                    f"unknown cleaning step or preset {bad!r}; presets: {', '.join(PRESETS)}; steps: {', '.join(STEPS)}"
                )
    return Sequence([make_step(s) for s in spec])
