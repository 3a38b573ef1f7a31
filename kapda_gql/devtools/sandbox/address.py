"""Where the sandbox of a running `kapda-gql serve` listens, kept in the data dir.

`serve` writes it when it starts its sandbox and removes it when it stops, so
that the other commands run beside it in development (`refunds process`,
`webhooks retry`, ...) call the same sandbox rather than the real Razorpay.
The serving process's pid is kept with it: a file left by a killed `serve` is
recognised as stale and ignored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILE_NAME = "sandbox.json"


def path(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def write(data_dir: Path, base_url: str, pid: int | None = None) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    target = path(data_dir)
    draft = target.with_name(f".{FILE_NAME}.{os.getpid()}")
    draft.write_text(json.dumps({"base_url": base_url, "pid": os.getpid() if pid is None else pid}))
    draft.replace(target)  # never seen half-written
    return target


def read(data_dir: Path) -> str | None:
    """The base URL of the sandbox a live `serve` started with this data dir, or None."""
    try:
        recorded = json.loads(path(data_dir).read_text())
        base_url, pid = str(recorded["base_url"]), int(recorded["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return base_url if _alive(pid) else None


def remove(data_dir: Path) -> None:
    """Remove the file if this process wrote it (another `serve` may have taken over since)."""
    target = path(data_dir)
    try:
        if int(json.loads(target.read_text())["pid"]) == os.getpid():
            target.unlink()
    except (OSError, ValueError, KeyError, TypeError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
