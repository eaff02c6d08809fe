"""The workflow reads as the company's procedure: its first screen names the seed's five steps
and every decision of the transition table, and every decision has its effects in the table."""

from pathlib import Path

from domain.effects import DECISION_EFFECTS, TIMER_EFFECTS
from domain.lifecycle import TimerKind
from domain.transitions import TRANSITIONS

SCREEN = 40  # lines: one screen of a laptop's editor
WORKFLOW = Path(__file__).resolve().parent.parent / "workflows" / "complaint.py"


def test_the_first_screen_of_the_workflow_names_the_five_steps_and_every_decision() -> None:
    screen = "\n".join(WORKFLOW.read_text(encoding="utf-8").splitlines()[:SCREEN])
    for step in ("01 Receive", "02 Check", "03 Handle", "04 Answer", "05 Close", "20 days"):
        assert step in screen, step
    for decision in TRANSITIONS:
        assert f"``{decision}``" in screen, decision


def test_every_decision_and_timer_has_its_effects() -> None:
    assert set(DECISION_EFFECTS) == set(TRANSITIONS)
    assert set(TIMER_EFFECTS) == set(TimerKind) - {TimerKind.REOPEN_WINDOW_END}
