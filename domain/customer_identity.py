"""The customer behind a complaint, as a key to find their other complaints: one normalisation
of a phone number and of an e-mail address, used by the store's projection, its migration and
every search (pure: no I/O, no database)."""

import re

_NOT_DIGIT = re.compile(r"\D")


def phone_key(phone: str | None) -> str | None:
    """A Vietnamese phone number in its national form: digits only, the country code (+84, 84,
    0084) written as the leading 0. "+84 90 123 4567", "84901234567" and "090.123.4567" give
    "0901234567". None when there are no digits."""
    digits = _NOT_DIGIT.sub("", phone or "")
    if digits.startswith("0084"):
        digits = "0" + digits[4:]
    elif digits.startswith("84") and len(digits) >= 11:
        # 84 + a national number without its 0 (9 or 10 digits); a national number never starts with 84
        digits = "0" + digits[2:]
    return digits or None


def email_key(email: str | None) -> str | None:
    """An e-mail address trimmed and case-folded; None when empty."""
    folded = (email or "").strip().casefold()
    return folded or None
