"""Structured logs: one JSON object per line, carrying the job and batch ids of the work in progress.

`bound(batch_id=..., job_id=...)` sets context for everything logged inside it, in any module, so an
operator can `grep` one job across API, worker and chain client lines. Secrets never reach a log:
settings hold them as `SecretStr`, and the chain client logs addresses, never keys.
"""

from __future__ import annotations

import contextvars
import json
import logging
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Iterator

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("zkrisk_log_context", default={})
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
                                 "level": record.levelname.lower(), "logger": record.name,
                                 "msg": record.getMessage(), **_context.get()}
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("zkrisk")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
