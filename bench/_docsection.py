"""A benchmark's section of a docs page, rewritten in place: from its heading to the next
``## `` heading (appended when the page has no such heading yet)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


def write_section(doc: Path, mark: str, lines: Sequence[str]) -> None:
    """Replace the section of ``doc`` that starts with the heading ``mark`` by ``lines`` (the
    heading included)."""
    text = doc.read_text() if doc.exists() else ""
    if mark in text:
        head, _, rest = text.partition(mark)
        tail = rest.split("\n## ", 1)
        text = head + "\n".join(lines) + ("\n## " + tail[1] if len(tail) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines)
    doc.write_text(text)
