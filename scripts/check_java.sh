#!/usr/bin/env bash
# KoNLPy (Okt, Komoran, Kkma, Hannanum) needs a Java runtime. Mecab and Kiwi do not.
if java -version >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Java not found: installing default-jre-headless for KoNLPy" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null) \
    && java -version >/dev/null 2>&1 && exit 0
fi
echo "WARNING: Java not found; KoNLPy tokenizers (okt, komoran, kkma, hannanum) will not work." >&2
echo "         Install a JRE 8+ (Debian/Ubuntu: sudo apt-get install default-jre-headless; macOS: brew install openjdk)." >&2
echo "         mecab and kiwi need no Java." >&2
exit 0
