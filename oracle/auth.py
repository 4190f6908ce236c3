"""API keys and write rate limits.

A key is `zk_<prefix>_<secret>`; only its sha256 is stored, so a database leak reveals no usable key
(keys are random 256-bit tokens: a plain hash suffices, no salt or KDF needed). The key is shown once,
by `zkrisk apikey create`. Rate limits are a sliding window per key, per API process.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import defaultdict, deque

from sqlalchemy import select
from sqlalchemy.orm import Session

from oracle.db import ApiKey, utcnow
from oracle.errors import AuthError, NotFoundError


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, name: str, key: str | None = None) -> str:
    """Store a new key under `name` and return it (the only time it is visible)."""
    key = key or f"zk_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"
    session.add(ApiKey(name=name, key_hash=hash_key(key), prefix=key[:11]))
    session.flush()
    return key


def ensure_key(session: Session, name: str, key: str) -> None:
    """Create `key` under `name` unless a key with this hash exists (bootstrap from settings)."""
    if session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).first() is None:
        create_key(session, name, key)


def revoke_key(session: Session, name: str) -> None:
    row = session.scalars(select(ApiKey).where(ApiKey.name == name)).first()
    if row is None:
        raise NotFoundError(f"no API key named {name!r}")
    row.revoked_at = utcnow()


def authenticate(session: Session, key: str | None) -> str:
    """The name of the key's owner; AuthError when missing, unknown or revoked."""
    if not key:
        raise AuthError("this endpoint needs an API key in the X-API-Key header")
    row = session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).first()
    if row is None or row.revoked_at is not None:
        raise AuthError("unknown or revoked API key")
    return row.name


class RateLimiter:
    """At most `limit` events per `window` seconds per key; `hit` returns seconds to wait, 0 if allowed."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._events: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        now = time.monotonic()
        with self._lock:
            events = self._events[key]
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return events[0] + self.window - now
            events.append(now)
            return 0.0
