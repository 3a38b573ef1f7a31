"""What every scenario shares: the database, the server processes, the load generator, the tables.

The timed load goes through `HttpConnection`, a keep-alive HTTP/1.1 client on asyncio's
Protocol API, one connection per simulated client. httpx is used for everything that is not
timed (preparing checkouts, paying in the sandbox, checking answers): on this machine an httpx
request costs ~0.7 ms of client CPU against ~15-30 µs for the raw connection (measured with
`python -m bench client`), and on two cores that difference would be taken from the server
under test, not from the load generator.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import types
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import psutil  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("KAPDA_BENCH_DATA_DIR", ROOT / ".kapda-bench"))
PYTHON = sys.executable
HOST = "127.0.0.1"
JWT_SECRET = "bench-" + secrets.token_urlsafe(40)


def _stub_sniffio() -> None:
    """httpcore imports the optional `sniffio` inside every request; when it is not installed the
    failed import is not cached and Python searches all of sys.path again each time (~0.3 ms a
    request). This process only ever runs asyncio, which is exactly what the stub answers."""
    import importlib.util

    if importlib.util.find_spec("sniffio") is None:
        stub = types.ModuleType("sniffio")
        stub.current_async_library = lambda: "asyncio"  # type: ignore[attr-defined]
        sys.modules["sniffio"] = stub


_stub_sniffio()

import httpx  # noqa: E402  (after the stub, so httpcore finds it)

# One SSL context for every httpx client: building one reads the CA bundle (~40 ms).
_SSL = ssl.create_default_context()


def http_client(base_url: str, timeout: float = 60.0) -> httpx.AsyncClient:
    """An httpx client for untimed work; one per concurrent task keeps httpcore's pool trivial."""
    return httpx.AsyncClient(
        base_url=base_url, verify=_SSL, timeout=timeout, limits=httpx.Limits(max_connections=1)
    )


# --- output ------------------------------------------------------------------------------------


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        lines.append(
            "  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(row, widths, strict=True))
        )
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "-" if value is None else str(value)


def _numeric(text: str) -> bool:
    return bool(text) and (text[0].isdigit() or text[0] in "-+.") and text != "-"


def say(text: str = "") -> None:
    print(text, flush=True)


def percentile(sorted_values: Sequence[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def machine() -> str:
    gib = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} cores, {gib:.0f} GiB RAM, Python {sys.version.split()[0]}"


# --- CPU accounting ----------------------------------------------------------------------------


def _tree(pid: int) -> list[psutil.Process]:
    """A process and its descendants; this process alone (its children are the servers under test)."""
    try:
        root = psutil.Process(pid)
        return [root] if pid == os.getpid() else [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _cpu(proc: psutil.Process) -> float:
    try:
        t = proc.cpu_times()
        return float(t.user + t.system)
    except psutil.NoSuchProcess:
        return 0.0


@dataclass
class CpuMeter:
    """Cores used by each group of processes during a phase, and by everything else on the machine.

    The machine is shared (other test runs may be going on): `other` says how much CPU the
    figures had to share with processes that are not part of the benchmark.
    """

    groups: dict[str, list[int]]
    _start: dict[int, float] = field(default_factory=dict)
    _machine: float = 0.0
    _t0: float = 0.0

    def start(self) -> None:
        self._start = {p.pid: _cpu(p) for pids in self.groups.values() for pid in pids for p in _tree(pid)}
        self._machine = _busy()
        self._t0 = time.perf_counter()

    def stop(self) -> dict[str, float]:
        elapsed = max(time.perf_counter() - self._t0, 1e-3)
        used: dict[str, float] = {}
        seen: set[int] = set()
        for name, pids in self.groups.items():
            total = 0.0
            for pid in pids:
                for p in _tree(pid):
                    if p.pid in seen:
                        continue
                    seen.add(p.pid)
                    total += _cpu(p) - self._start.get(p.pid, 0.0)
            used[name] = total / elapsed
        used["other"] = max(0.0, (_busy() - self._machine) / elapsed - sum(used.values()))
        return used


def _busy() -> float:
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0))


def cpu_note(used: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.2f}" for k, v in used.items())


# --- the database ------------------------------------------------------------------------------


def server_url() -> str:
    url = os.environ.get("KAPDA_DATABASE_URL")
    if url:
        return url
    from kapda_gql.db.engine import start_embedded

    return start_embedded(DATA_DIR)


@contextlib.contextmanager
def fresh_database(keep: bool = False) -> Iterator[str]:
    """A new database on the configured server, migrated; dropped afterwards unless `keep`."""
    from sqlalchemy.engine import make_url

    from kapda_gql.cli import migrate
    from kapda_gql.db.engine import sync_libpq_url

    server = make_url(sync_libpq_url(server_url()))
    name = f"kapda_bench_{uuid.uuid4().hex[:8]}"
    admin = server.set(database="postgres").render_as_string(hide_password=False)
    asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        migrate(url)
        yield url
    finally:
        if not keep:
            asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def postmaster_pid(url: str) -> int | None:
    """The PostgreSQL server's main process, when it runs on this machine (for CPU accounting)."""
    conn = await asyncpg.connect(url)
    try:
        backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
        # Asked while the backend still exists: it is gone once the connection closes.
        parent = psutil.Process(backend).ppid()
        return parent if "postgres" in psutil.Process(parent).name() else None
    except psutil.Error:
        return None
    finally:
        await conn.close()


# --- processes ---------------------------------------------------------------------------------

PRIORITY: list[int] = [0]  # the nice value for our processes (`--nice`); 0 leaves them alone


def prioritise(pid: int, with_children: bool = False) -> None:
    """Give `pid` (and its children) the configured nice value, and its scheduler autogroup too:
    with autogroups on, each session competes as a whole, so the nice value of a process only
    orders it within its own session (man 7 sched, "The autogroup feature")."""
    nice = PRIORITY[0]
    if not nice:
        return
    try:
        root = psutil.Process(pid)
        for proc in [root, *(root.children(recursive=True) if with_children else [])]:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.nice(nice)
    except psutil.NoSuchProcess:
        return
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Process:
    """A child process of ours, in its own process group so stopping it stops its workers too."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        prioritise(self.proc.pid)  # before it starts workers: they inherit it

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


async def wait_http(port: int, path: str, proc: Process, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with http_client(f"http://{HOST}:{port}", timeout=2.0) as client:
        while True:
            if proc.proc.poll() is not None:
                raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(path)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{proc.name} did not answer {path} in {timeout:.0f} s:\n{proc.tail()}")
            await asyncio.sleep(0.1)


@dataclass
class Sandbox:
    port: int
    process: Process | None = None
    thread: Any = None  # a SandboxServer serving from a thread of this process

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        if self.thread is not None:
            self.thread.stop()


async def start_sandbox(in_thread: bool = False) -> Sandbox:
    """The Razorpay sandbox in a process of its own (uvloop + httptools) so that the load generator
    and the sandbox do not share one interpreter lock (every checkout makes two sandbox calls);
    `in_thread` serves it like the tests do instead, from a thread of this process."""
    if in_thread:
        from kapda_gql.config import SANDBOX_KEY_ID, SANDBOX_KEY_SECRET, SANDBOX_WEBHOOK_SECRET
        from kapda_gql.devtools.sandbox.server import SandboxServer

        server = SandboxServer(
            key_id=SANDBOX_KEY_ID, key_secret=SANDBOX_KEY_SECRET, webhook_secret=SANDBOX_WEBHOOK_SECRET
        )
        await asyncio.to_thread(server.start)
        return Sandbox(server.port, thread=server)
    port = free_port()
    proc = Process(
        "sandbox",
        [PYTHON, "-m", "bench.sandbox_server", "--port", str(port)],
        _base_env(),
        DATA_DIR / "logs" / "sandbox.log",
    )
    await wait_http(port, "/sandbox/faults", proc)
    return Sandbox(port, process=proc)


@dataclass
class Service:
    process: Process
    port: int
    workers: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def service_env(database_url: str, sandbox_url: str) -> dict[str, str]:
    env = _base_env()
    env.update(
        KAPDA_ENV="development",
        KAPDA_DATABASE_URL=database_url,
        KAPDA_DATA_DIR=str(DATA_DIR),
        KAPDA_JWT_SECRET=JWT_SECRET,
        KAPDA_RAZORPAY_BASE_URL=sandbox_url,
        KAPDA_RATE_LIMITS="off",
        KAPDA_LOG_JSON="on",
        KAPDA_GRAPHIQL="off",
        # The scenarios measure the uncached service (each request runs); `cache` turns it on.
        KAPDA_CATALOG_CACHE_SECONDS="0",
    )
    return env


async def start_service(
    database_url: str,
    sandbox_url: str,
    workers: int = 1,
    tuning: dict[str, str] | None = None,
    settings: dict[str, str] | None = None,
    label: str = "",
) -> Service:
    """`kapda-gql serve` itself: migrate, then uvicorn with the app factory, uvloop and httptools.
    With `tuning`, bench/tuned.py instead: the same app and uvicorn, with process-level knobs."""
    port = free_port()
    env = service_env(database_url, sandbox_url)
    env.update(settings or {})
    if tuning is None:
        argv = [
            PYTHON,
            "-m",
            "kapda_gql",
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        name = "kapda-gql"
    else:
        argv = [PYTHON, "-m", "bench.tuned", str(port), str(workers)]
        env.update(tuning)
        name = "kapda-gql tuned " + ",".join(f"{k}={v}" for k, v in tuning.items())
    proc = Process(
        f"{name} ({workers} worker{'s' * (workers > 1)})",
        argv,
        env,
        DATA_DIR / "logs" / f"service-{workers}w{'-tuned' if tuning else ''}{label}.log",
    )
    await wait_http(port, "/readyz", proc)
    return Service(proc, port, workers)


async def start_plain(data_file: Path, workers: int = 1, module: str = "bench.plain") -> Service:
    """The reference: a bare Strawberry app answering from memory, served the same way
    (or, with module="bench.floor", a bare Starlette endpoint answering fixed bytes)."""
    port = free_port()
    env = _base_env()
    env["BENCH_PLAIN_DATA" if module == "bench.plain" else "BENCH_FLOOR_DATA"] = str(data_file)
    proc = Process(
        f"{module} ({workers} worker{'s' * (workers > 1)})",
        [
            PYTHON,
            "-m",
            "uvicorn",
            f"{module}:create_app",
            "--factory",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env,
        DATA_DIR / "logs" / f"{module.rpartition('.')[2]}-{workers}w.log",
    )
    await wait_http(port, "/healthz", proc)
    return Service(proc, port, workers)


# --- the load generator ------------------------------------------------------------------------


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that sends a request and waits for its whole response."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._closed: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports do not subclass asyncio's
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        parsed = _parse_response(self._buf)
        if parsed is not None:
            self._waiter = None
            waiter.set_result(parsed)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = exc or ConnectionResetError("connection closed by the server")
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(self._closed)

    async def request(self, raw: bytes, timeout: float = 60.0) -> tuple[int, bytes]:
        if self._closed is not None or self.transport is None:
            raise ConnectionResetError("connection closed")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        self._waiter = waiter
        self.transport.write(raw)
        timer = loop.call_later(timeout, _expire, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future[tuple[int, bytes]]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("no response in time"))


def _parse_response(buf: bytearray) -> tuple[int, bytes] | None:
    """A complete response at the start of `buf` (removed from it), or None while it is partial."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end]).lower()
    status = int(head[9:12])
    start = head.find(b"\r\ncontent-length:")
    if start >= 0:
        stop = head.find(b"\r\n", start + 2)
        length = int(head[start + 17 : stop if stop > 0 else None])
        total = end + 4 + length
        if len(buf) < total:
            return None
        body = bytes(buf[end + 4 : total])
        del buf[:total]
        return status, body
    if b"\r\ntransfer-encoding: chunked" in head:
        pos, chunks = end + 4, list[bytes]()
        while True:
            line_end = buf.find(b"\r\n", pos)
            if line_end < 0:
                return None
            size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
            if len(buf) < line_end + 2 + size + 2:
                return None
            if size == 0:
                del buf[: line_end + 4]
                return status, b"".join(chunks)
            chunks.append(bytes(buf[line_end + 2 : line_end + 2 + size]))
            pos = line_end + 2 + size + 2
    del buf[: end + 4]
    return status, b""


async def connect(port: int) -> HttpConnection:
    _, protocol = await asyncio.get_running_loop().create_connection(HttpConnection, HOST, port)
    return protocol


def _owners(port: int) -> dict[int, int]:
    """Client port -> pid of the server process holding the other end (needs to run as root or
    as the servers' user, which the bench does: it started them)."""
    owners: dict[int, int] = {}
    for c in psutil.net_connections(kind="tcp"):
        if c.laddr and c.raddr and c.laddr.port == port and c.pid is not None and c.status == "ESTABLISHED":
            owners[c.raddr.port] = c.pid
    return owners


async def open_connections(port: int, clients: int, workers: int = 1) -> list[HttpConnection]:
    """`clients` connections spread evenly over the server's worker processes.

    uvicorn's workers share one listening socket and whichever is awake accepts a whole burst of
    connections, so a load generator that opens 32 keep-alive connections at once can find them
    all on one worker (until the others finish starting, and for good after that, since the
    connections are kept). A load balancer in front of many clients spreads them; this does the
    same by reopening connections that landed on a worker holding more than its share.
    """
    conns = [await connect(port) for _ in range(clients)]
    if workers < 2:
        return conns
    share = -(-clients // workers)
    for _ in range(100):
        owners = _owners(port)
        pid_of = {id(c): owners.get(_local_port(c)) for c in conns}
        load = Counter(pid_of.values())
        if len(load) >= workers and max(load.values()) <= share:
            return conns
        over = {pid for pid, n in load.items() if n > share}
        for i, c in enumerate(conns):
            pid = pid_of[id(c)]
            if pid in over and load[pid] > share:
                load[pid] -= 1
                c.close()
                conns[i] = await connect(port)
        await asyncio.sleep(0.05)
    say(f"  (connections could not be spread over {workers} workers: {dict(load)})")
    return conns


def _local_port(conn: HttpConnection) -> int:
    assert conn.transport is not None
    return int(conn.transport.get_extra_info("sockname")[1])


def post_request(port: int, path: str, payload: dict[str, Any], token: str | None = None) -> bytes:
    """A whole POST request, encoded once before the clock starts."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nUser-Agent: kapda-bench\r\n"
    )
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    return (head + "\r\n").encode() + body


def get_request(port: int, path: str, token: str | None = None) -> bytes:
    """A whole GET request (path with its query string), encoded once before the clock starts."""
    head = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: kapda-bench\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    return (head + "\r\n").encode()


def graphql_error_code(status: int, body: bytes) -> str | None:
    """None for a successful answer, else the error's API code (or the HTTP status)."""
    if status != 200:
        return f"HTTP {status}"
    if b'"errors"' not in body:
        return None
    errors = json.loads(body).get("errors") or []
    if not errors:
        return None
    return str((errors[0].get("extensions") or {}).get("code", "NO_CODE"))


@dataclass
class LoadResult:
    clients: int
    elapsed: float
    latencies: list[float]
    errors: Counter[str]
    statuses: Counter[int]
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def ok(self) -> int:
        return self.count - sum(self.errors.values())

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    @property
    def ok_rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    @property
    def server_errors(self) -> int:
        """HTTP 5xx answers plus INTERNAL_SERVER_ERROR in a 200 (GraphQL reports most failures so)."""
        return sum(n for s, n in self.statuses.items() if s >= 500) + self.errors.get(
            "INTERNAL_SERVER_ERROR", 0
        )

    def ms(self, p: float) -> float:
        return percentile(sorted(self.latencies), p) * 1000

    def error_text(self) -> str:
        return ", ".join(f"{k}×{v}" for k, v in self.errors.most_common()) or "none"


async def run_load(
    port: int,
    clients: int,
    request_for: Callable[[int], bytes],
    *,
    count: int,
    duration: float,
    classify: Callable[[int, bytes], str | None] = graphql_error_code,
    meter: CpuMeter | None = None,
    workers: int = 1,
) -> LoadResult:
    """`clients` connections send requests 0..count-1 back to back (each waits for its answer)
    until all are sent or `duration` seconds have passed, whichever comes first."""
    conns = await open_connections(port, clients, workers)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    next_index = 0
    perf = time.perf_counter

    async def client(conn: HttpConnection) -> None:
        nonlocal next_index
        while next_index < count and perf() < deadline:
            raw = request_for(next_index)
            next_index += 1
            started = perf()
            try:
                status, body = await conn.request(raw)
            except (OSError, TimeoutError) as error:
                latencies.append(perf() - started)
                errors[type(error).__name__] += 1
                statuses[599] += 1
                return
            latencies.append(perf() - started)
            statuses[status] += 1
            code = classify(status, body)
            if code is not None:
                errors[code] += 1

    if meter:
        meter.start()
    t0 = perf()
    deadline = t0 + duration
    await asyncio.gather(*(client(c) for c in conns))
    elapsed = perf() - t0
    cpu = meter.stop() if meter else {}
    for c in conns:
        c.close()
    return LoadResult(clients, elapsed, latencies, errors, statuses, cpu)


async def run_calls(
    clients: int,
    call: Callable[[int], Awaitable[str | None]],
    *,
    count: int,
    duration: float,
    meter: CpuMeter | None = None,
) -> LoadResult:
    """Like `run_load`, for work done in this process: `clients` tasks run call(0..count-1)
    (None = success, else an error code) until all are done or `duration` has passed."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    next_index = 0
    perf = time.perf_counter

    async def client() -> None:
        nonlocal next_index
        while next_index < count and perf() < deadline:
            index = next_index
            next_index += 1
            started = perf()
            try:
                code = await call(index)
            except Exception as error:  # a failure is a figure to report, not a reason to stop
                code = type(error).__name__
            latencies.append(perf() - started)
            if code is not None:
                errors[code] += 1

    if meter:
        meter.start()
    t0 = perf()
    deadline = t0 + duration
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = perf() - t0
    cpu = meter.stop() if meter else {}
    return LoadResult(clients, elapsed, latencies, errors, Counter(), cpu)
