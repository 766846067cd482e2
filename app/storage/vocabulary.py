"""What interactions carry: ``(type, property name)`` pairs seen while scoring, offered by the rule
builder's event and property pickers (a set of ``<type> TAB <name>`` members; an empty name marks
the type itself as seen)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..keys import Keys
from .errors import gateway

#: Most pairs kept: a bound on names that arrive in untrusted payloads.
VOCABULARY_MAX = 5000


@gateway
class VocabularyStore:
    def __init__(self, redis: Any, keys: Keys):
        self.redis = redis
        self.keys = keys

    def remember(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Add pairs seen in a batch; past ``VOCABULARY_MAX`` nothing new is learnt."""
        members = {f"{type_}\t{name}" for type_, name in pairs}
        key = self.keys.interaction_vocabulary()
        if members and self.redis.scard(key) < VOCABULARY_MAX:
            self.redis.sadd(key, *members)

    def all(self) -> dict[str, set[str]]:
        """Interaction type -> the property names seen in its interactions."""
        out: dict[str, set[str]] = {}
        for member in self.redis.sscan_iter(self.keys.interaction_vocabulary(), count=1000):
            type_, _, name = member.partition("\t")
            names = out.setdefault(type_, set())
            if name:
                names.add(name)
        return out
