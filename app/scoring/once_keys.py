"""What a ``once_per`` limit remembers of each value it saw: the value's text when it is short, a fixed-length digest
of it when it is long (issue #17: row 5c, "≤ 100 B of Redis per stored interaction").

A ``once_per`` rule scores each distinct value of a property once per contact, so the fold state keeps every value
it scored, and the copy of an interaction that Redis keeps must hold the value for a refold to compare. Providers'
ids are long — a SendGrid ``sg_message_id`` is ~50 characters, a Stripe id ~28 — and a limit asks of them only
whether two are equal. So both the state and a trimmed copy keep the value's *key*: the text itself up to
``KEY_LEN`` characters, else ``#`` and 16 characters of URL-safe base64 of its 96-bit BLAKE2b digest — ``KEY_LEN``
characters too. A key is its own key (``once_key(once_key(t)) == once_key(t)``), so the fold compares keys whatever
it reads: a whole record's value, a trimmed copy's key, a state written before keys (its long values are keyed as
they are read: ``FoldState.from_json``).

Two different values share a key only when BLAKE2b's 96 bits collide (about 1 in 10¹⁴ for a contact with a million
distinct values), or when someone sends, as a value, the exact ``#…`` key of another value it also sends for the
same contact and rule: then the second does not score — harm no one else can do to a contact's score. The ledger
shows a value in a limit's reason only when it is shorter than any key of a digest (``shown_once``), so a ledger
made from a trimmed copy reads exactly like one made from the whole record.
"""
from __future__ import annotations

import base64
import hashlib

__all__ = ["KEY_LEN", "once_key", "shown_once"]

#: The length of a digest's key: ``#`` and 16 base64 characters (12 bytes). Texts this long or shorter are their own
#: key, so a key never grows a value and every key is its own key.
KEY_LEN = 17


def once_key(text: str) -> str:
    """What a ``once_per`` limit keeps of a value whose text (``str(value)``) is ``text``."""
    if len(text) <= KEY_LEN:
        return text
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).digest()
    return "#" + base64.urlsafe_b64encode(digest).decode("ascii")


def shown_once(key: str) -> str | None:
    """The value a limit's reason shows for this key: the text when it is shorter than a digest's key, else None
    (the value may not be there to show: a trimmed copy holds only its key)."""
    return key if len(key) < KEY_LEN else None
