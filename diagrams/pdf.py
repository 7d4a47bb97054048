"""PDF documents: a drawing as one page of exactly the paper's size, the pages of a paged document
each at full size, and pages joined into one document by poppler's `pdfunite`."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from llm_advisor.engine.errors import AdvisorError
from llm_advisor.engine.language.model import KnowledgeBase

from . import graphviz as gv
from .paginate import Sheet
from .scene import Scene

JOIN_HINT = (
    "install poppler-utils (Debian/Ubuntu: sudo apt-get install poppler-utils; macOS: brew "
    "install poppler)"
)


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


def one_page(kb: KnowledgeBase, scene: Scene, sheet: Sheet) -> bytes:
    """A one-page PDF of exactly the paper's size: the drawing centred, scaled down to fit."""
    return fit_page(lambda pad, size: gv.to_dot(kb, scene, pad=pad, size=size), sheet)


def pdf_document(kb: KnowledgeBase, scenes: list[Scene], sheet: Sheet) -> tuple[bytes, int]:
    """A PDF with one landscape page per scene of a paged document (see `pages.page_scenes`),
    nothing scaled down."""
    joiner = shutil.which("pdfunite")
    if len(scenes) > 1 and joiner is None:
        raise AdvisorError(
            f"this diagram needs {len(scenes)} PDF pages, and joining them needs 'pdfunite', "
            f"which is not on PATH: {JOIN_HINT}; or write SVG or PNG (one large page)"
        )
    # Fill each page to the usable height with an invisible spacer (dot puts it at the bottom),
    # so that drawings start at the top, then pad the drawing to the exact paper size.
    usable_h = sheet.usable[1]
    heights = [h for _, h in gv.measure([gv.to_dot(kb, scene) for scene in scenes])]
    spacers = [max(0.0, usable_h - h - gv.NODESEP * 72) for h in heights]
    drafts = [gv.to_dot(kb, sc, spacer=sp) for sc, sp in zip(scenes, spacers, strict=True)]
    sources = [
        gv.to_dot(
            kb,
            scene,
            spacer=spacer,
            pad=gv.Pad(max(0.0, (sheet.width - w) / 2), max(0.0, (sheet.height - h) / 2)),
        )
        for scene, spacer, (w, h) in zip(scenes, spacers, gv.measure(drafts), strict=True)
    ]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        rendered = list(pool.map(lambda source: gv.run_dot(source, "pdf"), sources))
    if len(rendered) == 1 or joiner is None:
        return rendered[0], 1
    return join_pdfs(rendered, joiner), len(rendered)


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
