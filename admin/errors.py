"""Errors the service layer raises; the API turns them into {"error", "message"} with a status."""

from typing import Any

from pydantic import ValidationError

from domain.transitions import HTTP_STATUS, Refusal, RefusalCode


class ServiceError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        problem: dict[str, Any] | None = None,
        page: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        # What a page says instead of ``message``: a msgid of the catalogue and its values.
        self.page = page
        # What was wrong with ``field``, for the pages to say in the user's language
        # (a pydantic error's type and context: admin.forms.field_problem).
        self.problem = problem

    @classmethod
    def invalid(cls, exc: ValidationError) -> "ServiceError":
        """422 naming the first invalid field of a pydantic validation error."""
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or None
        context = error.get("ctx") or {}
        problem = {"type": error["type"], **{k: v for k, v in context.items() if k != "error"}}
        if "error" in context:  # a model's own rule: its message says which (admin.forms.RULES)
            problem["message"] = str(context["error"])
        return cls(422, "invalid", f"{field or 'body'}: {error['msg']}", field=field, problem=problem)

    @classmethod
    def refused(cls, refusal: Refusal) -> "ServiceError":
        return cls(HTTP_STATUS[refusal.code], refusal.code.value, refusal.message)

    @classmethod
    def from_code(cls, code: str, message: str) -> "ServiceError":
        try:
            return cls(HTTP_STATUS[RefusalCode(code)], code, message)
        except ValueError:
            return cls(409, code or "refused", message)


def not_found(complaint_id: str) -> ServiceError:
    return ServiceError(
        404, "not_found", f"no complaint {complaint_id}", page=("There is no complaint %(id)s.", {"id": complaint_id})
    )


def no_access(complaint_id: str) -> ServiceError:
    page = ("Complaint %(id)s is handled by another department: you do not have access to it.", {"id": complaint_id})
    return ServiceError(403, "no_access", f"you have no access to complaint {complaint_id}", page=page)


UNAVAILABLE = ServiceError(503, "unavailable", "the workflow service is unavailable; nothing was applied, try again")
STORE_UNAVAILABLE = ServiceError(503, "unavailable", "the complaint store is unavailable; try again in a moment")
OUTCOME_UNKNOWN = ServiceError(
    503,
    "outcome_unknown",
    "the workflow service went away during the decision; it may have been applied: reload the complaint before "
    "trying again",
)
FILING_UNKNOWN = ServiceError(
    503,
    "outcome_unknown",
    "the workflow service went away while filing; it may have been filed: send it again with the same "
    "Idempotency-Key (it is never filed twice)",
)
