"""Passwords (argon2), API tokens (stored hashed), signed session cookies, CSRF, login throttling."""

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8
TOKEN_PREFIX = "kn_"
SESSION_COOKIE = "kn_session"
SESSION_MAX_AGE = 12 * 3600  # one working day
# What an unknown account's password is checked against: a random password's hash, same parameters.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def temporary_password() -> str:
    """What an administrator's reset hands over once: 12 random characters, easy to read out
    (no 0/O or 1/l/I), about 70 bits."""
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


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

    Its memory is bounded whatever is sent: keys are fixed-size hashes (a 1 MB username is not
    kept), only failures create them (a refused try does not), a key is forgotten
    ``forget_after`` seconds after its last failure, and beyond ``max_keys`` (a few MB) the least
    recently failed go first.
    """

    def __init__(
        self,
        per_pair: int = 5,
        per_address: int = 20,
        base: float = 30.0,
        cap: float = 900.0,
        forget_after: float = 86_400.0,
        max_keys: int = 20_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_pair, self.per_address, self.base, self.cap = per_pair, per_address, base, cap
        self.forget_after, self.max_keys, self._clock = max(forget_after, cap), max_keys, clock
        self._failures: OrderedDict[bytes, _Failures] = OrderedDict()  # least recently failed first

    def __len__(self) -> int:
        return len(self._failures)

    @staticmethod
    def _keys(username: str, address: str) -> tuple[bytes, bytes]:
        def key(*parts: str) -> bytes:
            return hashlib.blake2b("\0".join(parts).encode(errors="replace"), digest_size=16).digest()

        return key("pair", address, username), key("address", address)

    def _forget_old(self, now: float) -> None:
        while self._failures:
            oldest = next(iter(self._failures.values()))
            if now - oldest.last <= self.forget_after and len(self._failures) <= self.max_keys:
                return
            self._failures.popitem(last=False)

    def wait(self, username: str, address: str) -> float:
        """Seconds before the next try from ``address`` for ``username`` (0: go ahead)."""
        now = self._clock()
        found = (self._failures.get(key) for key in self._keys(username, address))
        return max([0.0, *(f.until - now for f in found if f is not None)])

    def failed(self, username: str, address: str) -> None:
        now = self._clock()
        self._forget_old(now)
        for key, free in zip(self._keys(username, address), (self.per_pair, self.per_address), strict=True):
            entry = self._failures.pop(key, None) or _Failures()
            entry.count, entry.last = entry.count + 1, now
            if entry.count >= free:
                entry.until = now + min(self.cap, self.base * 2 ** min(entry.count - free, 32))
            self._failures[key] = entry  # now the most recent
        self._forget_old(now)

    def succeeded(self, username: str, address: str) -> None:
        # The address's own count stays: one good account must not clear a guessing address.
        self._failures.pop(self._keys(username, address)[0], None)


@dataclass(slots=True)
class _Failures:
    count: int = 0
    last: float = 0.0  # the clock's time of the last failure
    until: float = 0.0  # no try before this
