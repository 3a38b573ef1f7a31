"""A PostgreSQL server of a test's own, which the test may stop and start for real.

The shared server the suite runs on is never restarted; a drill that needs the database to go away
starts this one instead: pgserver, exactly as ``kapda_gql/db/engine.py`` starts the embedded server,
in a directory of the test's own, listening on a Unix socket only.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

from pgserver import postgres_server
from pgserver._commands import pg_ctl


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._server = postgres_server.get_server((data_dir / "pg").resolve(), cleanup_mode="stop")

    @property
    def url(self) -> str:
        """The libpq URL (the socket directory stays the same across restarts, so the URL does too)."""
        return str(self._server.get_uri())

    @property
    def log(self) -> str:
        path = self._server.pgdata / "log"
        return path.read_text() if path.exists() else ""

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop``: ``fast`` ends every session (what a restart does to its clients),
        ``immediate`` is a crash (no checkpoint; recovery on the next start)."""
        pg_ctl(["-w", "-m", mode, "stop"], pgdata=self._server.pgdata, user=self._server.system_user)

    def start(self) -> None:
        """Start it again on the same data directory and socket."""
        with self._server._lock:
            self._server.ensure_postgres_running()

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # stopped already
            self.stop()
