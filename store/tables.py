"""SQLAlchemy 2 typed ORM models of the store."""

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, load_only, mapped_column
from sqlalchemy.types import TypeDecorator

from store.ranks import PRIORITY_RANK_SQL, STAGE_RANK_SQL


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes stored as UTC and read back aware on every database.

    SQLite has no time zone type: without this, a +07:00 time would be stored as local
    wall-clock digits and read back naive, and ordering by deadline would be wrong.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware (UTC) datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime()}


class Department(Base):
    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))


class RoutingRule(Base):
    __tablename__ = "routing_rules"

    category: Mapped[str] = mapped_column(String(40), primary_key=True)
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"))


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(40))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    title: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(5), default="vi")
    password_hash: Mapped[str | None] = mapped_column(String(500))
    token_hash: Mapped[str | None] = mapped_column(String(500), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Lockout: consecutive failed logins, and the time until which the account refuses logins
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    # Set by an administrator's reset (a temporary password): nothing but choosing a new one until done.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (Index("ix_staff_department_role", "department_code", "role"),)


PRIORITY_RANK, STAGE_RANK = f"({PRIORITY_RANK_SQL})", f"({STAGE_RANK_SQL})"


class Complaint(Base):
    __tablename__ = "complaints"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    intake_key: Mapped[str | None] = mapped_column(String(500), unique=True)
    channel: Mapped[str] = mapped_column(String(20))
    customer_name: Mapped[str] = mapped_column(String(200))
    customer_email: Mapped[str | None] = mapped_column(String(320))
    customer_phone: Mapped[str | None] = mapped_column(String(40))
    customer_address: Mapped[str | None] = mapped_column(String(500))
    # The customer as a key to their other complaints (domain.customer_identity, migration 0010)
    customer_phone_key: Mapped[str | None] = mapped_column(String(40))
    customer_email_key: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(5), default="vi")
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(40))
    priority: Mapped[str] = mapped_column(String(20), default="normal")
    department_code: Mapped[str | None] = mapped_column(String(20))
    # The staff member working on it (a username), if any.
    assignee: Mapped[str | None] = mapped_column(String(100))
    stage: Mapped[str] = mapped_column(String(30))
    outcome: Mapped[str | None] = mapped_column(String(30))
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime]
    deadline: Mapped[datetime]
    # The first-response target and the day-15 warning, for the queues' badges (migration 0010)
    first_response_due: Mapped[datetime | None]
    warned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    root_cause: Mapped[str | None] = mapped_column(Text)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    duplicate_of: Mapped[str | None] = mapped_column(String(20))
    # The conversation (migration 0013): the customer wrote after closing and CS has not acted on
    # it yet, and asked to reopen; when the customer last wrote.
    wrote_after_closing: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    reopen_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    last_customer_message_at: Mapped[datetime | None]
    # The customer's rating of the latest closing they rated (migration 0014; reports chart it)
    satisfaction_score: Mapped[int | None] = mapped_column(Integer)
    satisfaction_comment: Mapped[str | None] = mapped_column(Text)
    satisfaction_at: Mapped[datetime | None]
    # A closed complaint may be reopened until then (migration 0013).
    reopen_until: Mapped[datetime | None]
    # The workflow state version this row reflects; writes only ever move it forward.
    version: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[dict[str, object]] = mapped_column(JSON)
    # Set when a personal data request anonymised the row; projections then leave it alone.
    anonymised_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_complaints_stage_deadline", "stage", "deadline", "id"),
        Index("ix_complaints_department_stage_deadline", "department_code", "stage", "deadline", "id"),
        Index("ix_complaints_received", "received_at", "id"),
        Index("ix_complaints_overdue_deadline", "overdue", "deadline", "id"),
        Index("ix_complaints_category", "category", "received_at", "id"),
        Index("ix_complaints_channel", "channel", "received_at", "id"),
        # the list: each filter with the list's order (migration 0002)
        Index("ix_complaints_stage_received", "stage", "received_at", "id"),
        Index("ix_complaints_department_received", "department_code", "received_at", "id"),
        Index("ix_complaints_overdue_received", "overdue", "received_at", "id"),
        # the list's other sorts (migration 0011)
        Index("ix_complaints_deadline", "deadline", "id"),
        Index("ix_complaints_department_deadline", "department_code", "deadline", "id"),
        Index("ix_complaints_priority_rank", text(PRIORITY_RANK), "deadline", "id"),
        Index("ix_complaints_department_priority_rank", "department_code", text(PRIORITY_RANK), "deadline", "id"),
        Index("ix_complaints_assignee_priority_rank", "assignee", text(PRIORITY_RANK), "deadline", "id"),
        Index("ix_complaints_stage_rank", text(STAGE_RANK), "deadline", "id"),
        Index("ix_complaints_department_stage_rank", "department_code", text(STAGE_RANK), "deadline", "id"),
        # the customer's history, duplicates, and the "to verify" queue (migration 0010)
        Index("ix_complaints_phone_key", "customer_phone_key", "received_at", "id"),
        Index("ix_complaints_email_key", "customer_email_key", "received_at", "id"),
        Index("ix_complaints_duplicate_of", "duplicate_of", "received_at", "id"),
        Index("ix_complaints_stage_first_response", "stage", "first_response_due", "id"),
        # satisfaction over time (migration 0014)
        Index("ix_complaints_satisfaction_at", "satisfaction_at", "satisfaction_score"),
        # "Assigned to me", by due time (migration 0008)
        Index("ix_complaints_assignee_stage_deadline", "assignee", "stage", "deadline", "id"),
        # CS's "wrote after closing" queue, the latest first (migration 0013)
        Index("ix_complaints_wrote_after_closing", "wrote_after_closing", "stage", "last_customer_message_at", "id"),
    )


# What a list of complaints shows (the API's summary, the list pages): the state document and
# the texts stay in the database, and reading one of them by mistake raises instead of loading.
LISTED = load_only(
    Complaint.id, Complaint.channel, Complaint.customer_name, Complaint.subject, Complaint.category,
    Complaint.department_code, Complaint.stage, Complaint.overdue, Complaint.escalation_level,
    Complaint.received_at, Complaint.deadline, Complaint.priority, Complaint.first_response_due, Complaint.warned,
    Complaint.assignee, Complaint.wrote_after_closing, Complaint.reopen_requested,
    Complaint.last_customer_message_at, raiseload=True,
)  # fmt: skip


class ComplaintLog(Base):
    """Nhật ký xử lý khiếu nại: one row per step or decision, who did what when."""

    __tablename__ = "complaint_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(ForeignKey("complaints.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(40))
    actor_user: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str] = mapped_column(String(40))
    actor_department: Mapped[str | None] = mapped_column(String(20))
    stage_after: Mapped[str] = mapped_column(String(30))
    detail: Mapped[dict[str, object]] = mapped_column(JSON)
    # Tamper evidence (domain.audit_chain). Append-only: database triggers refuse deletes and
    # any update except redacting ``detail`` (which keeps ``detail_digest``).
    detail_digest: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    redacted_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("complaint_id", "seq", name="uq_complaint_log_seq"),)


class HistoryArchive(Base):
    """A completed workflow's full history, kept after Temporal's retention deletes it.

    Stored as Temporal exported it (payloads still encrypted), with its SHA-256.
    """

    __tablename__ = "history_archive"

    complaint_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64))
    closed_at: Mapped[datetime | None]
    archived_at: Mapped[datetime]
    event_count: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    history_json: Mapped[str] = mapped_column(Text)


class StaffSession(Base):
    """A browser session: the cookie carries a random id, the store its hash (revocable)."""

    __tablename__ = "staff_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class DataRequest(Base):
    """Personal data requests (Law 91/2025/QH15 on personal data protection and Decree
    356/2025/ND-CP, in force 1 January 2026): who asked what for which complaint."""

    __tablename__ = "data_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(String(20), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # "anonymise"
    requested_by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    done_at: Mapped[datetime]
    detail: Mapped[dict[str, object]] = mapped_column(JSON)


class Lesson(Base):
    """The lessons register (step 05): root cause and lessons of each closed complaint."""

    __tablename__ = "lessons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(ForeignKey("complaints.id"))
    seq: Mapped[int] = mapped_column(Integer)
    department_code: Mapped[str | None] = mapped_column(String(20))
    category: Mapped[str | None] = mapped_column(String(40))
    root_cause: Mapped[str] = mapped_column(Text)
    lessons_learned: Mapped[str] = mapped_column(Text)
    preventive_action: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("complaint_id", "seq", name="uq_lessons_seq"),)


class Letter(Base):
    """A supervisor-signed written reply, issued as a print-ready document."""

    __tablename__ = "letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(ForeignKey("complaints.id"))
    seq: Mapped[int] = mapped_column(Integer)
    signer: Mapped[str] = mapped_column(String(100))
    signed_at: Mapped[datetime]
    html: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("complaint_id", "seq", name="uq_letters_seq"),)


class OutboxMail(Base):
    """Mail outbox: one row per deterministic Message-ID, delivered at most once."""

    __tablename__ = "mail_outbox"

    message_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    complaint_id: Mapped[str] = mapped_column(String(20), index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    recipients: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(String(500))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class ComplaintKey(Base):
    """A complaint's data key (envelope encryption), wrapped by a master key. Anonymising the
    complaint shreds it: ``wrapped_key`` goes, ``shredded_at`` stays, and nothing encrypted
    under it can be read again (encryption/payload_codec.py)."""

    __tablename__ = "complaint_keys"

    complaint_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    kek_id: Mapped[str] = mapped_column(String(100))
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    shredded_at: Mapped[datetime | None]


class PublicToken(Base):
    """A link to a complaint's public status page (issue 14): the store keeps the token's
    SHA-256 only. ``purpose``: "mail" (sent in a customer mail), "form" (the web form's answer) or
    "lookup" (mailed again on the customer's request, the public lookup page).
    Revoked by staff or when the complaint is anonymised."""

    __tablename__ = "public_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(String(20), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(100))


class SavedView(Base):
    """A staff member's named view of the complaint list: its filters and sort, as the list's
    query string (only the list's own parameters; see admin/services/views.py)."""

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("username", "name", name="uq_saved_views_username_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime]


class CannedReply(Base):
    """A template of reply text (domain/canned_replies.py), in one language, offered on the
    complaints of its category and department (``None``: every category / every department).
    Managers and administrators keep them; a template holds no personal data."""

    __tablename__ = "canned_replies"
    __table_args__ = (Index("ix_canned_replies_offered", "language", "active", "category", "department_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(5))
    category: Mapped[str | None] = mapped_column(String(40))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime]


class InboundMail(Base):
    """What the mail intake (IMAP poll, SMTP gateway) made of each message, once per intake key
    (Message-ID or content hash): a second delivery of the same key finds this row. Holds no
    content, only ids and short codes; the complaint keeps the text."""

    __tablename__ = "mail_inbox"

    intake_key: Mapped[str] = mapped_column(String(520), primary_key=True)
    source: Mapped[str] = mapped_column(String(10))  # imap, smtp
    # filed, threaded, bounce, noise, oversized, refused, poison
    outcome: Mapped[str] = mapped_column(String(20))
    complaint_id: Mapped[str | None] = mapped_column(String(20), index=True)
    reason: Mapped[str] = mapped_column(String(60))  # a short code (parse_mail's reason, an error class)
    taken_at: Mapped[datetime]


class WebhookDelivery(Base):
    """A signed webhook request already taken (issue 14): the SHA-256 of its signature, kept as
    long as its timestamp is acceptable, so the same request replayed within that window is refused."""

    __tablename__ = "webhook_deliveries"

    signature_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(index=True)
