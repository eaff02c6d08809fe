"""The inbound SMTP gateway (aiosmtpd): an MX or a mail relay forwards complaints' mail to it.

    python -m intake.smtp_gateway      # COMPLAINTS_INBOUND_SMTP_HOST / _PORT

Each message accepted at DATA goes through the same intake as the mailbox poll
(intake.mail_intake) before the gateway answers: 250 only once it is filed (a complaint's
workflow started, which Temporal keeps), threaded, marked or recorded. Anything that fails
answers 451, so the sending server keeps the message and tries again; a message seen before is
answered 250 with nothing done again (its intake key finds the first outcome). So an accepted
message is never lost, and a retried one is never filed twice.

Oversized messages are refused in the protocol (552, with the limit), unusable senders with
550: the sending server returns the message to its sender with that reason.
"""

import asyncio
import logging
import signal
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from config.settings import Settings, get_settings, private_umask
from intake.mail_intake import MailIntake, Outcome
from store.engine import make_engine, make_sessionmaker
from temporal_client.connection import connect

log = logging.getLogger("smtp_gateway")
SOURCE = "smtp"


class IntakeHandler:
    """aiosmtpd's handler: ``handle_DATA`` answers once the message is taken in."""

    def __init__(self, intake: MailIntake) -> None:
        self.intake = intake

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):  # decode_data is off: always bytes; never take text apart
            return "451 4.3.0 Temporary failure, please try again later"
        try:
            taken = await self.intake.take_in(raw, SOURCE)
        except Exception as exc:  # the class only: an error's text can quote the message
            log.error("Inbound mail not taken in (%s); the sender was asked to try again", type(exc).__name__)
            return "451 4.3.0 Temporary failure, please try again later"
        if taken.outcome is Outcome.OVERSIZED:
            limit = self.intake.settings.message_max_bytes
            return f"552 5.3.4 Message too big: the limit is {limit // 1_048_576} MB"
        if taken.outcome is Outcome.REFUSED:
            return "550 5.1.7 No usable sender address: a complaint needs an address to answer"
        return "250 2.0.0 Accepted"


def gateway_server(handler: IntakeHandler, settings: Settings) -> SMTP:
    return SMTP(
        handler,
        data_size_limit=settings.message_max_bytes,
        enable_SMTPUTF8=True,
        decode_data=False,
        hostname=settings.mail_domain,
        ident="complaints intake",
    )


async def serve(client: Client, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> asyncio.Server:
    """Listen on COMPLAINTS_INBOUND_SMTP_HOST:_PORT (port 0: a free one) in this event loop."""
    handler = IntakeHandler(MailIntake(client, sessions, settings))
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: gateway_server(handler, settings), settings.inbound_smtp_host, settings.inbound_smtp_port
    )


def bound_port(server: asyncio.Server) -> int:
    sockets: Any = server.sockets
    return int(sockets[0].getsockname()[1])


async def main() -> None:
    private_umask()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    sessions = make_sessionmaker(engine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    client = await connect(settings, sessions)
    server = await serve(client, sessions, settings)
    log.info("Inbound SMTP gateway on %s:%d", settings.inbound_smtp_host, bound_port(server))
    await stop.wait()
    server.close()
    await server.wait_closed()  # sessions under way finish their answer first
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
