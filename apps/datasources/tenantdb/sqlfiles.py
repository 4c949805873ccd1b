"""Baseline schema files and splitting them into statements."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)


def split_sql(text: str) -> list[str]:
    """Split a SQL script into statements on ``;`` outside quotes, comments and
    PostgreSQL dollar-quoted bodies. Comment-only pieces are dropped."""
    statements: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    has_code = False
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "-" and nxt == "-":
            end = text.find("\n", i)
            end = n if end == -1 else end
            i = end
            continue
        if c == "/" and nxt == "*":
            end = text.find("*/", i + 2)
            end = n if end == -1 else end + 2
            i = end
            buf.append(" ")
            continue
        if c in ("'", '"', "`"):
            j = i + 1
            while j < n:
                if text[j] == "\\" and c != '"':
                    j += 2
                    continue
                if text[j] == c:
                    if j + 1 < n and text[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            buf.append(text[i : j + 1])
            has_code = True
            i = j + 1
            continue
        if c == "$":
            m = re.match(r"\$[A-Za-z_]*\$", text[i:])
            if m:
                tag = m.group(0)
                end = text.find(tag, i + len(tag))
                end = n if end == -1 else end + len(tag)
                buf.append(text[i:end])
                has_code = True
                i = end
                continue
        if c == ";":
            if has_code:
                statements.append("".join(buf).strip())
            buf, has_code = [], False
            i += 1
            continue
        buf.append(c)
        if not c.isspace():
            has_code = True
        i += 1
    if has_code and "".join(buf).strip():
        statements.append("".join(buf).strip())
    return statements


def baseline_files(db_type: str) -> list[Path]:
    """The baseline schema files for ``db_type`` in order (empty: no baseline)."""
    root = str(settings.TENANT_BASELINE_DIR or "").strip()
    if not root:
        return []
    folder = Path(root) / db_type
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".sql" and p.is_file())
