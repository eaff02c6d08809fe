"""Pure domain rules: ids, the SLA calendar (Tết included), the transition table, the timers."""

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from domain.ids import ALPHABET, complaint_id_for, is_complaint_id
from domain.lifecycle import TimerKind, apply_decision, apply_timer, new_state, next_timer
from domain.models import (
    ComplaintIntake,
    ComplaintStart,
    ComplaintState,
    Customer,
    Decide,
    Reopen,
    Reply,
    Resolve,
    SignReply,
    Verify,
)
from domain.sla import VN_TZ, CalendarKind, SlaPolicy, vn_holidays
from domain.transitions import NO_EMAIL_FOR_REPLY, TRANSITIONS, Refusal, RefusalCode, available_decisions, check
from domain.vocabulary import Category, Channel, ReplyMethod, Role, Stage
from tests.journey import ADMIN, CS, MANAGER, TECH, TECH_SUP

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def fresh(
    channel: Channel = Channel.EMAIL, policy: SlaPolicy | None = None, email: str | None = "an@example.vn"
) -> ComplaintState:
    intake = ComplaintIntake(
        channel=channel, customer=Customer(name="An", email=email, address="1 Lê Lợi"), body="Mạng chậm"
    )
    return new_state(
        ComplaintStart(complaint_id="KN-ABCDEF", intake=intake, received_at=T0, policy=policy or SlaPolicy())
    )


def code_of(refusal: Refusal | None) -> RefusalCode | None:
    return refusal.code if refusal else None


def test_ids_are_readable_deterministic_and_distinct() -> None:
    cid = complaint_id_for("<abc@mail>")
    assert is_complaint_id(cid) and cid == complaint_id_for("<abc@mail>")
    assert complaint_id_for("<abc@mail>", 1) != cid
    assert not set("01ILOU") & set(ALPHABET)
    assert len({complaint_id_for(str(i)) for i in range(5000)}) == 5000


def test_working_days_cross_tet_2027() -> None:
    policy = SlaPolicy(calendar=CalendarKind.VN_WORKING_DAYS, holidays=vn_holidays([2027]))
    # Tết 2027: 4-10 February are holidays (Thu-Wed) on top of the weekends.
    assert {date(2027, 2, d) for d in range(4, 11)} <= set(policy.holidays)
    received = datetime(2027, 1, 25, 9, 0, tzinfo=VN_TZ)  # Monday
    # 26-29 Jan (4), 1-3 Feb (7), Tết skipped, 11-12 Feb (9), 15-19 (14), 22-26 (19), 1 Mar (20)
    assert policy.add(received, timedelta(days=20)) == datetime(2027, 3, 1, 9, 0, tzinfo=VN_TZ)
    assert policy.add(received, timedelta(days=20)) - received == timedelta(days=35)
    # seconds-long durations are added as they are (to watch timers live)
    assert policy.add(received, timedelta(seconds=60)) == received + timedelta(seconds=60)


def test_calendar_days_are_plain() -> None:
    assert SlaPolicy().add(T0, timedelta(days=20)) == T0 + timedelta(days=20)


def test_policy_parses_iso_durations() -> None:
    policy = SlaPolicy.model_validate({"resolution": "PT60S", "warning": "PT30S", "calendar": "calendar"})
    assert policy.resolution == timedelta(seconds=60) and policy.warning == timedelta(seconds=30)


def test_every_transition_names_roles_and_stages() -> None:
    for name, t in TRANSITIONS.items():
        assert t.roles and t.from_stages, name
        assert Role.ADMIN not in t.roles  # admin configures, decides nothing


def test_check_refusals() -> None:
    state = fresh()
    verify = Verify(actor=CS, summary="x", category=Category.TECHNICAL)
    assert check("verify", verify, state, T0) is None
    assert code_of(check("verify", verify.model_copy(update={"actor": ADMIN}), state, T0)) is RefusalCode.WRONG_ROLE
    resolve = Resolve(actor=TECH, cause="c", resolution="r", within_authority=True, reply_draft="d")
    assert code_of(check("resolve", resolve, state, T0)) is RefusalCode.WRONG_STAGE
    routed = state.model_copy(update={"stage": Stage.IN_PROGRESS, "department": "TECH"})
    assert check("resolve", resolve, routed, T0) is None
    billing = routed.model_copy(update={"department": "BILLING"})
    assert code_of(check("resolve", resolve, billing, T0)) is RefusalCode.WRONG_DEPARTMENT
    assert code_of(check("verify", verify, routed, T0)) is RefusalCode.WRONG_STAGE
    assert code_of(check("nope", verify, state, T0)) is RefusalCode.UNKNOWN_DECISION


def test_missing_and_empty_fields_are_invalid() -> None:
    with pytest.raises(ValidationError):
        Verify.model_validate({"actor": CS.model_dump(), "summary": "  ", "category": "technical"})
    with pytest.raises(ValidationError):
        Verify.model_validate({"actor": CS.model_dump(), "summary": "x", "category": "unknown"})
    with pytest.raises(ValidationError):
        SignReply(actor=TECH_SUP, approved=False)  # a refusal needs its reason
    with pytest.raises(ValidationError):
        Decide.model_validate({"actor": TECH_SUP.model_dump(), "decision": "reroute", "instructions": "x"})
    with pytest.raises(ValidationError):
        ComplaintIntake(channel=Channel.EMAIL, customer=Customer(name="An"), body="x")


def test_a_reply_by_email_needs_the_customers_email() -> None:
    """Accepted, a reply by e-mail to a customer without an address was recorded as sent while no
    mail could go out: it is refused as invalid, and every other method still goes through."""
    ready = {"stage": Stage.READY_TO_REPLY, "department": "TECH"}
    no_email = fresh(Channel.PHONE, email=None).model_copy(update=ready)
    by_email = Reply(actor=CS, method=ReplyMethod.EMAIL, message="Đã khắc phục")
    refusal = check("reply", by_email, no_email, T0)
    assert refusal is not None and refusal.code is RefusalCode.INVALID and refusal.message == NO_EMAIL_FOR_REPLY
    for method in set(ReplyMethod) - {ReplyMethod.EMAIL}:
        assert check("reply", by_email.model_copy(update={"method": method}), no_email, T0) is None, method
    assert check("reply", by_email, fresh(Channel.PHONE).model_copy(update=ready), T0) is None


def test_available_decisions_follow_the_table() -> None:
    state = fresh(Channel.IN_PERSON)
    cs_decisions = {"verify", "reject", "resolve_on_spot", "note", "assign", "customer_message"}
    assert set(available_decisions(CS, state, T0)) == cs_decisions
    assert available_decisions(ADMIN, state, T0) == []
    assert "resolve_on_spot" not in available_decisions(CS, fresh(Channel.EMAIL), T0)
    assert set(available_decisions(MANAGER, state, T0)) == {"reject", "note", "assign"}


def test_timers_in_order_and_reopen_resets_the_bound() -> None:
    policy = SlaPolicy()
    state = fresh()
    assert next_timer(state, policy) == (TimerKind.FIRST_RESPONSE, T0 + timedelta(days=1))
    state = apply_timer(state, TimerKind.FIRST_RESPONSE, T0 + timedelta(days=1))
    assert next_timer(state, policy) == (TimerKind.WARNING, T0 + timedelta(days=15))
    state = apply_timer(state, TimerKind.WARNING, T0 + timedelta(days=15))
    assert next_timer(state, policy) == (TimerKind.BREACH, T0 + timedelta(days=20))
    state = apply_timer(state, TimerKind.BREACH, T0 + timedelta(days=20))
    assert (state.overdue, state.escalation_level) == (True, 1)
    assert next_timer(state, policy) == (TimerKind.BREACH, T0 + timedelta(days=21))

    closed = state.model_copy(
        update={"stage": Stage.CLOSED, "closed_at": T0 + timedelta(days=22), "reopen_until": T0 + timedelta(days=52)}
    )
    assert next_timer(closed, policy) == (TimerKind.REOPEN_WINDOW_END, T0 + timedelta(days=52))
    now = T0 + timedelta(days=30)
    reopened = apply_decision(closed, "reopen", Reopen(actor=CS, reason="chưa ổn"), now, policy)
    assert (reopened.stage, reopened.deadline, reopened.overdue) == (Stage.ESCALATED, now + timedelta(days=20), False)
    assert reopened.escalation_level >= 1 and reopened.reopen_count == 1
    late = T0 + timedelta(days=53)
    assert code_of(check("reopen", Reopen(actor=CS, reason="x"), closed, late)) is RefusalCode.REOPEN_WINDOW_CLOSED


def test_a_later_receipt_never_gets_an_earlier_working_day_deadline() -> None:
    """Under Vietnamese working days, deadlines grow with the receipt time, weekends and Tết
    included (a Sunday receipt at 04:00 once got an earlier deadline than Friday's at 07:00)."""
    from datetime import UTC, datetime, timedelta

    from domain.sla import CalendarKind, SlaPolicy, vn_holidays

    policy = SlaPolicy(calendar=CalendarKind.VN_WORKING_DAYS, holidays=vn_holidays([2025, 2026]))
    start = datetime(2024, 12, 27, tzinfo=UTC)
    previous = policy.add(start, timedelta(days=20))
    for hours in range(1, 24 * 60):
        deadline = policy.add(start + timedelta(hours=hours), timedelta(days=20))
        assert deadline >= previous, start + timedelta(hours=hours)
        previous = deadline
    friday, sunday = datetime(2025, 1, 3, 0, 0, tzinfo=UTC), datetime(2025, 1, 4, 21, 0, tzinfo=UTC)
    assert policy.add(sunday, timedelta(days=20)) > policy.add(friday, timedelta(days=20))
