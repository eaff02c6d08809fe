"""A throwaway Dovecot IMAP server on loopback (Debian's dovecot-imapd), for the tests of the
mailbox intake and its fault scenarios.

Its own configuration in a temporary directory (the system's /etc/dovecot is never read), IMAP
over implicit TLS only (IMAPS) with a certificate signed by a CA made at start, one passwd-file
user with a password, Maildir storage, logs in a file. As a context manager it starts on a free
port and is removed on exit; ``stop`` and ``start`` in between restart it with its mail (the
restart-mid-fetch scenario). As a command, ``python -m localstack.dovecot -- CMD ...`` runs CMD
with the server's address, account and CA in ``COMPLAINTS_TEST_IMAP_*``.

``append`` and ``create_folder`` talk IMAP through the standard library's imaplib on purpose:
the fixture does not lean on the client it is there to test.
"""

import argparse
import contextlib
import datetime
import grp
import imaplib
import ipaddress
import os
import pwd
import secrets
import shutil
import signal
import ssl
import sys
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from localstack.ports import LOOPBACK, free_port
from localstack.processes import Process, Throwaway, run_command_beside


def _quoted(folder: str) -> str:
    """An IMAP quoted string (the folder names here are ASCII)."""
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


ENV_PREFIX = "COMPLAINTS_TEST_IMAP_"
DOVECOT = Path("/usr/sbin/dovecot")
# As root, Dovecot's master drops its children to these accounts, which Debian's package creates.
INTERNAL_USER = "dovecot"  # auth, anvil, stats; also owns the throwaway Maildir (mail may not be root's)
LOGIN_USER = "dovenull"  # the pre-login processes, chrooted


def _pem(obj: x509.Certificate) -> bytes:
    return obj.public_bytes(serialization.Encoding.PEM)


def make_certificates(directory: Path, host: str = LOOPBACK) -> tuple[Path, Path, Path]:
    """A CA and a server certificate it signs for ``host`` and localhost (a day's validity):
    (ca.pem, server.pem, server.key). Clients trust ca.pem only, so the chain is really checked."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "complaints throwaway IMAP CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_path.write_bytes(_pem(ca))
    cert_path.write_bytes(_pem(server))
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


def _end_group(group: int, timeout: float) -> None:
    """SIGTERM to every process left in ``group`` (the master's own, from its new session), then
    SIGKILL to the stragglers after ``timeout``; returns once none is left."""
    sig = signal.SIGTERM
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            return
        time.sleep(0.05)
        if time.monotonic() > deadline:
            sig = signal.SIGKILL


class DovecotServer(Throwaway):
    """One Dovecot in ``directory`` (a new temporary one by default) with one user."""

    def __init__(
        self,
        directory: Path | None = None,
        port: int | None = None,
        username: str = "complaints",
        password: str | None = None,
    ) -> None:
        if not DOVECOT.exists():
            raise RuntimeError("Dovecot is not installed (`make system-deps` installs Debian's dovecot-imapd)")
        self.owns_directory = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="complaints-imap-"))
        self.host = LOOPBACK
        self.port = port or free_port()
        self.username = username
        self.password = password or secrets.token_urlsafe(16)
        self.config = self.directory / "dovecot.conf"
        self.log = self.directory / "dovecot.log"
        self.ca_file = self.directory / "ca.pem"
        self.process = Process(
            "dovecot",
            [str(DOVECOT), "-F", "-c", str(self.config)],
            self.directory / "dovecot.stdout.log",
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            cwd=self.directory,
            port=self.port,
        )

    @property
    def environment(self) -> dict[str, str]:
        """What ``python -m localstack.dovecot`` exports to its command."""
        return {
            f"{ENV_PREFIX}HOST": self.host,
            f"{ENV_PREFIX}PORT": str(self.port),
            f"{ENV_PREFIX}USERNAME": self.username,
            f"{ENV_PREFIX}PASSWORD": self.password,
            f"{ENV_PREFIX}CA_FILE": str(self.ca_file),
        }

    def _accounts(self) -> tuple[str, str, int, int]:
        """(internal user, login user, uid, gid of the mail's owner)."""
        if os.geteuid() == 0:
            owner = pwd.getpwnam(INTERNAL_USER)
            return INTERNAL_USER, LOGIN_USER, owner.pw_uid, owner.pw_gid
        # Not root: Dovecot cannot switch accounts, so every process runs as us.
        me = pwd.getpwuid(os.geteuid()).pw_name
        return me, me, os.geteuid(), os.getegid()

    def create(self) -> None:
        """Certificates, configuration, mail directory; then start."""
        self.directory.mkdir(parents=True, exist_ok=True)
        # The internal and login accounts must reach their sockets, the passwd file and the mail.
        self.directory.chmod(0o755)
        make_certificates(self.directory, self.host)
        internal, login, uid, gid = self._accounts()
        home = self.directory / "mail" / self.username
        home.mkdir(parents=True)
        for path in (home.parent, home):
            os.chown(path, uid, gid)
        users = self.directory / "users"
        users.touch(mode=0o640)
        # PLAIN: a throwaway password for a throwaway server; a hash would only hide it from this file's owner.
        users.write_text(f"{self.username}:{{PLAIN}}{self.password}:{uid}:{gid}::{home}::\n")
        shutil.chown(users, group=grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name)
        chroot = "" if os.geteuid() != 0 else "login"
        self.config.write_text(
            f"""# Written by localstack/dovecot.py for one test run; nothing from /etc/dovecot.
protocols = imap
listen = {self.host}
base_dir = {self.directory}/run
state_dir = {self.directory}/state
log_path = {self.log}
default_internal_user = {internal}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name}
default_login_user = {login}
first_valid_uid = {min(uid, 500) or 1}
first_valid_gid = {min(gid, 500) or 1}
mail_location = maildir:~/Maildir
ssl = required
ssl_cert = <{self.directory}/server.pem
ssl_key = <{self.directory}/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = {users}
}}
userdb {{
  driver = passwd-file
  args = {users}
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  chroot = {chroot}
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = {self.host}
    port = {self.port}
    ssl = yes
  }}
}}
"""
        )
        self.start()

    def start(self, ready_within: float = 30) -> None:
        self.process.start(ready_within=ready_within)

    def stop(self, timeout: float = 20) -> None:
        """Shut the whole server down, as ``systemctl stop dovecot`` does (its unit's default
        KillMode ends the whole group): the master and its children together. Its imap and
        imap-login children would otherwise keep their clients' connections open for a while
        after the master has gone. Returns once every one has exited."""
        group = self.process.pid if self.process.popen is not None else None
        if group is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGTERM)  # all at once: the master alone takes a second more
        self.process.stop(timeout=timeout)
        if group is not None:
            _end_group(group, timeout)

    def remove(self) -> None:
        """Stop and delete everything (the directory too, when it made it)."""
        self.stop(timeout=10)
        if self.owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's CA only (hostname checked too)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def _imap(self) -> imaplib.IMAP4_SSL:
        client = imaplib.IMAP4_SSL(self.host, self.port, ssl_context=self.ssl_context(), timeout=30)
        client.login(self.username, self.password)
        return client

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver one message, as it is, with IMAP APPEND. imaplib turns bare LFs into CRLF, as
        any mail transport does: pass CRLF lines to read the very same bytes back."""
        client = self._imap()
        try:
            status, data = client.append(
                folder, "", imaplib.Time2Internaldate(datetime.datetime.now(datetime.UTC)), raw
            )
            if status != "OK":
                raise RuntimeError(f"APPEND to {folder} failed: {data!r}")
        finally:
            client.logout()

    def append_all(self, raws: list[bytes], folder: str = "INBOX", per_command: int = 500) -> None:
        """Deliver many messages in bulk: MULTIAPPEND (RFC 3502) with non-synchronising literals
        (LITERAL+, RFC 7888), ``per_command`` messages a command, so that a thousand messages take
        a few round trips rather than two each. imaplib has neither, so the command is written
        and its tagged answer read with imaplib's raw ``send`` and ``readline``. The bytes go as
        they are (Dovecot serves bare LFs as CRLF, as it does after ``append``)."""
        client = self._imap()
        try:
            status, data = client.capability()
            offered = set(data[0].decode().upper().split()) if status == "OK" and data and data[0] else set()
            if not {"MULTIAPPEND", "LITERAL+"} <= offered:
                for raw in raws:
                    status, data = client.append(folder, "", None, raw)
                    if status != "OK":
                        raise RuntimeError(f"APPEND to {folder} failed: {data!r}")
                return
            for n, start in enumerate(range(0, len(raws), per_command)):
                tag = f"BULK{n}".encode()
                chunk = raws[start : start + per_command]
                literals = b"".join(b" {%d+}\r\n%s" % (len(raw), raw) for raw in chunk)
                client.send(b"%s APPEND %s%s\r\n" % (tag, _quoted(folder).encode(), literals))
                while not (line := client.readline()).startswith(tag + b" "):
                    if not line:
                        raise RuntimeError(f"APPEND to {folder}: connection closed")
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(f"APPEND to {folder} failed: {line!r}")
        finally:
            client.logout()

    def empty(self, folder: str = "INBOX") -> None:
        """Delete every message in ``folder`` (its UIDs go on counting from where they were)."""
        client = self._imap()
        try:
            client.select(folder)
            status, data = client.uid("STORE", "1:*", "+FLAGS.SILENT", r"(\Deleted)")
            if status != "OK":
                raise RuntimeError(f"flagging {folder} deleted failed: {data!r}")
            client.expunge()
        finally:
            client.logout()

    def create_folder(self, folder: str) -> None:
        self._folder_command("create", folder)

    def delete_folder(self, folder: str) -> None:
        """Delete a folder and its mail, as another mail client could."""
        self._folder_command("delete", folder)

    def _folder_command(self, command: str, folder: str) -> None:
        client = self._imap()
        try:
            status, data = getattr(client, command)(folder)
            if status != "OK":
                raise RuntimeError(f"{command.upper()} {folder} failed: {data!r}")
        finally:
            client.logout()


def run_with_server(command: list[str]) -> int:
    """Run ``command`` with the server's variables exported; its exit status (128+N for signal N)."""
    with DovecotServer() as server:
        print(f"Dovecot test server (IMAPS) on {server.host}:{server.port}", flush=True)
        return run_command_beside(command, os.environ | server.environment)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localstack.dovecot",
        description=f"Run a command with a throwaway Dovecot IMAPS server, its account in {ENV_PREFIX}*.",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command and its arguments")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (python -m localstack.dovecot -- CMD ...)")
    return run_with_server(command)


if __name__ == "__main__":
    sys.exit(main())
