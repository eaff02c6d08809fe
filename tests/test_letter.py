"""The signed letter prints the company's greeting and closing once, whatever the draft brings,
and keeps the draft's line breaks."""

import re

from activities.mail_render import letter_body, render_letter
from domain.vocabulary import Language

DRAFT = "Kính gửi anh Bình,\n\nChúng tôi đã thay modem.\nĐường truyền đã ổn định.\n\nTrân trọng,\nPhòng Kỹ thuật"


def test_the_letter_greets_and_closes_once_and_keeps_line_breaks() -> None:
    html = render_letter({"complaint_id": "KN-ABC234", "customer_name": "Trần Văn Bình", "message": DRAFT}, Language.VI)
    assert len(re.findall("Kính gửi", html)) == 1
    assert len(re.findall("Trân trọng", html)) == 1
    assert "Chúng tôi đã thay modem.<br>\nĐường truyền đã ổn định." in html


def test_only_a_greeting_line_and_a_closing_line_are_taken_out() -> None:
    assert letter_body("Dear Mr Binh,\nWe replaced the modem.\n\nBest regards") == "We replaced the modem."
    kept = "Chúng tôi đã thay modem.\nTo be sure, call us."
    assert letter_body(kept) == kept
    assert (
        letter_body("Kính gửi: anh Bình được hỗ trợ miễn phí ba tháng.")
        == "Kính gửi: anh Bình được hỗ trợ miễn phí ba tháng."
    )
