"""Reference data for Lửa Rồng: departments, routing rules and the staff directory.

Names and titles use the terms of docs/glossary.md (a department is a "bộ phận").

Seeding only adds what is missing, so edits made by staff are never overwritten.
"""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from domain.vocabulary import DEFAULT_ROUTING, Role
from store.projection import dialect_insert
from store.tables import Department, RoutingRule, Staff

DEPARTMENTS = [
    ("CS", "Dịch vụ khách hàng", "Customer Service", "cskh@luarong.vn"),
    ("TECH", "Kỹ thuật", "Technical", "kythuat@luarong.vn"),
    ("BILLING", "Cước phí và thanh toán", "Billing", "ketoan@luarong.vn"),
    ("SALES", "Kinh doanh", "Sales", "kinhdoanh@luarong.vn"),
]


@dataclass(frozen=True)
class SeedStaff:
    username: str
    full_name: str
    role: Role
    department: str | None
    title: str


STAFF = [
    SeedStaff("lan.cs", "Nguyễn Thị Lan", Role.CS_AGENT, "CS", "Nhân viên Dịch vụ khách hàng"),
    SeedStaff("hoa.cs", "Võ Thị Hoa", Role.CS_AGENT, "CS", "Nhân viên Dịch vụ khách hàng"),
    SeedStaff("hung.cs", "Trần Văn Hùng", Role.SUPERVISOR, "CS", "Trưởng bộ phận Dịch vụ khách hàng"),
    SeedStaff("minh.tech", "Lê Quang Minh", Role.DEPARTMENT_STAFF, "TECH", "Kỹ sư hỗ trợ"),
    SeedStaff("tuan.tech", "Phạm Anh Tuấn", Role.SUPERVISOR, "TECH", "Trưởng bộ phận Kỹ thuật"),
    SeedStaff("ha.billing", "Đỗ Thu Hà", Role.DEPARTMENT_STAFF, "BILLING", "Chuyên viên Cước phí và thanh toán"),
    SeedStaff("thu.billing", "Bùi Minh Thư", Role.SUPERVISOR, "BILLING", "Trưởng bộ phận Cước phí và thanh toán"),
    SeedStaff("nam.sales", "Hoàng Văn Nam", Role.DEPARTMENT_STAFF, "SALES", "Nhân viên Kinh doanh"),
    SeedStaff("phuong.sales", "Ngô Thị Phương", Role.SUPERVISOR, "SALES", "Trưởng bộ phận Kinh doanh"),
    SeedStaff("khoa.cs", "Đặng Văn Khoa", Role.DEPARTMENT_STAFF, "CS", "Chuyên viên Dịch vụ khách hàng"),
    SeedStaff("quang.manager", "Lý Minh Quang", Role.MANAGER, None, "Giám đốc vận hành"),
    SeedStaff("admin", "Quản trị hệ thống", Role.ADMIN, None, "Quản trị hệ thống"),
]


def staff_email(username: str, domain: str = "luarong.vn") -> str:
    return f"{username}@{domain}"


async def seed_reference_data(session: AsyncSession) -> None:
    for code, name_vi, name_en, email in DEPARTMENTS:
        await session.execute(
            dialect_insert(session, Department)
            .values(code=code, name_vi=name_vi, name_en=name_en, email=email)
            .on_conflict_do_nothing(index_elements=["code"])
        )
    for category, department in DEFAULT_ROUTING.items():
        await session.execute(
            dialect_insert(session, RoutingRule)
            .values(category=category.value, department_code=department)
            .on_conflict_do_nothing(index_elements=["category"])
        )
    for person in STAFF:
        await session.execute(
            dialect_insert(session, Staff)
            .values(
                username=person.username,
                full_name=person.full_name,
                email=staff_email(person.username),
                role=person.role.value,
                department_code=person.department,
                title=person.title,
                language="vi",
                active=True,
            )
            .on_conflict_do_nothing(index_elements=["username"])
        )
