"""Looking staff up for signing in and for the current user: active accounts only."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.tables import Staff


class StaffDirectory:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def active_by_username(self, username: str) -> Staff | None:
        found: Staff | None = await self.session.scalar(select(Staff).where(Staff.username == username, Staff.active))
        return found

    async def active_by_token_hash(self, token_hash: str) -> Staff | None:
        found: Staff | None = await self.session.scalar(
            select(Staff).where(Staff.token_hash == token_hash, Staff.active)
        )
        return found

    async def set_language(self, username: str, lang: str) -> None:
        staff = await self.session.scalar(select(Staff).where(Staff.username == username))
        if staff is not None:
            staff.language = lang
            await self.session.commit()

    async def set_password(self, staff: Staff, password_hash: str) -> None:
        """The person's own choice: a temporary password's requirement ends."""
        staff.password_hash, staff.must_change_password = password_hash, False
        await self.session.commit()

    async def commit(self) -> None:
        await self.session.commit()
