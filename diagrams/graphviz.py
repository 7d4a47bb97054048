"""Graphviz output: DOT text for a scene, and running Graphviz's `dot` program on it.

Every label is an HTML-like label whose text is escaped, so quotes, braces, angle brackets,
backslashes and non-ASCII text from rule files can never break the DOT syntax. Fonts are set in
points and drawings are never scaled, so the sizes below are the printed sizes.
"""

from __future__ import annotations

import html
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from llm_advisor.engine.errors import AdvisorError
from llm_advisor.engine.language.model import KnowledgeBase

from .labels import visible, wrap
from .paginate import Spacing
from .scene import (
    FADED_LINE,
    FADED_TEXT,
    HIGHLIGHT,
    Scene,
    SceneEdge,
    SceneNode,
    blend,
    colours,
    node_colours,
)

FONT = "Helvetica"
TITLE_PT = 14
TEXT_PT = 11
DETAIL_PT = 9
EDGE_PT = 10
"""Font sizes in points; nothing is drawn smaller than 9 pt."""
RANKDIR = "LR"
NODESEP = 0.1
RANKSEP = 0.3
"""Inches between the nodes of a rank, and between ranks."""
EDGE_WRAP = 18
LEGEND_WRAP = 125
"""Characters per line of edge labels and of the legend."""
SUBTITLE_WRAP = 120
"""Characters per line of the subtitle under a diagram's title."""
INSTALL = (
    "install Graphviz (Debian/Ubuntu: sudo apt-get install graphviz; Fedora: sudo dnf install "
    "graphviz; macOS: brew install graphviz; Windows: winget install graphviz)"
)


class GraphvizMissing(AdvisorError):
    """Graphviz's `dot` program is not installed (exit code 1)."""


class GraphvizFailed(AdvisorError):
    """`dot` ran but failed on the generated input (a bug; exit code 1)."""


@dataclass(frozen=True)
class Pad:
    """Space added around a drawing, in points, to bring its page to an exact size."""

    x: float
    y: float


# --- labels -----------------------------------------------------------------------------------


def _text(text: str) -> str:
    """Escape text for an HTML-like label (control characters become spaces: `visible`)."""
    clean = visible(text)
    # Graphviz expands escapes such as \N in HTML-like labels too; a doubled backslash is literal.
    # A text of nothing but "]" is a syntax error to Graphviz's label parser: write it as &#93;.
    escaped = html.escape(clean, quote=False).replace('"', "&quot;").replace("]", "&#93;")
    return escaped.replace("\\", "\\\\")


def _lines(lines: tuple[str, ...], *, bold: bool = False) -> str:
    parts = [_text(line) for line in lines]
    if bold:
        parts = [f"<b>{p}</b>" for p in parts]
    return "<br/>".join(parts)


def node_label(node: SceneNode, text_colour: str, swatches: Sequence[str] = ()) -> str:
    """The HTML-like label of a node: a row of colour swatches (the approaches a leaf that
    lists several outcomes names), main text (bold for questions and leaves), then details."""
    body = _lines(node.lines, bold=node.kind in ("question", "leaf", "open"))
    if swatches:  # in front of the names they stand for
        row = "".join(f'<font color="{c}" point-size="{TEXT_PT}">\u25a0</font>' for c in swatches)
        body = f"{row} {body}"
    if node.kind == "continuation":
        body = f"<i>{body}</i>"
    if node.detail:
        face = ' face="Courier"' if node.kind == "question" else ""
        body += f'<br/><font point-size="{DETAIL_PT}"{face}>{_lines(node.detail)}</font>'
    return f'<<font color="{text_colour}">{body}</font>>'


def wrap_answers(text: str) -> list[str]:
    """An edge's answers in lines of about `EDGE_WRAP` characters, broken after commas."""
    lines: list[str] = []
    for part in text.split(", "):
        if lines and len(lines[-1]) + len(part) + 2 <= EDGE_WRAP:
            lines[-1] += ", " + part
        else:
            lines.append(part)
    return lines


def edge_label(edge: SceneEdge) -> str:
    """The HTML-like label of an edge (empty when it has none)."""
    if not edge.label:
        return ""
    joined = ",<br/>".join(_text(line) for line in wrap_answers(edge.label))
    if edge.state == "path":
        joined = f"<b>{joined}</b>"
    colour = FADED_TEXT if edge.state == "faded" else "#000000"
    return f'<<font color="{colour}">{joined}</font>>'


def subtitle_rows(paragraphs: Iterable[str]) -> list[str]:
    """Subtitle paragraphs as the lines under a page's title, wrapped and escaped."""
    return [_text(line) for paragraph in paragraphs for line in wrap(paragraph, SUBTITLE_WRAP)]


def title_label(kb: KnowledgeBase, scene: Scene) -> str:
    """The graph label: title, subtitle paragraphs wrapped into lines, and the colour legend."""
    title = f'<font point-size="{TITLE_PT}"><b>{_text(scene.title)}</b></font>'
    rows = [title, *subtitle_rows(scene.subtitle)]
    line = "Recommendation:"
    used = len(line)
    for approach, name in scene.legend:
        if used + len(name) + 5 > LEGEND_WRAP:
            rows.append(line)
            line, used = "", 0
        colour = colours(kb, approach or None)[1]
        swatch = f'<font color="{colour}" point-size="{TITLE_PT}">\u25a0</font>'
        line += f"   {swatch} {_text(name)}"
        used += len(name) + 5
    if scene.legend:
        rows.append(line)
    cells = "".join(f'<tr><td align="left">{row}</td></tr>' for row in rows)
    return f'<<table border="0" cellborder="0" cellspacing="0" cellpadding="2">{cells}</table>>'


def node_attrs(kb: KnowledgeBase, node: SceneNode) -> dict[str, str]:
    """The DOT attributes of a drawn node: label, colours, line style."""
    fill, border, text = node_colours(kb, node)
    swatches = [colours(kb, a)[1] for a in node.approaches]
    if node.state == "faded":
        swatches = [blend(c, 0.6) for c in swatches]
    attrs = {"label": node_label(node, text, swatches), "fillcolor": fill, "color": border}
    if node.kind in ("continuation", "entry", "open"):
        attrs["style"] = "rounded,dashed,filled"
    if node.kind in ("continuation", "entry"):
        attrs["fontsize"] = str(EDGE_PT)
    if node.state == "path":
        attrs["penwidth"] = "3"
    return attrs


def edge_attrs(edge: SceneEdge) -> dict[str, str]:
    attrs: dict[str, str] = {}
    label = edge_label(edge)
    if label:
        # Underlined and tied to its edge by a line: labels of adjacent edges stack closely.
        attrs.update(label=label, decorate="true")
    if edge.state == "path":
        attrs.update(color=HIGHLIGHT, penwidth="3")
    elif edge.state == "faded":
        attrs.update(color=FADED_LINE)
    return attrs


# --- DOT --------------------------------------------------------------------------------------


def _digraph(kb: KnowledgeBase, name: str, pad: Pad | None) -> Any:
    import graphviz

    return graphviz.Digraph(
        name,
        comment=f"llm-advisor decision diagram, rule base {kb.fingerprint[:12]}",
        graph_attr={
            "rankdir": RANKDIR,
            "fontname": FONT,
            "fontsize": str(TEXT_PT),
            "labelloc": "t",
            "labeljust": "l",
            "nodesep": str(NODESEP),
            "ranksep": str(RANKSEP),
            "margin": "0",
            "pad": f"{pad.x / 72:.6f},{pad.y / 72:.6f}" if pad else "0.25",
        },
        node_attr={
            "fontname": FONT,
            "fontsize": str(TEXT_PT),
            "shape": "box",
            "style": "rounded,filled",
            "margin": "0.1,0.06",
            "height": "0.3",
        },
        edge_attr={"fontname": FONT, "fontsize": str(EDGE_PT), "arrowsize": "0.7"},
    )


def to_dot(
    kb: KnowledgeBase,
    scene: Scene,
    *,
    pad: Pad | None = None,
    spacer: float = 0.0,
    name: str = "decision_diagram",
    size: tuple[float, float] | None = None,
) -> str:
    """DOT text for a scene; the same scene always gives the same bytes.

    `spacer` adds an invisible node that many points tall, to push the drawing to the top of a
    page; `pad` adds space around the drawing.
    """
    dot = _digraph(kb, name, pad)
    dot.attr(label=title_label(kb, scene))
    if size is not None:  # scale the drawing down to this many points
        dot.attr(size=f"{size[0] / 72:.4f},{size[1] / 72:.4f}")
    if spacer > 0:
        dot.node("spacer", label="", style="invis", width="0.01", height=f"{spacer / 72:.4f}")
    for node in scene.nodes:
        dot.node(node.id, **node_attrs(kb, node))
    for edge in scene.edges:
        dot.edge(edge.tail, edge.head, **edge_attrs(edge))
    if scene.aligned:
        ends = [n.id for n in scene.nodes if n.kind in ("leaf", "open")]
        dot.body.append("{rank=sink; " + " ".join(f'"{n}";' for n in ends) + "}\n")
    return str(dot.source)


@dataclass(frozen=True)
class IndexTable:
    """One table of an index page: a heading, the column headings, and rows of cells, each cell
    one or more lines; the first column is bold, the columns in `code` are set in Courier."""

    heading: str
    columns: tuple[str, ...]
    rows: tuple[tuple[tuple[str, ...], ...], ...]
    code: tuple[int, ...] = ()


def index_dot(
    title: str,
    tables: Sequence[IndexTable],
    pad: Pad | None = None,
    size: tuple[float, float] | None = None,
    *,
    subtitle: Sequence[str] = (),
) -> str:
    """A page of index tables at a fixed `DETAIL_PT` size: long cells are given as several
    lines (the caller wraps them), never made smaller. `subtitle` holds paragraphs set under
    the title as a diagram page sets them (what the document is drawn for)."""

    def cell(column: int, lines: tuple[str, ...], code: tuple[int, ...]) -> str:
        text = "<br/>".join(_text(line) for line in lines)
        if column == 0:
            text = f"<b>{text}</b>"
        if column in code:
            text = f'<font face="Courier">{text}</font>'
        return f'<td align="left" balign="left" valign="top">{text}</td>'

    parts = [
        f'<tr><td align="left"><font point-size="{TITLE_PT}"><b>{_text(title)}</b></font></td></tr>',
        *(
            f'<tr><td align="left"><font point-size="{TEXT_PT}">{row}</font></td></tr>'
            for row in subtitle_rows(subtitle)
        ),
    ]
    for table in tables:
        head = "".join(f'<td align="left"><i>{_text(c)}</i></td>' for c in table.columns)
        body = "".join(
            "<tr>" + "".join(cell(i, lines, table.code) for i, lines in enumerate(row)) + "</tr>"
            for row in table.rows
        )
        parts.append(
            f'<tr><td align="left"><font point-size="{TEXT_PT}"><b>{_text(table.heading)}</b>'
            "</font></td></tr>"
            '<tr><td align="left"><table border="0" cellborder="0" cellspacing="0" '
            f'cellpadding="2"><tr>{head}</tr>{body}</table></td></tr>'
        )
    table_html = (
        f'<<table border="0" cellborder="0" cellspacing="0" cellpadding="2">{"".join(parts)}'
        "</table>>"
    )
    attrs = f'margin="0" fontname="{FONT}"'
    if pad is not None:
        attrs += f' pad="{pad.x / 72:.6f},{pad.y / 72:.6f}"'
    if size is not None:
        attrs += f' size="{size[0] / 72:.4f},{size[1] / 72:.4f}"'
    return (
        f'digraph index {{ graph [{attrs}]; node [shape=plaintext fontname="{FONT}" '
        f'fontsize="{DETAIL_PT}"]; t [label={table_html}]; }}'
    )


def catalog_dot(kb: KnowledgeBase, scene: Scene, extra: Iterable[SceneNode] = ()) -> str:
    """A graph of unconnected nodes so that one run of `dot` measures them all: every node of
    the scene and of `extra`, and each distinct edge label as `l<i>`."""
    dot = _digraph(kb, "catalog", None)
    for node in (*scene.nodes, *extra):
        dot.node(node.id, **node_attrs(kb, node))
    labels = sorted({edge.label for edge in scene.edges if edge.label})
    for i, text in enumerate(labels):
        label = edge_label(SceneEdge("", "", text))
        dot.node(f"l{i}", label=label, shape="plaintext", style="", fontsize=str(EDGE_PT))
    return str(dot.source)


def spacing() -> Spacing:
    """The spacing `to_dot` asks of `dot`, for estimating layouts."""
    return Spacing(NODESEP * 72, RANKSEP * 72, RANKDIR == "LR")


# --- running dot ------------------------------------------------------------------------------


def have_dot() -> bool:
    return shutil.which("dot") is not None


def missing(fmt: str) -> GraphvizMissing:
    return GraphvizMissing(
        f"{fmt.upper()} output needs Graphviz's 'dot' program, which is not on PATH: {INSTALL}; "
        "DOT and Mermaid output work without it"
    )


def run_dot(source: str, fmt: str, options: Sequence[str] = ()) -> bytes:
    """Run `dot -T<fmt>` (with more command-line options) on DOT text and return its output."""
    exe = shutil.which("dot")
    if exe is None:
        raise missing(fmt)
    try:
        done = subprocess.run(
            [exe, f"-T{fmt}", *options],
            input=source.encode("utf-8"),
            capture_output=True,
            check=False,
        )
    except OSError as err:
        raise GraphvizMissing(f"cannot run Graphviz's 'dot': {err.strerror or err}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GraphvizFailed(f"Graphviz failed: {message[-1] if message else done.returncode}")
    return done.stdout


def measure(sources: list[str]) -> list[tuple[float, float]]:
    """The width and height in points of each graph's drawing (without padding), in one run."""
    if not sources:
        return []
    plain = run_dot("\n".join(sources), "plain").decode("utf-8", "replace")
    found = [
        (float(parts[2]) * 72, float(parts[3]) * 72)
        for parts in (line.split() for line in plain.splitlines())
        if parts and parts[0] == "graph"
    ]
    if len(found) != len(sources):
        raise GraphvizFailed(f"Graphviz measured {len(found)} of {len(sources)} graphs")
    return found


def catalog_sizes(
    kb: KnowledgeBase, scene: Scene, extra: Iterable[SceneNode] = ()
) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
    """Sizes in points of the nodes of a scene and `extra`, of its title block (as `title`), and
    of its edge labels."""
    title_only = to_dot(kb, Scene(scene.title, scene.subtitle, scene.legend, (), ()))
    plain = run_dot(f"{catalog_dot(kb, scene, extra)}\n{title_only}", "plain").decode()
    sizes: dict[str, tuple[float, float]] = {}
    graphs = 0
    for line in plain.splitlines():
        parts = line.split(" ", 6)
        if parts[0] == "graph":
            graphs += 1
            if graphs == 2:  # the second graph is the title block alone
                sizes["title"] = (float(parts[2]) * 72, float(parts[3]) * 72)
        elif parts[0] == "node":
            sizes[parts[1]] = (float(parts[4]) * 72, float(parts[5]) * 72)
    labels = sorted({edge.label for edge in scene.edges if edge.label})
    label_sizes = {text: sizes.pop(f"l{i}") for i, text in enumerate(labels)}
    return sizes, label_sizes
