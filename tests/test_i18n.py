"""The admin UI's languages: catalogues, labels, date and countdown formats, and the CSP-clean layout."""

import re
from datetime import UTC, datetime, timedelta
from io import BytesIO
from types import SimpleNamespace
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.ext import extract_from_ast

from admin import i18n
from domain.transitions import TRANSITIONS, RefusalCode
from domain.vocabulary import Category, Channel, Outcome, Priority, ReplyMethod, Role, Stage, SupervisorChoice

PAGE_MSGIDS = [
    "Complaints", "My work", "New complaint", "Dashboard", "Staff", "Departments", "Routing rules", "SLA policy",
    "Mail", "Log out", "Log in", "Username", "Password", "Wrong username or password.",
    "Too many attempts. Try again in a few minutes.", "Language", "Tiếng Việt", "English", "Search", "Filter",
    "Status", "Department", "Category", "Channel", "Priority", "Overdue", "Due soon", "Received", "Deadline",
    "Customer", "Subject", "Content", "Escalation level", "Outcome", "Actions", "Save", "Send", "Cancel",
    "Next page", "No complaints.", "Audit trail", "Internal notes", "Mails sent to the customer", "Letter",
    "Download raw history", "Open in Temporal UI", "Who", "What", "When", "Details", "To verify", "To resolve",
    "Escalated", "Awaiting signature", "Overdue and due soon", "Name", "Email", "Phone", "Address", "Body",
    "Received on", "File complaint", "The complaint was filed as %(id)s.",
    "This complaint was already filed as %(id)s.", "Not found", "You do not have access to this complaint.",
    "The form has expired. Please try again.",
    "The service is temporarily unavailable. Your action was not applied; please try again.", "Open",
    "Closed within the bound (%(days)s days)", "Due in %(days)s days", "Open by status", "Open by department", "Reason",
    "Summary", "Cause", "Resolution", "Within authority", "Reply draft", "Instructions", "Decision", "Approve",
    "Return", "Approved", "Comment", "Method", "Message", "Root cause", "Lessons learned", "Preventive action",
    "Agreement", "Duplicate of", "Text", "Note",
]  # fmt: skip

VOCABULARIES: dict[str, list[str]] = {
    "stage": [s.value for s in Stage],
    "role": [r.value for r in Role],
    "channel": [c.value for c in Channel],
    "category": [c.value for c in Category],
    "priority": [p.value for p in Priority],
    "outcome": [o.value for o in Outcome],
    "reply_method": [m.value for m in ReplyMethod],
    "supervisor_choice": [c.value for c in SupervisorChoice],
    "decision": list(TRANSITIONS),
    "refusal": [c.value for c in RefusalCode],
    "event": ["started", "decision", "signal", "timer", "completed"],  # admin.services.complaints.AuditEvent.kind
}

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTR = re.compile(r"\sstyle\s*=", re.IGNORECASE)
TEMPLATES = ("base.html", "login.html", "error.html")  # and every other page: see the catalogue test below


def _catalog(lang: str) -> Catalog:
    with i18n.catalogue_path(lang).open("rb") as po:
        return read_po(po, locale=lang)


def _key(message: Any) -> tuple[str | None, str]:
    msgid = message.id[0] if isinstance(message.id, tuple) else message.id
    return message.context, msgid


def _messages(lang: str) -> dict[tuple[str | None, str], Any]:
    return {_key(m): m for m in _catalog(lang) if m.id}


def _strings(message: Any) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple) else [message.string]


# --------------------------------------------------------------------------- catalogues


def test_every_vietnamese_msgid_is_translated() -> None:
    vi = _messages("vi")
    assert len(vi) > 150
    missing = [key for key, m in vi.items() if not all(s.strip() for s in _strings(m)) or m.fuzzy]
    assert not missing, f"untranslated or fuzzy in vi: {missing}"


def test_english_has_the_same_msgids_and_keeps_them() -> None:
    vi, en = _messages("vi"), _messages("en")
    assert set(vi) == set(en)
    for key, message in en.items():
        ids = list(message.id) if isinstance(message.id, tuple) else [message.id]
        for string in _strings(message):
            assert string in ("", *ids), f"en msgstr of {key} differs from its msgid: {string!r}"


def test_translations_keep_their_placeholders() -> None:
    for key, message in _messages("vi").items():
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set(PLACEHOLDER.findall(ids[0]))
        for string in _strings(message):
            assert set(PLACEHOLDER.findall(string)) == wanted, key


def test_catalogues_compile_in_memory() -> None:
    for lang in i18n.LANGUAGES:
        buffer = BytesIO()
        write_mo(buffer, _catalog(lang))
        assert buffer.getvalue()
        assert isinstance(i18n.translations(lang), Translations)
    assert i18n.translations("vi") is i18n.translations("vi")  # cached
    assert i18n.translations("fr") is i18n.translations("vi")  # unknown → Vietnamese
    assert i18n.translations("en-US") is i18n.translations("en")
    assert not list(i18n.LOCALE_DIR.rglob("*.mo")), "catalogues are compiled in memory; no .mo files"


def test_the_pages_msgids_are_in_the_catalogue() -> None:
    vi = _messages("vi")
    assert [m for m in PAGE_MSGIDS if (None, m) not in vi] == []


def test_gettext() -> None:
    assert i18n.gettext("vi", "My work") == "Việc của tôi"
    assert i18n.gettext("en", "My work") == "My work"
    assert i18n.gettext("xx", "Log out") == "Đăng xuất"
    assert i18n.gettext("vi", "The complaint was filed as %(id)s.", id="KN-7F3K9Q") == (
        "Đã ghi nhận khiếu nại với mã KN-7F3K9Q."
    )
    assert i18n.gettext("en", "The complaint was filed as %(id)s.", id="KN-7F3K9Q") == (
        "The complaint was filed as KN-7F3K9Q."
    )
    assert i18n.gettext("vi", "not a msgid, 100%") == "not a msgid, 100%"  # no params: no formatting
    assert i18n.ngettext("en", "%(num)d day", "%(num)d days", 1) == "1 day"
    assert i18n.ngettext("en", "%(num)d day", "%(num)d days", 3) == "3 days"
    assert i18n.ngettext("vi", "%(num)d day", "%(num)d days", 3) == "3 ngày"


def test_stage_names_are_the_customer_service_words() -> None:
    assert [i18n.stage_label("vi", s) for s in Stage] == [
        "Đã tiếp nhận", "Đang xử lý", "Đã chuyển cấp trên", "Chờ ký duyệt", "Chờ trả lời", "Đã trả lời", "Đã kết thúc",
    ]  # fmt: skip
    # The stage and the column header "Received" are different messages (msgctxt).
    assert i18n.stage_label("vi", "received") != i18n.gettext("vi", "Received")


@pytest.mark.parametrize("vocabulary", list(VOCABULARIES))
def test_every_vocabulary_value_has_a_label_in_both_languages(vocabulary: str) -> None:
    func = i18n.LABELS[f"{vocabulary}_label"]
    for value in VOCABULARIES[vocabulary]:
        vi, en = func("vi", value), func("en", value)
        assert vi and en
        assert vi != value, f"{vocabulary} {value!r} has no Vietnamese label"
        assert en != value, f"{vocabulary} {value!r} has no English label"
    assert [v for v, _ in i18n.choices("en", vocabulary)] == VOCABULARIES[vocabulary]


def test_labels_accept_enums_and_tolerate_the_unknown() -> None:
    assert i18n.role_label("en", Role.CS_AGENT) == i18n.role_label("en", "cs_agent") == "Customer service agent"
    assert i18n.refusal_label("vi", RefusalCode.WRONG_ROLE) == (
        "Bạn không có quyền thực hiện thao tác này với vai trò hiện tại."
    )
    assert i18n.decision_label("vi", "sign_reply") == "Ký duyệt văn bản trả lời"
    assert i18n.stage_label("vi", "something_new") == "something_new"
    assert i18n.stage_label("vi", None) == "—"


# --------------------------------------------------------------------------- dates and durations


def test_vndate_is_vietnam_time() -> None:
    assert i18n.vndate(datetime(2026, 11, 27, 20, 30, tzinfo=UTC)) == "28/11/2026 03:30"
    assert i18n.vndate(datetime(2026, 11, 27, 20, 30)) == "28/11/2026 03:30"  # naive = UTC
    assert i18n.vndate("2026-11-27T20:30:00Z") == "28/11/2026 03:30"
    assert i18n.vnday(datetime(2026, 11, 27, 20, 30, tzinfo=UTC)) == "28/11/2026"
    assert i18n.vnday(datetime(2026, 1, 5, 9, 0, tzinfo=UTC).date()) == "05/01/2026"
    assert i18n.vndate(None) == i18n.vnday(None) == "—"
    assert i18n.isoutc(datetime(2026, 11, 28, 3, 30, tzinfo=i18n.VN_TZ)) == "2026-11-27T20:30:00Z"


def test_duration_left() -> None:
    assert i18n.duration_left("vi", timedelta(days=3, hours=4, minutes=10)) == "còn 3 ngày 4 giờ"
    assert i18n.duration_left("en", timedelta(days=3, hours=4, minutes=10)) == "3 days 4 hours left"
    assert i18n.duration_left("en", 90 * 60) == "1 hour 30 minutes left"
    assert i18n.duration_left("vi", 20) == "còn dưới 1 phút"
    assert i18n.duration_left("vi", None) == "—"


def test_duration_left_past_the_deadline_says_overdue() -> None:
    assert i18n.duration_left("vi", -timedelta(days=2)) == "quá hạn 2 ngày"
    assert i18n.duration_left("en", -timedelta(days=2)) == "2 days overdue"
    assert i18n.duration_left("en", -timedelta(days=1, hours=2)) == "1 day 2 hours overdue"
    now = datetime(2026, 11, 27, tzinfo=UTC)
    assert i18n.duration_left("vi", now - timedelta(hours=5), now=now) == "quá hạn 5 giờ"
    assert i18n.countdown_class(-timedelta(seconds=1)) == "late"
    assert i18n.countdown_class(timedelta(days=2)) == "soon"
    assert i18n.countdown_class(timedelta(days=5)) == "ok"


# --------------------------------------------------------------------------- templates


@pytest.fixture(params=["lenient", "strict"])
def env(request: pytest.FixtureRequest) -> Environment:
    kwargs: dict[str, Any] = {"undefined": StrictUndefined} if request.param == "strict" else {}
    environment = Environment(
        loader=FileSystemLoader(i18n.TEMPLATES_DIR), autoescape=select_autoescape(["html"]), **kwargs
    )
    i18n.install(environment)
    return environment


def _page_context(**extra: Any) -> dict[str, Any]:
    return {
        "user": SimpleNamespace(full_name="Nguyễn Thị Lan", role=Role.CS_AGENT),
        "nav": [
            {"href": "/my-work", "label": "My work", "active": True},
            {"href": "/complaints", "label": "Complaints", "active": False},
            {"href": "/dashboard", "label": "Dashboard", "active": False},
        ],
        "csrf_token": "tok-123",
        "messages": [{"kind": "success", "text": "Saved <b>ok</b>"}],
    } | extra


def _assert_csp_clean(html: str) -> None:
    assert not INLINE_SCRIPT.search(html), "inline <script> (without src)"
    assert not EVENT_HANDLER.search(html), "inline event handler attribute"
    assert not STYLE_ATTR.search(html), "inline style attribute"
    assert "<style" not in html.lower()


def test_base_is_vietnamese_by_default(env: Environment) -> None:
    html = env.get_template("base.html").render(_page_context())
    assert '<html lang="vi">' in html
    brand = "Lửa Rồng Dịch vụ khách hàng"
    for text in ("Việc của tôi", "Khiếu nại", "Tổng quan", "Đăng xuất", brand, "Nguyễn Thị Lan"):
        assert text in html
    assert "Nhân viên Dịch vụ khách hàng" in html  # the role, labelled
    assert 'aria-current="page"' in html
    assert 'action="/language"' in html and 'action="/logout"' in html
    assert html.count('name="csrf_token" value="tok-123"') == 2
    assert 'name="lang" value="vi"' in html and 'name="lang" value="en"' in html
    assert "Saved &lt;b&gt;ok&lt;/b&gt;" in html  # flash text is escaped
    assert '<link rel="stylesheet" href="/static/app.css">' in html
    assert '<script src="/static/app.js" defer></script>' in html
    _assert_csp_clean(html)


def test_base_in_english(env: Environment) -> None:
    html = env.get_template("base.html").render(_page_context(lang="en"))
    assert '<html lang="en">' in html
    for text in ("My work", "Dashboard", "Log out", "Customer service agent", "Lửa Rồng Customer Service"):
        assert text in html
    assert "Đăng xuất" not in html
    _assert_csp_clean(html)


def test_unknown_language_falls_back_to_vietnamese(env: Environment) -> None:
    html = env.get_template("base.html").render(_page_context(lang="fr"))
    assert '<html lang="vi">' in html and "Đăng xuất" in html


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_login_page(env: Environment, lang: str) -> None:
    context = {"lang": lang, "user": None, "csrf_token": "tok-9", "error": "Wrong username or password."}
    html = env.get_template("login.html").render(context)
    assert f'<html lang="{lang}">' in html
    assert 'action="/login"' in html and 'name="csrf_token" value="tok-9"' in html
    assert 'name="username"' in html and 'type="password"' in html
    assert 'for="username"' in html and 'for="password"' in html
    assert "mainnav" not in html and 'action="/logout"' not in html  # no navigation before sign-in
    assert 'action="/language"' in html
    expected = {
        "vi": ("Đăng nhập", "Sai tên đăng nhập hoặc mật khẩu."),
        "en": ("Log in", "Wrong username or password."),
    }
    for text in expected[lang]:
        assert text in html
    _assert_csp_clean(html)


def test_login_page_without_optional_context(env: Environment) -> None:
    html = env.get_template("login.html").render(user=None, csrf_token="t")
    assert "Đăng nhập" in html and 'role="alert"' not in html
    _assert_csp_clean(html)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_error_page(env: Environment, lang: str) -> None:
    html = env.get_template("error.html").render(
        _page_context(
            lang=lang, title="Not found", message="You do not have access to this complaint.", status_code=404
        )
    )
    if lang == "vi":
        assert "Không tìm thấy" in html and "Bạn không có quyền truy cập khiếu nại này." in html
    else:
        assert "Not found" in html and "You do not have access to this complaint." in html
    assert "404" in html and "Traceback" not in html
    _assert_csp_clean(html)
    bare = env.get_template("error.html").render(lang=lang)
    assert ("Đã xảy ra lỗi" if lang == "vi" else "Something went wrong") in bare


def test_jinja_helpers_follow_the_render_language(env: Environment) -> None:
    source = (
        "{{ _('Log out') }}|{{ ngettext('%(num)d day', '%(num)d days', 2) }}|{{ stage_label('closed') }}"
        "|{{ d|vndate }}|{{ left|duration_left }}|{{ _('The complaint was filed as %(id)s.', id='<KN>') }}"
    )
    values = {"d": datetime(2026, 11, 27, 20, 30, tzinfo=UTC), "left": -timedelta(days=2)}
    vi = env.from_string(source).render(values)
    en = env.from_string(source).render(values | {"lang": "en"})
    assert vi == "Đăng xuất|2 ngày|Đã kết thúc|28/11/2026 03:30|quá hạn 2 ngày|Đã ghi nhận khiếu nại với mã &lt;KN&gt;."
    assert en == "Log out|2 days|Closed|28/11/2026 03:30|2 days overdue|The complaint was filed as &lt;KN&gt;."


def test_every_template_string_is_in_the_catalogue_and_no_template_has_inline_code(env: Environment) -> None:
    vi = _messages("vi")
    found = []
    names = sorted({*TEMPLATES, *(str(p.relative_to(i18n.TEMPLATES_DIR)) for p in i18n.TEMPLATES_DIR.rglob("*.html"))})
    for name in names:
        source = (i18n.TEMPLATES_DIR / name).read_text(encoding="utf-8")
        _assert_csp_clean(re.sub(r"\{#.*?#\}", "", source, flags=re.DOTALL))
        for _line, func, message in extract_from_ast(env.parse(source)):
            parts = message if isinstance(message, tuple) else (message,)
            key = (parts[0], parts[1]) if func in ("pgettext", "npgettext") else (None, parts[0])
            found.append(key[1])
            assert key in vi, f"{name}: {key} is not in the catalogue"
    assert "Log out" in found


def test_static_assets() -> None:
    js = (i18n.STATIC_DIR / "app.js").read_text(encoding="utf-8")
    css = (i18n.STATIC_DIR / "app.css").read_text(encoding="utf-8")
    assert "data-deadline" in js and "data-confirm" in js and "setInterval" in js
    assert "eval(" not in js and "innerHTML" not in js  # nothing a strict CSP or XSS review would flag
    for selector in (".countdown.ok", ".countdown.soon", ".countdown.late", ".refusal", ".badge.stage-received"):
        assert selector in css
    assert "@import" not in css and "url(http" not in css  # no external resources
