"""The README and the API guide document the API inside the repository: every link they hold
points at a file of the repository or at the service running on this machine, never outside."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)|<(https?://[^>]+)>")
LOCAL = re.compile(r"^https?://(127\.0\.0\.1|localhost)(:\d+)?(/|$)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_stays_inside_the_repository(doc: Path) -> None:
    targets = [a or b for a, b in LINK.findall(doc.read_text())]
    assert targets or (doc.name == "README.md" and doc.parent.name == "bench")
    for target in targets:
        if target.startswith(("http://", "https://")):
            assert LOCAL.match(target), f"{doc.name} links outside the repository: {target}"
            continue
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        assert path.is_relative_to(ROOT), f"{doc.name} links outside the repository: {target}"
        assert path.exists(), f"{doc.name} links to a missing file: {target}"
