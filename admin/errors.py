"""Errors the service layer raises; the API turns them into {"error", "message"} with a status."""

from pydantic import ValidationError

from domain.transitions import HTTP_STATUS, Refusal, RefusalCode


class ServiceError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    @classmethod
    def invalid(cls, exc: ValidationError) -> "ServiceError":
        """422 naming the first invalid field of a pydantic validation error."""
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or None
        return cls(422, "invalid", f"{field or 'body'}: {error['msg']}", field=field)

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
    return ServiceError(404, "not_found", f"no complaint {complaint_id}")


def no_access(complaint_id: str) -> ServiceError:
    return ServiceError(403, "no_access", f"you have no access to complaint {complaint_id}")


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
