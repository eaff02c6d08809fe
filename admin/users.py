"""The signed-in staff member as the admin sees them; scope rules come from ``domain.access``."""

from dataclasses import dataclass

from domain import access
from domain.models import Actor
from domain.vocabulary import Role
from store.tables import Staff


@dataclass(frozen=True)
class User:
    username: str
    full_name: str
    role: Role
    department: str | None
    language: str
    # A temporary password (an administrator's reset): only the "choose a new password" page opens.
    must_change_password: bool = False

    @property
    def actor(self) -> Actor:
        return Actor(user=self.username, role=self.role, department=self.department)

    @property
    def sees_all(self) -> bool:
        return access.sees_all(self.actor)

    @classmethod
    def of(cls, staff: Staff) -> "User":
        return cls(staff.username, staff.full_name, Role(staff.role), staff.department_code, staff.language,
                   bool(staff.must_change_password))  # fmt: skip
