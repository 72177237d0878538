"""A generated corpus of captions that are hard to tokenize, the same on every run.

Each family below stresses one step of OpenAI's caption cleaning or word splitting; `corpus()`
returns every hand-written case once, then seeded random mixtures of them (a few fragments from
different families in one caption, joined by assorted whitespace), so that the steps also meet
each other: an entity inside mojibake, an emoji after a ligature, a special token in a long text.
"""

from __future__ import annotations

import random
import unicodedata

WORDS = (
    "a photo of the dog cat bird car red blue green small large running sitting on in under over beside"
    " street park beach mountain river city night morning people woman man child playing with ball"
    " wooden table kitchen window sunset colorful vintage close-up view aerial portrait"
).split()

PLAIN = [
    "a photo of a dog",
    "A Photo Of A DOG",
    "two cats sitting on a wooden table, looking at the camera.",
    "It's a beautiful day; we'll go to the beach and they've said I'm late, you're right, he'd go.",
    "'twas the night before; o'clock; rock'n'roll; the dogs' toys; JAMES'S car",
    "state-of-the-art self-driving e-mail user_name snake_case CamelCase",
    "https://example.com/path?q=1&x=2 user@example.org #hashtag @mention",
    "",
    "   ",
    "!!!???...,,,;;;:::---___",
    "C++ and C# and F# (beta) [draft] {json} <tag> a/b\\c |pipe| ~tilde~ `code` ^caret^",
]

QUOTES = [
    "don\u2019t stop", "\u201cquoted\u201d text", "\u2018single\u2019 quotes", "\u201elow\u201c quotes",
    "\u00abguillemets\u00bb and \u2039single\u203a", "it\u2019s 5\u2032 11\u2033 tall", "rock \u2019n\u2019 roll",
    "\u2014 an em dash \u2013 en dash \u2012 figure", "ellipsis\u2026 here", "\u02bbokina and \u02bcmodifier",
    "WON\u2019T", "the dogs\u2019 toys", "\uff02full-width quotes\uff02",
]

ACCENTED = [
    "caf\u00e9 r\u00e9sum\u00e9 na\u00efve Z\u00fcrich \u00c5ngstr\u00f6m se\u00f1or fa\u00e7ade co\u00f6perate",
    "\u0141\u00f3d\u017a \u0160koda \u010ce\u0161tina \u0219i \u021b \u00d8resund \u00c6sir \u00df stra\u00dfe",
    "Vi\u1ec7t Nam ph\u1edf \u1ea3nh \u0111\u1eb9p",
    "\u0130stanbul I\u0131 \u0130i",  # Turkish dotted and dotless i: lower-casing changes the length
]

LIGATURES = [
    "\ufb01sh and \ufb02owers", "o\ufb03ce \ufb00ort \ufb04uid", "\ufb05tyle \ufb06op", "\u0132sselmeer \u0133s",
    "\u01c4 \u01c5 \u01c6 dz", "\ufb13 armenian", "\u00bd \u00bc \u2153 fractions",
]

FULL_WIDTH = [
    "\uff26\uff35\uff2c\uff2c\u3000\uff57\uff49\uff44\uff54\uff48", "\uff11\uff12\uff13\uff14\uff15 yen",
    "\uff08parenthesis\uff09\uff01\uff1f", "\uff41\uff42\uff43\uff0d\uff58\uff59\uff5a", "\uff8a\uff9d\uff76\uff78 half-width kana",
]

SCRIPTS = [
    "x\u00b2 + y\u00b3 = z\u00b2", "H\u2082O and CO\u2082", "10\u207b\u00b3 m/s\u00b2", "1\u02e2\u1d57 place", "E=mc\u00b2",
    "\u2460\u2461\u2462 circled", "\u24b6\u24d1\u24d2 circled letters", "\u2160\u2161\u216b roman", "x\u1d62 a\u2099",
]

SPECIALS = [
    "a dog <|endoftext|> a cat", "<|startoftext|>hello", "hello<|endoftext|>", "<|ENDOFTEXT|> shouting",
    "<|startoftext|><|endoftext|>", "foo<|endoftext|>bar", "<|endof text|>", "<|endoftext", "|endoftext|>",
    "&lt;|endoftext|&gt; as an entity", "<| endoftext |>", "<|startoftext|> <|startoftext|> twice",
]

ENTITIES = [
    "fish &amp; chips", "&quot;quoted&quot; &#39;single&#39;", "&lt;b&gt;bold&lt;/b&gt;", "&amp;amp; double",
    "&amp;lt;tag&amp;gt; twice escaped", "caf&eacute; &eacute;t&eacute;", "&nbsp;spaced&nbsp;out&nbsp;",
    "&#x263A; smiley &#9731; snowman", "&hellip; &mdash; &ndash; &rsquo;", "&unknown; &amp &lt", "AT&T R&D Q&A",
    "&#8217;tis &#x2019;s", "5 &gt; 3 &amp;&amp; 2 &lt; 4", "&AMP; &Amp;",
]

EMOJI = [
    "\U0001f600 grinning", "thumbs \U0001f44d\U0001f3fd up", "family \U0001f468\u200d\U0001f469\u200d\U0001f467",
    "flag \U0001f1eb\U0001f1f7 \U0001f1ef\U0001f1f5", "\u2764\ufe0f love", "keycap 1\ufe0f\u20e3 #\ufe0f\u20e3",
    "\U0001f3f3\ufe0f\u200d\U0001f308 rainbow", "\U0001f436\U0001f431\U0001f42d\U0001f439", "sun \u2600 star \u2605 \u2122 \u00a9 \u00ae",
]

CJK = [
    "\u4e00\u53ea\u5728\u516c\u56ed\u91cc\u5954\u8dd1\u7684\u72d7", "\u732b\u304c\u30c6\u30fc\u30d6\u30eb\u306e\u4e0a\u306b\u3044\u308b",
    "\u30ab\u30bf\u30ab\u30ca \u3072\u3089\u304c\u306a", "\ud55c\uad6d\uc5b4 \ubb38\uc7a5", unicodedata.normalize("NFD", "\ud55c\uad6d\uc5b4 \ubb38\uc7a5"),
    "\u3002\u3001\u300c\u300d\u3010\u3011", "\u6771\u4eac2024\u5e74", "\U00020000\U0002a6d6 extension B",
]

OTHER_SCRIPTS = [
    "\u0642\u0637\u0629 \u0639\u0644\u0649 \u0627\u0644\u0637\u0627\u0648\u0644\u0629", "\u0645\u064e\u0631\u0652\u062d\u064e\u0628\u064b\u0627 with harakat",
    "\u0661\u0662\u0663 arabic-indic digits", "\u041a\u043e\u0448\u043a\u0430 \u043d\u0430 \u0441\u0442\u043e\u043b\u0435 \u0401\u0451",
    "\u0393\u03ac\u03c4\u03b1 \u03a3\u03a4\u039f \u03a3\u03a0\u0399\u03a4\u0399 \u039f\u0394\u039f\u03a3", "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    "\u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e", "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22", "\u10e5\u10d0\u10e0\u10d7\u10e3\u10da\u10d8",
    "\u1f00\u0345 \u03b1\u0345 x \u0345 y", "\u0130\u0307 \u01c5", "\u0531\u0580\u0574\u0565\u0576",
]

NUMBERS = [
    "1,234,567.89", "3.14159265358979", "2024-01-31T12:00:00Z", "0x1F 0b1010 1e-9", "-42 +7 \u00b15",
    "$19.99 \u20ac5 \u00a3100 \u00a5500", "50% off", "1st 2nd 3rd 4th", "007 0000 12345678901234567890", "\u0663\u0664 \u09e7\u09e8 \u0967\u0968",
]

SPACES = [
    "tab\tseparated\twords", "new\nline\r\nwindows\rmac", "no\u00a0break\u00a0space", "em\u2003space thin\u2009space",
    "ideographic\u3000space", "zero\u200bwidth\u200cjoiners\u200d", "\x1cfile\x1dgroup\x1erecord\x1funit",
    "line\u2028para\u2029sep", "next\x85line", "\ufeffbyte order mark", "  leading and trailing  ", "soft\u00adhyphen",
    "vertical\x0btab\x0cform feed", "ctrl\x00null\x07bell\x1b[31mred\x1b[0m", "\u3000\u00a0\t\n",
]

FAMILIES = {
    "plain": PLAIN, "quotes": QUOTES, "accented": ACCENTED, "ligatures": LIGATURES, "full_width": FULL_WIDTH,
    "scripts": SCRIPTS, "specials": SPECIALS, "entities": ENTITIES, "emoji": EMOJI, "cjk": CJK,
    "other_scripts": OTHER_SCRIPTS, "numbers": NUMBERS, "spaces": SPACES,
}
JOINERS = (" ", "  ", "\t", "\n", "\u00a0", " \r\n ", "", ", ", "\u3000")


def decomposed(text: str) -> str:
    """Accents as separate combining marks (NFD), as macOS file names and some scrapers give them."""
    return unicodedata.normalize("NFD", text)


def mojibake(text: str, codec: str) -> str:
    """UTF-8 bytes read as `codec`, the classic web-scrape garbling ("cafÃ©"); cp1252 leaves a
    few bytes undefined, which decode as U+FFFD."""
    return text.encode("utf-8").decode(codec, errors="replace")


def long_caption(rng: random.Random) -> str:
    """Well beyond 77 tokens: a few hundred words, sometimes with a special token or an entity."""
    words = [rng.choice(WORDS) for _ in range(rng.randint(60, 300))]
    for _ in range(rng.randint(0, 3)):
        words.insert(rng.randrange(len(words)), rng.choice(SPECIALS + ENTITIES + EMOJI))
    return " ".join(words)


def corpus(size: int = 2400, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    hand_written = [text for family in FAMILIES.values() for text in family]
    variants = [
        *(decomposed(text) for text in ACCENTED + QUOTES),
        *(mojibake(text, codec) for text in ACCENTED + QUOTES + EMOJI + CJK for codec in ("cp1252", "latin-1")),
        mojibake(mojibake("caf\u00e9 na\u00efve", "cp1252"), "cp1252"),  # garbled twice
        "x" * 500, "\U0001f600" * 100, "a" + "\u0301" * 50, "!" * 300, "ab" * 200,
    ]
    captions = hand_written + variants
    pool = [*hand_written, *variants]
    while len(captions) < size:
        kind = rng.random()
        if kind < 0.1:
            captions.append(long_caption(rng))
            continue
        parts = [rng.choice(pool) if rng.random() < 0.5 else " ".join(rng.sample(WORDS, 3)) for _ in range(rng.randint(1, 5))]
        text = "".join(part + rng.choice(JOINERS) for part in parts)
        if kind < 0.2:
            text = decomposed(text)
        elif kind < 0.3:
            text = mojibake(text, rng.choice(("cp1252", "latin-1")))
        elif kind < 0.35:
            text = text.upper()
        captions.append(text)
    return captions
