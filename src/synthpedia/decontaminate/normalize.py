"""Text normalisation of the decontamination rule: NFD, combining marks dropped, lowercase, `\\w+` words.

`normalize` and `word_tokens` are the rule as stated. `hashable` is the form the
vectorised hashing reads: the same words, with every non-word character outside
ASCII turned into a space, so that in its UTF-8 every byte >= 0x80 belongs to a
word. Standard library only.
"""

from __future__ import annotations

import re
import unicodedata

WORD_RE = re.compile(r"\w+")

_ASCII_BYTES = bytes(range(128))
_HANGUL = range(0xAC00, 0xD7A4)  # syllables that NFD decomposes without a decomposition entry
_SIGMA = "\u03a3"  # the one character whose lowercase depends on its neighbours (Final_Sigma)
_ACTIONS: dict[str, str] = {}


def _non_ascii_chars(text: str) -> set[str]:
    """The distinct non-ASCII characters of `text` (C-speed: delete the ASCII bytes of its UTF-8)."""
    raw = text.encode("utf-8", "surrogatepass").translate(None, _ASCII_BYTES)
    return set(raw.decode("utf-8", "surrogatepass"))


def normalize(text: str) -> str:
    """NFD, combining marks (category Mn) removed, lowercased: the original's normalisation."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFD", text)
    for ch in _non_ascii_chars(text):
        if unicodedata.category(ch) == "Mn":
            text = text.replace(ch, "")
    return text.lower()


def word_tokens(text: str) -> list[str]:
    """The word tokens the rule compares: `\\w+` runs of the normalised text."""
    return WORD_RE.findall(normalize(text))


def _is_word(text: str) -> bool:
    return all(WORD_RE.match(ch) for ch in text)


def _is_non_word(text: str) -> bool:
    return not any(WORD_RE.match(ch) for ch in text)


def _action(ch: str) -> str:
    """How `hashable` treats a non-ASCII character (cached).

    "drop": a combining mark (category Mn). "decompose": NFD changes it (canonical
    decomposition, Hangul). "space": not a word character, nor is its lowercase.
    "keep": a word character, as is its lowercase, and not reordered by NFD.
    "unsafe": anything else (handled by the plain normalisation).
    """
    found = _ACTIONS.get(ch)
    if found is None:
        decomposition = unicodedata.decomposition(ch)
        if unicodedata.category(ch) == "Mn":
            found = "drop"
        elif ord(ch) in _HANGUL or (decomposition and not decomposition.startswith("<")):
            found = "decompose"
        elif _is_non_word(ch) and _is_non_word(ch.lower()):
            found = "space"
        elif _is_word(ch) and _is_word(ch.lower()) and not unicodedata.combining(ch):
            found = "keep"
        else:
            found = "unsafe"
        _ACTIONS[ch] = found
    return found


def hashable(text: str) -> str:
    """`normalize(text)` with its non-ASCII non-word characters replaced by spaces.

    The word tokens are unchanged, and what is left outside ASCII belongs to words,
    so in UTF-8 every byte >= 0x80 is a word byte: tokenising the bytes needs only
    a 256-entry table. Done with one str.replace per distinct non-ASCII character,
    so most generations (curly quotes, dashes, accents) become ASCII before the
    lowercase. Why this equals NFD + drop marks + lowercase: NFD decomposes each
    character on its own and then reorders runs of combining characters, which are
    all dropped or blanked here ("keep" excludes combining ones, else "unsafe");
    lowercasing is per character except for capital sigma, which, when present,
    is lowercased before blanking.
    """
    if text.isascii():
        return text.lower()
    chars = _non_ascii_chars(text)
    decomposed = [ch for ch in chars if _action(ch) == "decompose"]
    if decomposed:
        for ch in decomposed:
            text = text.replace(ch, unicodedata.normalize("NFD", ch))
        chars = (chars - set(decomposed)) | {c for ch in decomposed for c in unicodedata.normalize("NFD", ch)}
        chars = {ch for ch in chars if not ch.isascii()}
    actions = {ch: _action(ch) for ch in chars}
    if "unsafe" in actions.values() or "decompose" in actions.values():
        return _hashable_plain(text)
    for ch, action in actions.items():
        if action == "drop":
            text = text.replace(ch, "")
    blank = [ch for ch, action in actions.items() if action == "space"]
    if _SIGMA in actions:  # lowercase with the neighbours still in place, then blank
        text = text.lower()
        blank = {low for ch in blank for low in ch.lower()}
    for ch in blank:
        text = text.replace(ch, " ")
    return text.lower()


def _hashable_plain(text: str) -> str:
    """The straightforward (slower) form of `hashable`: normalise, then blank non-word characters."""
    text = normalize(text)
    for ch in _non_ascii_chars(text):
        if _is_non_word(ch):
            text = text.replace(ch, " ")
    return text
