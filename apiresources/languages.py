"""The languages the keywords tool knows: how it tells which one a text is in, its stop words, and its words.

The libraries, chosen for shipping their data inside the package (nothing is downloaded at run time), their
licences and their weight, measured on this machine:

* Detection: langdetect (Apache 2.0, pure Python, 55 languages, about 1 MB of profiles). Its answer is random
  unless seeded, so it runs on its own factory with seed 0 (the library's global one is left alone), and the same
  text always gets the same language, in every process. Loading the profiles takes 0.3 s and 66 MB once per process;
  a 2,000-character text takes 4 ms. py3langid (faster, 0.3 ms) needs numpy and 106 MB; lingua is heavier still.
  langdetect reads the first 10,000 characters of a text, which keeps long texts cheap.
* Stop words: stop-words (BSD, 60 kB), whose lists keep the words a marketer searches for (German "besten", Russian
  "белый", which stopwords-iso drops). English keeps Charp's own list, the tool's from before: the libraries' English
  lists drop "best", "free", "new" and "home".
* Chinese words: rjieba (MIT), jieba's dictionary and algorithm compiled in Rust: 0.1 s and 33 MB at import, and
  microseconds per sentence, where jieba itself is a 19 MB download that spends a second building its dictionary.
* Japanese words: tinysegmenter (BSD, 17 kB of pure Python, no dictionary to load).
* langdetect and tinysegmenter are published as source only; pip builds them at install (pure Python, no compiler).

`POST /tools/keywords` with a 2,000-character German text, through Django's test client, median of 50 requests:
1.9 ms before the tool knew languages, 6.5-8 ms after. Detection is most of it: the tool's own work takes 4.5 ms
with the language detected and 0.8 ms with it given. gunicorn.conf.py calls warm_up() in the master, so workers are
forked with the data loaded and share it: measured with two workers, a worker's private memory after a keywords
request is 67 MB instead of 134 MB, and its first keywords request takes 16 ms instead of 0.76 s.

Japanese is the slow language: tinysegmenter is pure Python at about 35 µs a character, so 70 ms for 2,000
characters and 3.5 s for the longest text the tool takes (100,000); Chinese takes 0.27 s and German 0.14 s for that.
The compiled Japanese analysers (fugashi, sudachipy) need 50-70 MB dictionary packages.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

import stop_words
import tinysegmenter
from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import LangDetectException

# The languages whose stop words and words the tool knows (charp/api_description.md has a table of them), by ISO
# 639-1 code: the ten most used on the web, then Dutch, Polish and Turkish, whose words are also between spaces.
# Korean is not among them: its particles are written onto the words, which needs a morphological analyser.
LANGUAGES = {
    "en": "English",
    "es": "Spanish",
    "de": "German",
    "ja": "Japanese",
    "fr": "French",
    "pt": "Portuguese",
    "ru": "Russian",
    "it": "Italian",
    "zh": "Chinese",
    "nl": "Dutch",
    "pl": "Polish",
    "tr": "Turkish",
}

# The language used when none is given and none can be told: the tool's behaviour before it knew languages.
DEFAULT_LANGUAGE = "en"

# Below this many words a text is too short to tell its language from (langdetect calls "running shoes" Norwegian),
# and there are hardly any stop words to remove anyway. Chinese and Japanese are told by their scripts, however short.
MIN_WORDS_TO_DETECT = 3
# How much of a text detection reads, as langdetect does: enough to tell, and cheap for a 100,000-character text.
DETECTION_SAMPLE = 10_000

# Contraction fragments ("don", "ll", "ve") are listed because apostrophes split words.
ENGLISH_STOP_WORDS = frozenset(
    """
    a about above after again against all almost also although am among an and another any anyone anything are
    aren around as at be because been before being below between both but by can cannot could couldn did didn do
    does doesn doing don done down during each either else enough etc even ever every few for from further get gets
    got had hadn has hasn have haven having he her here hers herself him himself his how however i if in into is
    isn it its itself just least less let like ll made make many may me might more most much must mustn my myself
    neither no nor not now of off often on once one only or other others our ours ourselves out over own per quite
    rather re really same say says shall shan she should shouldn since so some something still such than that the
    their theirs them themselves then there these they thing things this those though through thus to too under
    until up upon us ve very via was wasn we well were weren what when where whether which while who whom whose
    why will with within without won would wouldn yes yet you your yours yourself yourselves
    """.split()
)

# Han ideographs (with the extension blocks), hiragana and katakana: scripts written without spaces between words.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HIRAGANA = re.compile(r"[\u3041-\u309f]+")


def normalize(text: str) -> str:
    """Casefold and NFKC-normalise text, so that words compare equal however they were typed."""
    # NFKC recombines accents (so "cafe\u0301" matches "café") and folds compatibility forms such as "ﬁ" and half-width
    # katakana; it runs again after casefolding because folding can produce sequences that are no longer normalised.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def is_cjk(word: str) -> bool:
    """Tell whether a word is written in a script without spaces, so phrases join it to its neighbours directly."""
    return bool(_CJK.search(word))


@functools.cache
def _detector_factory() -> DetectorFactory:
    """Load langdetect's profiles once per process, into a factory of our own with a fixed seed."""
    # Profiles are numbered in loading order and their probabilities summed in it, so they are loaded sorted: the
    # library's own loader takes the directory's order, which may differ from one machine to the next.
    profiles = sorted(Path(PROFILES_DIRECTORY).glob("[!.]*"))
    factory = DetectorFactory()
    factory.load_json_profile([profile.read_text(encoding="utf-8") for profile in profiles])
    factory.set_seed(0)
    return factory


def _language_by_script(text: str) -> str | None:
    """Tell Chinese from Japanese by their scripts: a text mostly in them is Japanese if it has kana, else Chinese."""
    # langdetect is unreliable here on short texts: it calls 咖啡 (coffee) Korean, whose profile knows Hanja.
    letters = [char for char in text[:DETECTION_SAMPLE] if char.isalpha()]
    written = [char for char in letters if _CJK.match(char)]
    if not written or len(written) * 2 < len(letters):
        return None
    return "ja" if any(_KANA.match(char) for char in written) else "zh"


def detect_language(text: str, word_count: int) -> str | None:
    """Return the supported language a text is written in, or None when it is too short or in another language."""
    if language := _language_by_script(text):
        return language
    if word_count < MIN_WORDS_TO_DETECT:
        return None
    detector = _detector_factory().create()
    detector.append(text)
    try:
        code = detector.detect()
    except LangDetectException:  # no letters at all
        return None
    # langdetect tells simplified (zh-cn) and traditional (zh-tw) Chinese apart; their words are found the same way.
    code = code.partition("-")[0]
    return code if code in LANGUAGES else None


# Gaps in the library's lists that showed up in product copy: German relative pronouns, and the Chinese plural
# pronouns, which jieba keeps as one word while the list has only their single characters.
_MORE_STOP_WORDS = {
    "de": ["denen", "deren", "dessen"],
    "zh": ["我们", "你们", "他们", "她们", "它们", "咱们"],
}


@functools.cache
def stop_words_for(language: str) -> frozenset[str]:
    """The language's stop words, normalised like the text, with English's: English is mixed into copy everywhere."""
    if language == "en":
        return ENGLISH_STOP_WORDS
    words = [*stop_words.get_stop_words(language), *_MORE_STOP_WORDS.get(language, [])]
    return ENGLISH_STOP_WORDS | frozenset(normalize(word) for word in words)


def is_stop_word(word: str, language: str) -> bool:
    """Tell whether a normalised word carries no meaning of its own in the language."""
    # Hiragana-only words of one or two characters are Japanese particles and verb endings (の, で, ます, でき) in
    # whatever language the rest of the text is; the stop-word list has only the commonest of them.
    return word in stop_words_for(language) or (len(word) <= 2 and bool(_HIRAGANA.fullmatch(word)))


@functools.cache
def _japanese_segmenter() -> tinysegmenter.TinySegmenter:
    return tinysegmenter.TinySegmenter()


def _chinese_cut(text: str) -> list[str]:
    import rjieba  # loads its dictionary at import, once per process

    return rjieba.cut(text)


def segment(run: str, language: str) -> list[str]:
    """Split a run of letters without spaces into words: Chinese with jieba's dictionary, Japanese by tinysegmenter."""
    if not is_cjk(run):
        return [run]
    # Kana is only ever Japanese; Han characters alone are Chinese unless the text is known to be Japanese.
    if language == "ja" or _KANA.search(run):
        words = _japanese_segmenter().tokenize(run)
    else:
        words = _chinese_cut(run)
    return [word for word in words if word]


def warm_up() -> None:
    """Load every language's data now rather than on the first request that needs it."""
    _detector_factory()
    _chinese_cut("预热")
    _japanese_segmenter()
    for language in LANGUAGES:
        stop_words_for(language)
