"""What a command starts stops when the command stops: on success, on an error and on SIGINT/SIGTERM.

Python ends a process at once on SIGTERM, running no `finally` block and no context manager's exit, so
the anvil `zkrisk serve` had started kept its port after `kill`. `terminate_as_exit` turns SIGTERM into
`SystemExit(143)`, as Ctrl-C is already `KeyboardInterrupt`: the commands then stop what they started
(anvil, and through the app's lifespan the embedded worker and beat) in the same `finally` blocks that
run on errors. uvicorn catches SIGTERM itself while serving and, after its graceful shutdown, raises it
again against the handler installed before it, which is this one.
"""

from __future__ import annotations

import signal
import subprocess
from contextlib import contextmanager
from typing import Iterator

#: exit status of a process that stopped cleanly on SIGTERM (the shell's 128 + signal number)
SIGTERM_EXIT = 128 + signal.SIGTERM


@contextmanager
def terminate_as_exit() -> Iterator[None]:
    """SIGTERM raises SystemExit(143) in the main thread for the duration of the block."""
    def stop(signum: int, frame: object) -> None:
        raise SystemExit(SIGTERM_EXIT)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL when it has not exited after `timeout` seconds; reaped either way."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
