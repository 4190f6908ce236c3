"""Structured logs: one JSON object per line, carrying the job and batch ids of the work in progress.

`bound(batch_id=..., job_id=...)` sets context for everything logged inside it, in any module, so an
operator can `grep` one job across API, worker and chain client lines. Secrets never reach a log:
settings hold them as `SecretStr`, and the chain client logs addresses, never keys.

Library logs (Ape, uvicorn, Celery, web3, httpx...) of the interactive commands go to a file instead
of the console (`route_library_logs`): `zkrisk demo` printed about forty lines of Ape's deployment INFO
logs around its summary. On the console stay the command's own progress and results, zkrisk's own
logs and the libraries' warnings and errors; `-v` shows everything.
"""

from __future__ import annotations

import contextvars
import json
import logging
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from oracle.settings import STATE_DIR

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("zkrisk_log_context", default={})
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
LOG_DIR = STATE_DIR / "logs"
LIBRARY_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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


def route_library_logs(command: str, verbose: bool = False, log_dir: Path = LOG_DIR) -> Path:
    """Library records at INFO and above into `log_dir/<command>.log`; on stderr only warnings and
    errors, or everything when `verbose`. Returns the log file's path.

    Ape logs through a console handler of its own on the `ape` logger; it is removed, so Ape's records
    take the same route as every other library's.
    """
    import ape.logging  # noqa: F401 - creates Ape's logger and its console handler, removed below

    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{command}.log"
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter(LIBRARY_FORMAT))
    to_console = logging.StreamHandler()
    to_console.setLevel(logging.NOTSET if verbose else logging.WARNING)
    to_console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [to_file, to_console]
    root.setLevel(logging.INFO)
    ape_logger = logging.getLogger("ape")
    ape_logger.handlers[:] = []
    ape_logger.propagate = True
    return path
