"""Name transliteration: ``anyascii`` for every script, plus the passport conventions as a second spelling.

Travel documents spell names by ICAO Doc 9303 Part 3 (Cyrillic, and Latin letters with diaeresis or
ligatures), and Greek documents by ELOT 743; those spellings often differ from a general-purpose
transliteration (``Юлия`` is ``YULIYA`` to ``anyascii`` and ``IULIIA`` in a passport). Both spellings
become keys so that a name copied from a passport and one typed from speech can meet.
"""

from __future__ import annotations

import unicodedata

from anyascii import anyascii

__all__ = ["name_tokens", "spellings"]

# ICAO Doc 9303 Part 3, recommended transliteration of Cyrillic (upper case; input is upper-cased first).
_ICAO_CYRILLIC: dict[str, str] = {
    "А": "A", "Б": "B", "В": "V", "Г": "G", "Ґ": "G", "Д": "D", "Ђ": "D", "Ѓ": "G", "Е": "E", "Ё": "E",
    "Є": "IE", "Ж": "ZH", "З": "Z", "Ѕ": "DZ", "И": "I", "І": "I", "Ї": "I", "Й": "I", "Ј": "J", "К": "K",
    "Л": "L", "Љ": "LJ", "М": "M", "Н": "N", "Њ": "NJ", "О": "O", "П": "P", "Р": "R", "С": "S", "Т": "T",
    "Ћ": "C", "Ќ": "K", "У": "U", "Ў": "U", "Ф": "F", "Х": "KH", "Ц": "TS", "Ч": "CH", "Џ": "DZ",
    "Ш": "SH", "Щ": "SHCH", "Ъ": "IE", "Ы": "Y", "Ь": "", "Э": "E", "Ю": "IU", "Я": "IA",
}  # fmt: skip

# ICAO Doc 9303 Part 3: Latin letters written as two letters in the MRZ rather than folded to one.
_ICAO_LATIN: dict[str, str] = {
    "Ä": "AE", "Å": "AA", "Æ": "AE", "Ö": "OE", "Ø": "OE", "Œ": "OE", "Ü": "UE", "ß": "SS", "ẞ": "SS",
    "Þ": "TH", "Ĳ": "IJ",
}  # fmt: skip

# ELOT 743 digraphs where it differs from letter-by-letter transliteration (ου is U-sound, written OU).
_ELOT_DIGRAPHS: tuple[tuple[str, str], ...] = (("ΟΥ", "OU"), ("ΑΥ", "AV"), ("ΕΥ", "EV"), ("ΗΥ", "IV"))

_ICAO_TABLE = str.maketrans({**_ICAO_CYRILLIC, **_ICAO_LATIN})


def _strip_greek_accents(text: str) -> str:
    # Accents would stop the digraph table from seeing "ΟΎ" as "ΟΥ".
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def _passport_spelling(text: str) -> str:
    text = _strip_greek_accents(text) if any("Ͱ" <= c <= "Ͽ" for c in text) else text
    for greek, latin in _ELOT_DIGRAPHS:
        text = text.replace(greek, latin)
    return text.translate(_ICAO_TABLE)


def name_tokens(ascii_text: str) -> tuple[str, ...]:
    """Upper-case word tokens of an ASCII name: hyphens and slashes split words, other punctuation goes."""
    words = []
    for raw in ascii_text.upper().replace("-", " ").replace("/", " ").split():
        word = "".join(c for c in raw if c.isalnum())
        if word:
            words.append(word)
    return tuple(sorted(words))


def spellings(name: str) -> tuple[tuple[str, ...], ...]:
    """The distinct token spellings of ``name``: the general transliteration first, then the passport one.

    Each spelling is a sorted tuple of upper-case ASCII tokens, so name order does not matter.
    """
    upper = unicodedata.normalize("NFC", name).upper()
    result: list[tuple[str, ...]] = []
    for text in (anyascii(upper), anyascii(_passport_spelling(upper))):
        tokens = name_tokens(text)
        if tokens and tokens not in result:
            result.append(tokens)
    return tuple(result)
