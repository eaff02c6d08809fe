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


def fold(text: str) -> str:
    """``text`` case-folded, with every combining mark (tone, hat, horn, breve) dropped and đ as d."""
    decomposed = unicodedata.normalize("NFD", text.casefold())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn").translate(_STROKED)
