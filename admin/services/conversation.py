"""The conversation with the customer as the complaint page shows it: each message with its
quoted history and signature trimmed (the full text kept, to expand), and each mail we sent
beside its outbox copy (subject, delivery status)."""

from dataclasses import dataclass

from correspondence.quoting import trim_quoted
from domain.models import ComplaintState, Direction, Message
from store.tables import OutboxMail


@dataclass(frozen=True)
class ConversationEntry:
    message: Message
    shown: str  # the customer's own words (or our reply's text)
    trimmed: bool  # ``shown`` left something out: the page offers the full text
    mail: OutboxMail | None = None  # an outgoing mail's copy in the outbox

    @property
    def incoming(self) -> bool:
        return self.message.direction is Direction.IN


def conversation(state: ComplaintState, mails: list[OutboxMail]) -> list[ConversationEntry]:
    """Oldest first. A mail is found by the Message-ID its step gave it (complaint, log entry, purpose)."""
    by_key = {(m.message_id.split("@")[0].lstrip("<")): m for m in mails}
    entries = []
    for message in state.messages:
        if message.direction is Direction.IN:
            trimmed = trim_quoted(message.text)
            entries.append(ConversationEntry(message, trimmed.shown, trimmed.trimmed))
        else:
            mail = by_key.get(f"{state.complaint_id}.{message.seq}.{message.purpose}")
            entries.append(ConversationEntry(message, message.text, False, mail))
    return entries
