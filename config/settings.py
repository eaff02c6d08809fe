"""All settings in one pydantic-settings class (``COMPLAINTS_*`` and Temporal's own variables)."""

import os
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.models import DEFAULT_STEP_TIMEOUT
from domain.sla import CalendarKind

ROOT = Path(__file__).resolve().parent.parent
# data/ holds personal data (the store, mail, logs) and secrets: its owner's alone.
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_umask() -> None:
    """Make every file and directory this process (and its children) creates its user's alone.
    Called first in each entry point: SQLite's WAL, Temporal's database and the logs are created
    by code that takes its mode from the umask."""
    os.umask(0o077)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMPLAINTS_", env_file=".env", extra="ignore")

    # production: every secret must come from the environment, none is generated on disk,
    # and there are no demo accounts (checked below, so a misconfigured process refuses to start)
    environment: Literal["development", "production"] = "development"
    data_dir: Path = ROOT / "data"
    database_url: str = ""  # empty: SQLite file data/complaints.db
    task_queue: str = "complaints"

    # Temporal (its own variable names, as the CLI and SDK use them)
    temporal_address: str = Field(
        "127.0.0.1:7233", validation_alias=AliasChoices("TEMPORAL_ADDRESS", "COMPLAINTS_TEMPORAL_ADDRESS")
    )
    temporal_namespace: str = Field(
        "default", validation_alias=AliasChoices("TEMPORAL_NAMESPACE", "COMPLAINTS_TEMPORAL_NAMESPACE")
    )
    temporal_api_key: str | None = Field(
        None, validation_alias=AliasChoices("TEMPORAL_API_KEY", "COMPLAINTS_TEMPORAL_API_KEY")
    )
    temporal_tls: bool = Field(False, validation_alias=AliasChoices("TEMPORAL_TLS", "COMPLAINTS_TEMPORAL_TLS"))
    temporal_tls_cert: Path | None = Field(
        None, validation_alias=AliasChoices("TEMPORAL_TLS_CLIENT_CERT_PATH", "COMPLAINTS_TEMPORAL_TLS_CERT")
    )
    temporal_tls_key: Path | None = Field(
        None, validation_alias=AliasChoices("TEMPORAL_TLS_CLIENT_KEY_PATH", "COMPLAINTS_TEMPORAL_TLS_KEY")
    )
    temporal_tls_ca: Path | None = Field(
        None, validation_alias=AliasChoices("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "COMPLAINTS_TEMPORAL_TLS_CA")
    )
    temporal_ui_url: str = "http://127.0.0.1:8233"

    # Mail
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout: float = 10.0
    mail_from: str = "Lửa Rồng CSKH <cskh@luarong.vn>"
    mail_domain: str = "luarong.vn"
    hotline: str = "0938 361 595"
    company_name: str = "Công ty TNHH Công nghệ Lửa Rồng"
    company_address: str = "68 Bạch Đằng, Phường 2, Quận Tân Bình, Tp.HCM"

    # Mail in (issue 14). IMAP polling of the complaints mailbox: off unless the host is set.
    imap_host: str = ""
    imap_port: int = 993
    imap_username: str = ""
    imap_password: str = ""
    imap_folder: str = "INBOX"
    imap_tls: bool = True  # implicit TLS (IMAPS), certificate and host name checked
    imap_ca_file: Path | None = None  # a private CA to trust instead of the system's
    imap_poll_interval: timedelta = Field(timedelta(seconds=60), gt=timedelta(0))
    # What happens to a message once taken in: "flag" adds imap_flag, "move" moves it to
    # imap_processed_folder (which must exist). A message that could not be taken in (poison)
    # gets imap_failed_flag and stays where it is, for someone to look at.
    imap_processed: Literal["flag", "move"] = "flag"
    imap_flag: str = "\\Seen"
    imap_processed_folder: str = "Processed"
    imap_failed_flag: str = "$ComplaintsFailed"
    imap_batch_size: int = Field(50, gt=0)
    imap_polls_per_run: int = Field(100, gt=0)  # the poll workflow continues as new after this many
    imap_timeout: timedelta = Field(timedelta(minutes=2), gt=timedelta(0))  # one IMAP activity
    # The inbound SMTP gateway (an MX or a relay forwards to it); port 0: not started.
    inbound_smtp_host: str = "127.0.0.1"
    inbound_smtp_port: int = 2525
    # A message over this is refused (SMTP: 552 at DATA; IMAP: a reply that says why).
    message_max_bytes: int = Field(25 * 1024 * 1024, gt=0)
    # Attachments (store.attachments): encrypted files outside workflow payloads, one folder per
    # complaint; empty: data_dir/attachments. Each file at most attachment_max_bytes.
    attachment_dir: Path | None = None
    attachment_max_bytes: int = Field(10 * 1024 * 1024, gt=0)
    # A file no message references is removed once older than the grace (an in-flight request
    # writes its file before the decision that references it); the sweep runs in every worker.
    # At least an hour: far above any request's life (a shorter one could remove a file a
    # message is about to carry).
    attachment_sweep_grace: timedelta = Field(timedelta(hours=24), ge=timedelta(hours=1))
    attachment_sweep_interval: timedelta = Field(timedelta(hours=6), gt=timedelta(0))
    # A customer's text (a mail, a livechat message, a webhook's body) over this many bytes of
    # UTF-8 keeps its beginning in the workflow state and its full text as a .txt attachment.
    message_text_max_bytes: int = Field(64 * 1024, ge=4096)

    # SLA policy (ISO 8601 durations; seconds work too, to watch the timers live)
    sla_resolution: timedelta = timedelta(days=20)
    sla_warning: timedelta = timedelta(days=15)
    sla_first_response: timedelta = timedelta(days=1)
    sla_reopen_window: timedelta = timedelta(days=30)
    sla_escalation_repeat: timedelta = timedelta(days=1)
    sla_calendar: CalendarKind = CalendarKind.CALENDAR

    # Admin app
    secret_key: str = ""  # signs session cookies; empty: generated once into data/secret_key
    admin_host: str = "127.0.0.1"
    admin_port: int = 8000
    demo_accounts: bool = True  # one login per role on a new database (make run); off in production
    secure_cookies: bool = False  # set behind HTTPS
    # Addresses or networks (comma-separated) of the reverse proxies whose X-Forwarded-For is
    # believed; none by default: the client address is the connection's.
    trusted_proxies: str = ""

    # Public pages (issue 14): their address as customers reach it (the links in their mails),
    # and the web form's guards: at most ``public_form_limit`` posts per client address per
    # ``public_form_window``, and none sooner than ``public_form_min_seconds`` after the form
    # was served (a person reads and types; a bot posts at once).
    public_url: str = "http://127.0.0.1:8000"
    public_form_limit: int = Field(5, ge=1)
    public_form_window: timedelta = Field(timedelta(minutes=10), gt=timedelta(0))
    public_form_min_seconds: float = Field(3.0, ge=0)
    # The link lookup (a lost status link mailed again): at most ``public_lookup_mail_limit``
    # link mails per complaint per ``public_lookup_mail_window``, whoever asks (no mailbox flood).
    public_lookup_mail_limit: int = Field(3, ge=1)
    public_lookup_mail_window: timedelta = Field(timedelta(hours=1), gt=timedelta(0))

    # Webhooks in (issue 14). The generic intake (POST /api/v1/intake/webhook) is off while
    # ``webhook_secret`` is empty; requests are signed HMAC-SHA256 over "timestamp.body" and a
    # timestamp older than ``webhook_max_age`` (or as far in the future) is refused.
    webhook_secret: str = ""
    webhook_max_age: timedelta = Field(timedelta(minutes=5), gt=timedelta(0))
    # Chatwoot (POST /api/v1/intake/chatwoot): the webhook's secret (Chatwoot signs with it the
    # same way: X-Chatwoot-Signature over "timestamp.body"), or, for a Chatwoot that does not sign
    # (older versions, API-inbox webhooks), a token the webhook URL carries as ?token=. Off while
    # both are empty. A conversation with ``chatwoot_label`` is a complaint.
    chatwoot_webhook_secret: str = ""
    chatwoot_url_token: str = ""
    chatwoot_label: str = "khieu-nai"
    # Chatwoot's own address (scheme, host, port: "https://chat.example.vn"): the files of a
    # livechat message are fetched from there only (the addresses come in the webhook's body:
    # anything else is never requested). Empty: no file is fetched, the messages still are taken.
    chatwoot_url: str = ""

    # Payload encryption (AES-GCM): "id=base64key[,id=base64key...]", the first key encrypts,
    # all decrypt (rotation). Empty in development: generated once into data/payload_keys.
    payload_keys: str = ""
    # The origins allowed to call the admin's codec endpoint with credentials (CORS); empty: the
    # origin of temporal_ui_url only, the one Temporal UI staff are sent to.
    codec_cors_origins: list[str] = []

    # Audit: closed workflows whose history is not archived yet are swept this often
    archive_sweep_interval: timedelta = timedelta(minutes=10)

    # A step's activity is retried on another worker after this (the workflow input carries it)
    step_timeout: timedelta = Field(DEFAULT_STEP_TIMEOUT, gt=timedelta(0))
    # A workflow task held by a worker that died is handed to another after this (set per
    # complaint at filing), and a complaint cached on a dead worker's sticky queue after this.
    # Temporal's defaults; tests that kill workers set them low.
    workflow_task_timeout: timedelta = Field(timedelta(seconds=10), gt=timedelta(0))
    sticky_queue_timeout: timedelta = Field(timedelta(seconds=10), gt=timedelta(0))

    # Worker tuning
    max_concurrent_activities: int = 50
    # Open complaints wait days on timers: keep ~1,000 hot; an evicted one replays its short history
    # on its next decision or timer (bench: 10,000 cached cost ~180 KiB each, evicted ~11 KiB).
    max_cached_workflows: int = 1_000

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> "Settings":
        if self.environment == "production":
            missing = [
                name
                for name, value in (
                    ("COMPLAINTS_SECRET_KEY", self.secret_key),
                    ("COMPLAINTS_PAYLOAD_KEYS", self.payload_keys),
                    ("COMPLAINTS_DATABASE_URL", self.database_url),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"production needs {', '.join(missing)} from the environment")
            if self.demo_accounts:
                raise ValueError("production runs without demo accounts: set COMPLAINTS_DEMO_ACCOUNTS=false")
        return self

    def _generated(self, name: str, make: Callable[[], str]) -> str:
        """A development secret, made once and kept in data/ (never in production)."""
        path = self.data_dir / name
        if not path.exists():
            path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
            # 0600 from the start (a chmod after the write leaves a moment when others may read
            # it), written whole, then linked in: a process starting beside us reads one secret.
            draft = path.with_name(f".{name}.{os.getpid()}.tmp")
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
            with os.fdopen(fd, "w") as secret:
                secret.write(make())
            try:
                os.link(draft, path)
            except FileExistsError:  # another process was first: use its secret
                pass
            finally:
                draft.unlink()
        return path.read_text().strip()

    def effective_secret_key(self) -> str:
        return self.secret_key or self._generated("secret_key", lambda: secrets.token_urlsafe(48))

    def effective_payload_keys(self) -> str:
        from encryption.payload_codec import new_key_spec

        return self.payload_keys or self._generated("payload_keys", lambda: new_key_spec("dev1"))

    @property
    def codec_origins(self) -> frozenset[str]:
        """The Temporal UI's origins, which may call ``/codec`` with the staff's credentials."""
        if self.codec_cors_origins:
            return frozenset(self.codec_cors_origins)
        ui = urlsplit(self.temporal_ui_url)
        return frozenset({f"{ui.scheme}://{ui.netloc}"})

    @property
    def effective_attachment_dir(self) -> Path:
        return self.attachment_dir or self.data_dir / "attachments"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'complaints.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
