"""Mermaid flowchart output, for wikis and READMEs that GitHub and GitLab render.

Every label is a quoted string in which the characters Mermaid or HTML would interpret are
written as Mermaid entity codes (`#quot;`, `#lt;`, `#35;` ...), so text from rule files cannot
break the syntax. Node ids are the scene's (`n12`, `n3_12`, `c7_12`), which are always safe.
"""

from __future__ import annotations

from llm_advisor.engine.language.model import KnowledgeBase

from .labels import visible, wrap
from .scene import FADED_LINE, HIGHLIGHT, Scene, SceneNode, node_colours

MAX_TEXT = 50_000
MAX_EDGES = 500
"""Mermaid's default limits (maxTextSize, maxEdges); larger diagrams are not rendered."""
SHORT = 60
"""Subtitle paragraphs up to this many characters join the title (Mermaid draws it as one line
as wide as the drawing); longer ones, such as how to read the page, become comments."""
DASHED = ("open", "continuation", "entry")
"""Node kinds drawn with a dashed border, as in the Graphviz rendering."""

_ENTITIES = {
    "&": "#amp;",
    "<": "#lt;",
    ">": "#gt;",
    '"': "#quot;",
    "#": "#35;",
    "|": "#124;",
    "`": "#96;",
    "%": "#37;",
}


def escape(text: str) -> str:
    """Text for inside a quoted Mermaid label: entity codes for special characters, spaces for
    control characters (`visible`)."""
    return "".join(_ENTITIES.get(ch, ch) for ch in visible(text))


def _yaml_string(text: str) -> str:
    """A YAML double-quoted string (for the front matter title)."""
    return '"' + visible(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def label(node: SceneNode) -> str:
    """A node's label: main lines, then detail lines, joined by line breaks."""
    return "<br/>".join(escape(line) for line in (*node.lines, *node.detail))


def shape(node: SceneNode) -> str:
    """The node statement: rectangles for questions, rounded boxes for outcomes."""
    text = f'"{label(node)}"'
    if node.kind in ("leaf", "open"):
        return f"{node.id}({text})"
    if node.kind in ("continuation", "entry"):
        return f"{node.id}>{text}]"
    return f"{node.id}[{text}]"


def to_mermaid(kb: KnowledgeBase, scene: Scene) -> str:
    """A Mermaid flowchart of a scene; the same scene always gives the same text.

    Leaves carry their approach's colours and name, so no legend is drawn (Mermaid lays a
    legend out inside the flow, where edges cross it)."""
    short = [p for p in scene.subtitle if len(p) <= SHORT]
    title = " · ".join([scene.title, *short])
    lines = ["---", f"title: {_yaml_string(title)}", "---", "flowchart LR"]
    lines.append(f"  %% llm-advisor decision diagram, rule base {kb.fingerprint[:12]}")
    for paragraph in scene.subtitle:
        if len(paragraph) > SHORT:
            lines.extend(f"  %% {line}" for line in wrap(visible(paragraph), 96))
    styles: dict[tuple[str, str, str, str, bool], str] = {}
    members: dict[str, list[str]] = {}
    for node in scene.nodes:
        lines.append(f"  {shape(node)}")
        fill, border, text = node_colours(kb, node)
        width = "3px" if node.state == "path" else "1px"
        key = (fill, border, text, width, node.kind in DASHED)
        name = styles.setdefault(key, f"s{len(styles)}")
        members.setdefault(name, []).append(node.id)
    bold: list[str] = []
    faded: list[str] = []
    for i, edge in enumerate(scene.edges):
        arrow = f'-->|"{escape(edge.label)}"|' if edge.label else "-->"
        lines.append(f"  {edge.tail} {arrow} {edge.head}")
        if edge.state == "path":
            bold.append(str(i))
        elif edge.state == "faded":
            faded.append(str(i))
    for (fill, border, text, width, dashed), name in styles.items():
        dash = ",stroke-dasharray:5 3" if dashed else ""
        lines.append(
            f"  classDef {name} fill:{fill},stroke:{border},color:{text},stroke-width:{width}{dash}"
        )
        lines.append(f"  class {','.join(members[name])} {name}")
    if bold:
        lines.append(f"  linkStyle {','.join(bold)} stroke:{HIGHLIGHT},stroke-width:3px")
    if faded:
        lines.append(f"  linkStyle {','.join(faded)} stroke:{FADED_LINE}")
    return "\n".join(lines) + "\n"


def too_large(text: str) -> str | None:
    """Why GitHub's or GitLab's Mermaid would refuse to draw this text, if it would."""
    edges = text.count("-->")  # labels never contain it: `>` is always escaped
    if len(text) > MAX_TEXT:
        return f"it has {len(text)} characters (Mermaid draws at most {MAX_TEXT} by default)"
    if edges > MAX_EDGES:
        return f"it has {edges} edges (Mermaid draws at most {MAX_EDGES} by default)"
    return None
