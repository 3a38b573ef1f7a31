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
