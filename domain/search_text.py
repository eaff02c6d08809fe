"""How search compares text: without case or diacritics, so "tran van binh" finds "Trần Văn Bình".

Staff type names and phrases without tone marks (a phone keyboard, a hurried search), and
customers' text arrives both precomposed and decomposed (NFD), so search compares folded text
on both sides. The store folds documents with the same rule: SQLite through a SQL function
that calls ``fold`` (store/engine.py), PostgreSQL through ``unaccent`` and ``lower``, whose
agreement with ``fold`` on Vietnamese letters a test holds."""

import unicodedata

# Letters with a stroke have no decomposition, so dropping marks leaves them: the Vietnamese
# đ, and ð, which legacy encodings and Windows-1258 fonts put in place of đ (unaccent maps both).
_STROKED = str.maketrans({"đ": "d", "ð": "d"})
_CACHED = 1 << 16  # code points remembered: the Latin, Vietnamese and combining blocks, many times over


def _fold_char(char: str) -> str:
    decomposed = unicodedata.normalize("NFD", char.casefold())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn").translate(_STROKED)


class _Folding(dict[int, str]):
    """``str.translate``'s table, filled as code points are first met (the SQLite triggers fold
    every document written: 4× faster than folding the string whole, measured)."""

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        if len(self) < _CACHED:
            self[code] = folded
        return folded


_FOLDING = _Folding()


def fold(text: str) -> str:
    """``text`` case-folded, with every combining mark (tone, hat, horn, breve) dropped and đ as d.

    Character by character, which is folding the whole string: case folding and NFD map each
    character alone, and NFD's reordering only sorts combining marks, the ones dropped here."""
    return text.translate(_FOLDING)
