"""The Vietnamese words of the product follow docs/glossary.md: one term per concept.

The glossary's tables are read as data: a row's keys tie a term to a vocabulary value of
admin/i18n.py, a catalogue msgid or a seeded department, and its "Không dùng" cell lists the
variants that no Vietnamese text of the product may use."""

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from admin import i18n
from store.seed import DEPARTMENTS

ROOT = Path(__file__).resolve().parent.parent
GLOSSARY = ROOT / "docs" / "glossary.md"
HEADER = ("Key", "English", "Tiếng Việt", "Không dùng")
# Vocabularies of whole sentences (refusal reasons) are wording, not terms.
NOT_TERMS = {"refusal"}
# An open syllable with the tone mark on the second vowel of oa, oe, uy: the new style
# ("hoá", "khoẻ", "huỷ"); "quý" is not one ("qu" is the consonant).
NEW_STYLE_MARK = re.compile(r"(?<![q])(?:o[áàảãạ]|o[éèẻẽẹ]|u[ýỳỷỹỵ])(?!\w)", re.IGNORECASE)
EMAIL_ADDRESS = re.compile(r"[\w.+-]+@[\w.-]+")


@dataclass(frozen=True)
class Row:
    keys: tuple[str, ...]
    english: str
    vietnamese: str
    rejected: tuple[str, ...]


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def glossary_rows() -> list[Row]:
    rows: list[Row] = []
    in_table = False
    for line in _nfc(GLOSSARY.read_text(encoding="utf-8")).splitlines():
        if not line.startswith("|"):
            in_table = False
            continue
        cells = _cells(line)
        if tuple(cells) == HEADER:
            in_table = True
            continue
        if not in_table or set("".join(cells)) <= set("-: "):
            continue
        assert len(cells) == len(HEADER), f"glossary row with {len(cells)} cells: {line}"
        keys, english, vietnamese, rejected = cells
        rows.append(
            Row(
                keys=tuple(re.findall(r"`([^`]+)`", keys)),
                english=english.split(" — ", 1)[0].strip(),
                vietnamese=vietnamese,
                rejected=tuple(v.strip() for v in rejected.split(";") if v.strip()),
            )
        )
    return rows


ROWS = glossary_rows()


def _keyed(prefix: str) -> dict[str, Row]:
    found: dict[str, Row] = {}
    for row in ROWS:
        for key in row.keys:
            kind, _, name = key.partition(":")
            if kind == prefix:
                assert name not in found, f"{key} is in the glossary twice"
                found[name] = row
    return found


def vietnamese_texts() -> dict[str, str]:
    """Every Vietnamese text of the product, by where it comes from."""
    texts: dict[str, str] = {}
    with i18n.catalogue_path("vi").open("rb") as po:
        for message in read_po(po, locale="vi"):
            if not message.id:
                continue  # the header
            msgid = message.id[0] if isinstance(message.id, tuple) else message.id
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            texts[f"messages.po [{message.context or ''}] {msgid}"] = "\n".join(str(s) for s in strings if s)
    for folder in (ROOT / "admin" / "templates", ROOT / "correspondence" / "templates"):
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                texts[str(path.relative_to(ROOT))] = path.read_text(encoding="utf-8")
    # The mails' own labels of departments and channels.
    texts["correspondence/rendering.py"] = (ROOT / "correspondence" / "rendering.py").read_text(encoding="utf-8")
    # A mailbox's name (cskh@…) is an address, not a term.
    texts["store/seed.py"] = EMAIL_ADDRESS.sub("", (ROOT / "store" / "seed.py").read_text(encoding="utf-8"))
    return {where: _nfc(text) for where, text in texts.items()}


def _word_pattern(variant: str) -> re.Pattern[str]:
    words = [re.escape(word) for word in _nfc(variant).split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


REJECTED = [(variant, row.vietnamese) for row in ROWS for variant in row.rejected]


def test_the_glossary_is_read() -> None:
    assert len(ROWS) > 100
    assert len(REJECTED) > 40
    assert _keyed("stage") and _keyed("ui") and _keyed("dept")


def test_a_rejected_variant_is_not_also_a_term() -> None:
    terms = {_nfc(row.vietnamese) for row in ROWS}
    for variant, _ in REJECTED:
        pattern = _word_pattern(variant)
        clashes = [term for term in terms if pattern.search(term)]
        assert not clashes, f"rejected {variant!r} is part of the glossary's own terms {clashes}"


@pytest.mark.parametrize(("variant", "term"), REJECTED, ids=[variant for variant, _ in REJECTED])
def test_no_vietnamese_text_uses_a_rejected_variant(variant: str, term: str) -> None:
    pattern = _word_pattern(variant)
    found = [f"{where}: …{m.group(0)}…" for where, text in vietnamese_texts().items() for m in pattern.finditer(text)]
    assert not found, f"{variant!r} is not to be used (glossary: {term!r}):\n" + "\n".join(found)


def test_tone_marks_are_placed_in_the_traditional_style() -> None:
    found = [
        f"{where}: {match.group(0)!r} in …{text[max(0, match.start() - 15) : match.end() + 5]}…"
        for where, text in vietnamese_texts().items()
        for match in NEW_STYLE_MARK.finditer(text)
    ]
    assert not found, "new-style tone marks (write hóa, khóa, xóa, hủy, thỏa):\n" + "\n".join(found)


@pytest.mark.parametrize("vocabulary", [v for v in i18n.VOCABULARIES if v not in NOT_TERMS])
def test_every_vocabulary_value_is_named_by_its_glossary_term(vocabulary: str) -> None:
    terms = _keyed(vocabulary)
    vi, en = i18n.choices("vi", vocabulary), i18n.choices("en", vocabulary)
    assert sorted(terms) == sorted(value for value, _ in vi), f"glossary rows of {vocabulary} ≠ its values"
    for (value, vi_label), (_, en_label) in zip(vi, en, strict=True):
        row = terms[value]
        assert (vi_label, en_label) == (row.vietnamese, row.english), f"{vocabulary}:{value}"


def test_the_catalogue_uses_the_glossary_terms() -> None:
    wrong = [
        (msgid, i18n.gettext("vi", msgid), row.vietnamese, i18n.gettext("en", msgid), row.english)
        for msgid, row in _keyed("ui").items()
        if (i18n.gettext("vi", msgid), i18n.gettext("en", msgid)) != (row.vietnamese, row.english)
    ]
    assert not wrong, f"(msgid, vi, glossary vi, en, glossary en): {wrong}"


def test_the_seeded_departments_use_the_glossary_terms() -> None:
    terms = _keyed("dept")
    assert sorted(terms) == sorted(code for code, *_ in DEPARTMENTS)
    for code, name_vi, name_en, _ in DEPARTMENTS:
        assert (name_vi, name_en) == (terms[code].vietnamese, terms[code].english), code
