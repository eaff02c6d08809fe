"""Build and send mail over SMTP (aiosmtplib), with errors sorted into "try again" and "never".

``MailUnavailable`` means the message is fine but could not be handed over now (server down,
timeout, 4xx, wrong credentials or TLS setup): a Temporal activity should retry it.
``MailRejected`` means the server refused this message for good (5xx for the recipients, the
sender or the content): retrying the same message will not help, so it should not be retried.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses

import aiosmtplib
from aiosmtplib.email import extract_sender, flatten_message
from aiosmtplib.response import SMTPResponse
from email_validator import EmailNotValidError, validate_email

from config.settings import Settings

log = logging.getLogger(__name__)


class MailUnavailable(Exception):
    """The SMTP server cannot be reached or refused temporarily; sending again later may work."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class MailRejected(Exception):
    """The SMTP server refused the message for good (5xx); sending it again will not help."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def build_message(
    *,
    sender: str,
    to: list[str],
    subject: str,
    text: str,
    html: str,
    message_id: str,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A UTF-8 ``multipart/alternative`` message (plain text first, then HTML).

    ``message_id`` is used verbatim (``<KN-ABC234.ack.1@luarong.vn>``), so a retried send
    carries the same id and the receiving side can recognise the duplicate. ``headers`` adds
    further headers (``In-Reply-To``, ``References``, ``Auto-Submitted``, ...).
    """
    if not to:
        raise ValueError("a mail needs at least one recipient")
    if not (message_id.startswith("<") and message_id.endswith(">") and "@" in message_id):
        raise ValueError(f"Message-ID must look like <local@domain>, got {message_id!r}")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = " ".join(subject.split())  # no line breaks can reach a header
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name} must not contain line breaks")
        if name in message:
            message.replace_header(name, value)
        else:
            message[name] = value
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    for part in message.iter_parts():
        del part["MIME-Version"]  # only the top level carries it
    return message


def _recipients(message: EmailMessage) -> list[str]:
    fields = [str(value) for name in ("To", "Cc", "Bcc") for value in message.get_all(name, [])]
    return [address for _, address in getaddresses(fields) if address]


class _NeedsSmtpUtf8(Exception):
    """An address has a non-ASCII local part and the server does not offer SMTPUTF8."""


def _envelope_address(address: str) -> tuple[str, bool]:
    """The address as it goes into the SMTP envelope, and whether it needs SMTPUTF8.

    An IDN domain alone is sent as punycode (any server takes it); only a non-ASCII local part
    needs SMTPUTF8 (RFC 6531). Raises ``EmailNotValidError`` for an address that is neither.
    """
    if address.isascii():
        return address, False
    valid = validate_email(address, check_deliverability=False)
    if valid.ascii_email:
        return valid.ascii_email, False
    return valid.normalized, True


def _ascii_address_headers(message: EmailMessage) -> None:
    """Without SMTPUTF8 a header cannot carry a Unicode domain (an encoded word there is
    invalid): write the recipients' domains as punycode, keeping the display names."""
    for name in ("To", "Cc"):
        values = [str(value) for value in message.get_all(name, [])]
        if not values or all(value.isascii() for value in values):
            continue
        addresses = [
            str(Address(display_name=display, addr_spec=_envelope_address(address)[0]))
            for display, address in getaddresses(values)
            if address
        ]
        del message[name]
        message[name] = ", ".join(addresses)


def _classify(code: int, text: str) -> MailUnavailable | MailRejected:
    return MailUnavailable(text, code) if 400 <= code < 500 else MailRejected(text, code)


class _HookFailed(Exception):
    """``before_data`` failed (the caller's own problem, e.g. its database): not a mail error."""


async def _transact(
    settings: Settings, message: EmailMessage, before_data: Callable[[], Awaitable[None]] | None
) -> dict[str, SMTPResponse]:
    """One SMTP transaction, step by step so that ``before_data`` runs just before DATA: the
    only step after which the server may have the mail."""
    client = aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password if settings.smtp_username else None,
        use_tls=settings.smtp_tls,
        start_tls=settings.smtp_starttls and not settings.smtp_tls,
        timeout=settings.smtp_timeout,
        local_hostname=settings.mail_domain or None,
    )
    sender, sender_utf8 = _envelope_address(extract_sender(message) or "")
    envelope = [_envelope_address(recipient) for recipient in _recipients(message)]
    utf8 = sender_utf8 or any(needs for _, needs in envelope)
    async with client:
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        if utf8 and not client.supports_extension("smtputf8"):
            raise _NeedsSmtpUtf8()
        if not utf8:
            _ascii_address_headers(message)
        encoding = "utf-8" if utf8 else "ascii"
        await client.mail(sender, options=["SMTPUTF8"] if utf8 else None, encoding=encoding)
        refused: dict[str, SMTPResponse] = {}
        recipients = [address for address, _ in envelope]
        for recipient in recipients:
            try:
                await client.rcpt(recipient, encoding=encoding)
            except aiosmtplib.SMTPRecipientRefused as error:
                refused[recipient] = SMTPResponse(error.code, error.message)
        if len(refused) == len(recipients):
            raise aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(r.code, r.message, a) for a, r in refused.items()]
            )
        if before_data is not None:
            try:
                await before_data()
            except Exception as error:
                raise _HookFailed() from error
        del message["Bcc"]
        await client.data(flatten_message(message, utf8=utf8))
    return refused


async def send_message(
    settings: Settings, message: EmailMessage, before_data: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Hand ``message`` to the configured SMTP server.

    ``before_data`` is awaited once the recipients are accepted, just before the message is
    transferred: a sender records there that the mail may have left (see ``deliver_mail``).

    Raises ``MailUnavailable`` (retry later) or ``MailRejected`` (do not retry); never a raw
    network or aiosmtplib error. A message accepted for some recipients and refused for others
    counts as sent (resending would duplicate it for those who got it); the refusals are logged.
    """
    message_id = message.get("Message-ID", "")
    if not _recipients(message):
        raise MailRejected(f"mail {message_id} has no recipients")
    try:
        refused = await _transact(settings, message, before_data)
    except _HookFailed as failed:
        raise failed.__cause__ from None  # type: ignore[misc]
    except _NeedsSmtpUtf8 as error:
        text = f"mail {message_id}: an address needs SMTPUTF8, which the SMTP server does not offer"
        raise MailRejected(text) from error
    except (EmailNotValidError, UnicodeError) as error:
        # The same message would fail the same way on every attempt.
        raise MailRejected(f"mail {message_id} cannot be sent: {error}") from error
    except aiosmtplib.SMTPRecipientsRefused as error:
        codes = [refusal.code for refusal in error.recipients]
        detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
        if codes and all(400 <= code < 500 for code in codes):
            raise MailUnavailable(f"recipients deferred for {message_id}: {detail}", min(codes)) from error
        raise MailRejected(f"recipients refused for {message_id}: {detail}", max(codes, default=None)) from error
    except aiosmtplib.SMTPAuthenticationError as error:
        # The message is fine; the credentials are not. Retry once an operator fixed them.
        raise MailUnavailable(f"SMTP authentication failed ({error.code} {error.message})", error.code) from error
    except aiosmtplib.SMTPConnectResponseError as error:
        text = f"SMTP server refused the connection: {error.code} {error.message}"
        raise MailUnavailable(text, error.code) from error
    except (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPDataError) as error:
        raise _classify(error.code, f"mail {message_id} refused: {error.code} {error.message}") from error
    except aiosmtplib.SMTPResponseException as error:
        raise _classify(error.code, f"SMTP error for {message_id}: {error.code} {error.message}") from error
    except aiosmtplib.SMTPNotSupported as error:
        # e.g. STARTTLS or AUTH configured but not offered: a setup problem, not the message's.
        raise MailUnavailable(f"SMTP server does not support what is configured: {error.message}") from error
    except aiosmtplib.SMTPException as error:
        # Connect errors, timeouts, disconnects.
        raise MailUnavailable(f"SMTP server {settings.smtp_host}:{settings.smtp_port} unavailable: {error}") from error
    except (TimeoutError, OSError) as error:
        raise MailUnavailable(
            f"SMTP server {settings.smtp_host}:{settings.smtp_port} unavailable: {error!r}"
        ) from error
    if refused:
        detail = "; ".join(f"{address}: {response.code} {response.message}" for address, response in refused.items())
        log.warning("mail %s accepted, but refused for some recipients: %s", message_id, detail)
