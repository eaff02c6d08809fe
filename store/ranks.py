"""Ranks of the list's sorts as literal SQL (no store imports: the tables' indexes use them)."""

from domain.vocabulary import PRIORITY_ORDER, Stage


def rank_sql(column: str, order: list[str]) -> str:
    """``column``'s values as their rank in ``order`` (else last), as literal SQL: an expression
    index (migration 0011) serves a query only when both spell the expression the same way, so
    the list's sorts and the migration both use these strings, with no bound parameters."""
    whens = " ".join(f"WHEN '{value}' THEN {rank}" for rank, value in enumerate(order))
    return f"CASE {column} {whens} ELSE {len(order)} END"


# The list's sorts by priority (most pressing first) and by stage (in the workflow's order).
PRIORITY_RANK_SQL = rank_sql("priority", [p.value for p in PRIORITY_ORDER])
STAGE_RANK_SQL = rank_sql("stage", [s.value for s in Stage])
