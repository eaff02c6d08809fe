"""The public form's guards (issue 14), none of which calls out of the machine: a rate limit per
client address, a signed stamp that says when the form was served (too soon: a bot), a honeypot
field, and the form's nonce, which makes the intake key (posting twice files once) and the
status-page token its answer links to."""

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from domain.customer_view import address_hash

HONEYPOT = "website"  # hidden from people (CSS, aria-hidden, no tab stop); bots fill it in
STAMP_MAX_AGE = 86_400  # a form served more than a day ago is served anew


class SubmitLimiter:
    """At most ``limit`` posts per address in any ``window`` seconds (a sliding window).

    Memory is bounded whatever is sent: keys are fixed-size hashes of the address, and beyond
    ``max_keys`` the least recently seen address is forgotten first."""

    def __init__(
        self, limit: int, window: float, max_keys: int = 20_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window, self.max_keys, self._clock = limit, window, max_keys, clock
        self._seen: OrderedDict[bytes, deque[float]] = OrderedDict()

    def allow(self, address: str) -> float:
        """0 and the post counted if ``address`` may post now, else the seconds to wait."""
        now = self._clock()
        key = hashlib.blake2b(address.encode(errors="replace"), digest_size=16).digest()
        times = self._seen.pop(key, None) or deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        wait = 0.0
        if len(times) >= self.limit:
            wait = self.window - (now - times[0])
        else:
            times.append(now)
        self._seen[key] = times  # now the most recently seen
        while len(self._seen) > self.max_keys:
            self._seen.popitem(last=False)
        return wait


@dataclass(frozen=True)
class Stamp:
    nonce: str
    served_at: float  # the wall clock's time (seconds) when the form was served


class FormStamps:
    """The form's signed stamp: a fresh nonce and the time the form was served. Signed with the
    admin's secret, so neither can be made up; the nonce never repeats across forms."""

    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="kn-public-form")
        self._secret = secret.encode()
        self._clock = clock

    def issue(self) -> str:
        return self._serializer.dumps({"n": secrets.token_urlsafe(16), "t": self._clock()})

    def read(self, value: str | None) -> Stamp | None:
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=STAMP_MAX_AGE)
        except BadSignature:
            return None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("n"), str)
            or not isinstance(data.get("t"), (int, float))
        ):
            return None
        return Stamp(nonce=data["n"], served_at=float(data["t"]))

    def age(self, stamp: Stamp) -> float:
        return self._clock() - stamp.served_at

    def status_token(self, stamp: Stamp) -> str:
        """The status-page token of the complaint this form files: derived from the form's
        secret nonce, so posting the same form again answers with the same link (the store
        keeps only its hash, like any other)."""
        digest = hmac.new(self._secret, b"kn-public-status:" + stamp.nonce.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def intake_key(stamp: Stamp) -> str:
    return f"public-form:{stamp.nonce}"


def message_key(stamp: Stamp) -> str:
    """The message id of what the status page's form sends (intake.customer_messages): one per form."""
    return f"public-message:{stamp.nonce}"


def lookup_key(stamp: Stamp, complaint_id: str, email: str) -> str:
    """The lookup page's request id: one worker run per form and what it asks, however many
    times it is sent; the same form sent again with a typo corrected asks again."""
    asked = f"{stamp.nonce}:{complaint_id}:{address_hash(email)}"
    return hashlib.sha256(asked.encode()).hexdigest()[:48]
