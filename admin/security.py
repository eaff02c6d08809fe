"""Passwords (argon2), API tokens (stored hashed), signed session cookies, CSRF, login throttling."""

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

_hasher = PasswordHasher()
TOKEN_PREFIX = "kn_"
SESSION_COOKIE = "kn_session"
SESSION_MAX_AGE = 12 * 3600  # one working day
# What an unknown account's password is checked against: a random password's hash, same parameters.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; an unknown or password-less account verifies against a dummy
    hash and fails, at the same cost (its answer time must not tell whether the account exists)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
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
    """Failed logins per (username, address) and per address, with progressive delays.

    No account is ever locked: a stranger elsewhere cannot shut its owner out by failing on
    purpose. Each key gets ``free`` failures (``per_pair`` for a name from one address,
    ``per_address`` for one address guessing many names); after that each further failure
    doubles the wait before the next try, from ``base`` up to ``cap`` seconds.
    """

    def __init__(
        self,
        per_pair: int = 5,
        per_address: int = 20,
        base: float = 30.0,
        cap: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_pair, self.per_address, self.base, self.cap, self._clock = per_pair, per_address, base, cap, clock
        self._failures: dict[str, _Failures] = {}

    @staticmethod
    def _keys(username: str, address: str) -> tuple[str, str]:
        return f"p:{address}:{username}", f"a:{address}"

    def wait(self, username: str, address: str) -> float:
        """Seconds before the next try from ``address`` for ``username`` (0: go ahead)."""
        now = self._clock()
        found = (self._failures.get(key) for key in self._keys(username, address))
        return max([0.0, *(f.until - now for f in found if f is not None)])

    def blocked(self, username: str, address: str) -> bool:
        return self.wait(username, address) > 0

    def failed(self, username: str, address: str) -> None:
        now = self._clock()
        for key, free in zip(self._keys(username, address), (self.per_pair, self.per_address), strict=True):
            entry = self._failures.setdefault(key, _Failures())
            entry.count += 1
            if entry.count >= free:
                entry.until = now + min(self.cap, self.base * 2 ** (entry.count - free))

    def succeeded(self, username: str, address: str) -> None:
        # The address's own count stays: one good account must not clear a guessing address.
        self._failures.pop(self._keys(username, address)[0], None)


@dataclass
class _Failures:
    count: int = 0
    until: float = 0.0  # no try before this (the clock's time)
