"""py-spy attached to the running service while the bench loads it, summarised by component.

`py-spy record --gil --threads --format raw` samples only the thread holding the interpreter lock,
so every sample is interpreter time taken from the one core a worker can use; the summary groups
the sampled stacks by the library each frame belongs to (inclusive: a sample counts for every
component on its stack) and lists the functions the samples ended in (self time).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.common import DATA_DIR, PYTHON

# First match wins: more specific paths before the general ones.
COMPONENTS: list[tuple[str, str]] = [
    ("kapda_gql/graphql/", "kapda_gql.graphql"),
    ("kapda_gql/checkout/", "kapda_gql.checkout"),
    ("kapda_gql/http/", "kapda_gql.http (middleware)"),
    ("kapda_gql/observability", "kapda_gql.observability"),
    ("kapda_gql/payments/", "kapda_gql.payments (gateway)"),
    ("kapda_gql/db/", "kapda_gql.db (unit of work)"),
    ("kapda_gql/", "kapda_gql (other)"),
    ("sqlalchemy/", "sqlalchemy"),
    ("asyncpg/", "asyncpg"),
    ("strawberry/", "strawberry"),
    ("graphql/", "graphql-core"),
    ("starlette/", "starlette"),
    ("cross_web/", "strawberry (cross_web)"),
    ("uvicorn/", "uvicorn"),
    ("razorpay/", "razorpay SDK"),
    ("requests/", "requests/urllib3"),
    ("urllib3/", "requests/urllib3"),
    ("http/client.py", "requests/urllib3"),
    ("json/", "json"),
    ("logging/", "logging"),
    ("concurrent/futures", "thread pool"),
    ("threading.py", "thread pool"),
    ("asyncio/", "asyncio"),
    ("uvloop/", "asyncio"),
    ("jwt/", "pyjwt"),
    ("pydantic", "pydantic"),
]
FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^():]*)(?::(?P<line>\d+))?\)$")


def component(path: str) -> str:
    for needle, name in COMPONENTS:
        if needle in path:
            return name
    return "other (stdlib, C)" if path else "native"


@dataclass
class Summary:
    samples: int
    threads: Counter[str]
    inclusive: Counter[str]
    self_components: Counter[str]
    self_time: Counter[str]
    own_functions: Counter[str]

    def pct(self, n: int) -> float:
        return 100.0 * n / self.samples if self.samples else 0.0

    def render(self, title: str, top: int = 12) -> str:
        lines = [f"{title}: {self.samples} samples holding the GIL"]
        lines.append(
            "  by thread: " + ", ".join(f"{t} {self.pct(n):.0f}%" for t, n in self.threads.most_common(4))
        )
        lines.append("  self time by component (where the samples ended; sums to 100%):")
        lines += [f"    {self.pct(n):5.1f}%  {name}" for name, n in self.self_components.most_common(top)]
        lines.append("  inclusive time by component (a sample counts for each component on its stack):")
        lines += [f"    {self.pct(n):5.1f}%  {name}" for name, n in self.inclusive.most_common(top)]
        lines.append("  self time by function:")
        lines += [f"    {self.pct(n):5.1f}%  {name}" for name, n in self.self_time.most_common(top)]
        lines.append("  our own functions, inclusive:")
        lines += [f"    {self.pct(n):5.1f}%  {name}" for name, n in self.own_functions.most_common(top)]
        return "\n".join(lines)


def summarise(raw: str) -> Summary:
    threads: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    self_components: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        thread = frames[0] if frames and frames[0].startswith(("thread", "process")) else "?"
        if thread.startswith("process"):
            thread = frames[1] if len(frames) > 1 else thread
        threads[re.sub(r"\s*\(?0x[0-9a-f]+\)?", "", thread).strip() or "?"] += count
        seen_components: set[str] = set()
        seen_own: set[str] = set()
        leaf, leaf_component = "native", "native (no Python frame: the event loop's C code)"
        for frame in frames:
            m = FRAME.match(frame.strip())
            if not m:
                continue
            path, fn = m.group("file"), m.group("fn")
            comp = component(path)
            seen_components.add(comp)
            if "kapda_gql/" in path:
                seen_own.add(f"{fn} ({path.split('kapda_gql/')[-1]})")
            leaf, leaf_component = f"{fn} ({_short(path)})", comp
        for comp in seen_components:
            inclusive[comp] += count
        for fn in seen_own:
            own[fn] += count
        self_time[leaf] += count
        self_components[leaf_component] += count
    return Summary(total, threads, inclusive, self_components, self_time, own)


def _short(path: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    return found if Path(found).exists() else None


async def record(pid: int, seconds: float, name: str) -> Path | None:
    """Start py-spy on `pid` for `seconds`; returns the raw output path once it has finished."""
    exe = py_spy()
    if exe is None:
        return None
    out = DATA_DIR / "profiles" / f"{name}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        exe,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        "250",
        "--gil",
        "--threads",
        "--subprocesses",
        "--nonblocking",
        "--format",
        "raw",
        "--output",
        str(out),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')[-500:]}")
    return out


# --- instructions per request: callgrind, immune to the machine's load ----------------------------
#
# `python -m bench.profile instructions start|checkout [--requests 50] [KEY=VALUE ...]` runs the
# service (`kapda-gql serve`, 1 worker) under `valgrind --tool=callgrind` with instrumentation off,
# prepares customers with a cart line on one hot SKU, warms up 30 startCheckouts and checkouts, and
# then counts the instructions of `--requests` sequential requests of one kind (one client: no lock
# waits, no queueing), for the interpreter thread and the gateway's SDK threads apart. KEY=VALUE
# pairs go to the service's environment (KAPDA_STOCK_HOLDS=off). The same file runs against an
# older commit with PYTHONPATH at that tree (it uses only bench helpers that commit d6d408a has),
# which is how two commits are compared for the same work; one kind per run, because turning the
# instrumentation off and on again inside one process loses counts.

_START = """mutation Start($a: AddressInput!) {
  startCheckout(input: {shippingAddress: $a}) { id razorpayOrderId amount { amount currency } } }"""


async def instructions(url: str, kind: str, requests: int, env: dict[str, str]) -> dict[str, int]:
    """Instructions per request of `kind` ("start" or "checkout"), per thread of the service."""
    import glob
    import os
    import uuid

    import asyncpg  # type: ignore[import-untyped]
    import httpx

    from bench import checkout, seed
    from bench.common import HOST, Process, free_port, service_env, start_sandbox, wait_http

    sandbox = await start_sandbox()
    port = free_port()
    out = DATA_DIR / "profiles" / f"callgrind-{kind}"
    out.parent.mkdir(parents=True, exist_ok=True)
    for old in glob.glob(f"{out}*"):
        os.remove(old)
    service_vars = service_env(url, sandbox.url)
    service_vars.update({"KAPDA_RECONCILE_SECONDS": "100000", **env})  # no poll inside the count
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--separate-threads=yes",
        f"--callgrind-out-file={out}",
        PYTHON,
        "-m",
        "kapda_gql",
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    proc = Process(
        "kapda-gql under callgrind", argv, service_vars, DATA_DIR / "logs" / f"callgrind-{kind}.log"
    )

    def control(*args: str) -> None:
        subprocess.run(["callgrind_control", *args, str(proc.pid)], check=True, stdout=subprocess.DEVNULL)

    try:
        await wait_http(port, "/readyz", proc, timeout=600)
        warm = 30
        total = warm + requests
        conn = await asyncpg.connect(url)
        try:
            per_session, _, _ = await seed.stock(conn, "hot", total, "cg")
            owners = await seed.customers(conn, total, "cg")
            await seed.carts(conn, owners, per_session, 1)
        finally:
            await conn.close()
        async with (
            httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=120) as api,
            httpx.AsyncClient(base_url=sandbox.url, timeout=60) as razorpay,
        ):

            async def start(i: int) -> None:
                r = await api.post(
                    "/graphql",
                    json={"query": _START, "variables": {"a": seed.ADDRESS}},
                    headers={"Authorization": f"Bearer {owners[i].token}"},
                )
                if '"errors"' in r.text:
                    raise RuntimeError(r.text)

            async def paid(lo: int, hi: int) -> list[tuple[str, str, dict[str, str]]]:
                conn = await asyncpg.connect(url)
                try:
                    rows = await conn.fetch(
                        "SELECT user_id, id, razorpay_order_id FROM checkout_sessions WHERE user_id = ANY($1::bigint[])"
                        " AND status = 'OPEN' AND razorpay_order_id IS NOT NULL",
                        [c.id for c in owners[lo:hi]],
                    )
                finally:
                    await conn.close()
                session = {int(r[0]): (str(r[1]), str(r[2])) for r in rows}
                ready = []
                for c in owners[lo:hi]:
                    checkout_id, order_id = session[c.id]
                    r = await razorpay.post(f"/sandbox/orders/{order_id}/pay", json={})
                    r.raise_for_status()
                    ready.append((c.token, checkout_id, r.json()))
                return ready

            async def buy(token: str, checkout_id: str, proof: dict[str, str]) -> None:
                variables = {
                    "c": checkout_id,
                    "o": proof["razorpay_order_id"],
                    "p": proof["razorpay_payment_id"],
                    "s": proof["razorpay_signature"],
                    "key": str(uuid.uuid4()),
                }
                r = await api.post(
                    "/graphql",
                    json={"query": checkout.CHECKOUT, "variables": variables},
                    headers={"Authorization": f"Bearer {token}"},
                )
                if '"errors"' in r.text or '"number"' not in r.text:
                    raise RuntimeError(r.text)

            for i in range(warm):
                await start(i)
            for p in await paid(0, warm):
                await buy(*p)
            if kind == "start":
                control("-i", "on")
            for i in range(warm, total):
                await start(i)
            if kind == "start":
                control("-d", kind)
            ready = await paid(warm, total)
            if kind == "checkout":
                control("-i", "on")
            for p in ready:
                await buy(*p)
            if kind == "checkout":
                control("-d", kind)
    finally:
        proc.stop()
        sandbox.stop()
    counts: dict[str, int] = {}
    for path in sorted(set(glob.glob(f"{out}.1*"))):
        with open(path) as f:
            n = next(int(line.split()[1]) for line in f if line.startswith("summary:"))
        if n:
            counts[f"thread {path.rsplit('-', 1)[-1]}"] = n // requests
    return counts


def _main() -> None:
    import argparse

    import uvloop

    from bench.common import fresh_database

    p = argparse.ArgumentParser(prog="python -m bench.profile", description="instructions per request")
    p.add_argument("what", choices=["instructions"])
    p.add_argument("kind", choices=["start", "checkout"])
    p.add_argument("--requests", type=int, default=50)
    p.add_argument("env", nargs="*", help="KEY=VALUE for the service's environment")
    args = p.parse_intermixed_args()
    env = dict(item.split("=", 1) for item in args.env)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    with fresh_database() as url:
        counts = asyncio.run(instructions(url, args.kind, args.requests, env))
    print(
        f"{args.kind}: {sum(counts.values()):,} instructions per request ("
        + ", ".join(f"{k}: {v:,}" for k, v in counts.items())
        + f"; {args.requests} sequential requests, one client)"
    )


if __name__ == "__main__":
    _main()
