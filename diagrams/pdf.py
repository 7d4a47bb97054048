"""PDF pages: a drawing as one page of exactly the paper's size, and pages joined into one
document by poppler's `pdfunite`."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from llm_advisor.engine.errors import AdvisorError

from . import graphviz as gv
from .paginate import Sheet


def fit_page(
    source: Callable[[gv.Pad | None, tuple[float, float] | None], str], sheet: Sheet
) -> bytes:
    """Render DOT (made by `source(pad, size)`) as one page of exactly the paper's size."""
    usable_w, usable_h = sheet.usable
    width, height = gv.measure([source(None, None)])[0]
    scale = min(1.0, usable_w / width, usable_h / height)
    # `dot` scales the padding with the drawing: pad so that both fill the sheet once scaled.
    pad = gv.Pad((sheet.width / scale - width) / 2, (sheet.height / scale - height) / 2)
    return gv.run_dot(source(pad, (sheet.width, sheet.height) if scale < 1 else None), "pdf")


def join_pdfs(parts: list[bytes], exe: str) -> bytes:
    """Join one-page PDFs into one document with poppler's `pdfunite`."""
    with tempfile.TemporaryDirectory(prefix="llm-advisor-pdf-") as tmp:
        names = []
        for i, data in enumerate(parts, 1):
            name = os.path.join(tmp, f"page-{i:04d}.pdf")
            Path(name).write_bytes(data)
            names.append(name)
        out = os.path.join(tmp, "joined.pdf")
        done = subprocess.run([exe, *names, out], capture_output=True, check=False)
        if done.returncode != 0:
            message = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise AdvisorError(f"pdfunite failed: {message[-1] if message else done.returncode}")
        return Path(out).read_bytes()
