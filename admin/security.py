"""Passwords (argon2), API tokens (stored hashed), signed session cookies, CSRF, login throttling."""

import hashlib
import hmac
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

_hasher = PasswordHasher()
TOKEN_PREFIX = "kn_"
SESSION_COOKIE = "kn_session"
SESSION_MAX_AGE = 12 * 3600  # one working day


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        _hasher.hash(password)  # same cost whether or not the user exists
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens are 256 random bits: a fast hash is enough and lets us look them up by hash.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    username: str
    csrf: str
    # Random per login; the store keeps its hash, so logout or an administrator revokes it.
    sid: str


def session_id_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class SessionSigner:
    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="kn-session")

    def dump(self, username: str) -> tuple[str, Session]:
        """A brand-new session: id and CSRF token are never carried over from before login."""
        session = Session(username=username, csrf=secrets.token_urlsafe(24), sid=secrets.token_urlsafe(32))
        return self._serializer.dumps({"u": session.username, "c": session.csrf, "s": session.sid}), session

    def load(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not {"u", "c", "s"} <= data.keys():
            return None  # a cookie from before revocable sessions: log in again
        return Session(username=str(data["u"]), csrf=str(data["c"]), sid=str(data["s"]))


def csrf_ok(session: Session | None, submitted: str | None) -> bool:
    return bool(session and submitted and hmac.compare_digest(session.csrf, submitted))


class LoginThrottle:
    """At most ``limit`` failed logins per username and per address within ``window`` seconds."""

    def __init__(self, limit: int = 5, window: float = 300.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str, now: float) -> deque[float]:
        found = self._failures[key]
        while found and now - found[0] > self.window:
            found.popleft()
        return found

    def blocked(self, username: str, address: str) -> bool:
        now = time.monotonic()
        return any(len(self._recent(k, now)) >= self.limit for k in (f"u:{username}", f"a:{address}"))

    def failed(self, username: str, address: str) -> None:
        now = time.monotonic()
        for key in (f"u:{username}", f"a:{address}"):
            self._recent(key, now).append(now)

    def succeeded(self, username: str) -> None:
        self._failures.pop(f"u:{username}", None)
