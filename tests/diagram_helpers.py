"""Reading diagram outputs back: a parser for the DOT subset we write, one for our Mermaid, and
what the diagram says should be in them."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from llm_advisor.diagrams.labels import edge_labels
from llm_advisor.engine.analysis.diagram import DecisionDiagram, Leaf, Question
from llm_advisor.engine.language.model import KnowledgeBase

KBS = Path(__file__).parent / "kbs"
HAVE_DOT = shutil.which("dot") is not None
HAVE_PDFINFO = shutil.which("pdfinfo") is not None


def word_heights(pdf: Path, pages: tuple[int, int] | None = None) -> list[float]:
    """How tall every word of a PDF (or of its pages first to last) is in print, in points, read
    by poppler's pdftotext."""
    span = ["-f", str(pages[0]), "-l", str(pages[1])] if pages else []
    boxes = subprocess.run(
        ["pdftotext", "-bbox", *span, str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return [
        float(y1) - float(y0)
        for y0, y1 in re.findall(r'<word [^>]*yMin="([\d.]+)" [^>]*yMax="([\d.]+)"', boxes)
    ]


def page_texts(pdf: Path) -> list[str]:
    """The text of every page of a PDF, first page first, read by poppler's pdftotext."""
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return text.split("\f")[:-1]  # each page's text ends with a form feed


@dataclass(frozen=True)
class Drawn:
    """Nodes (id → attributes) and edges (tail, head, attributes) read back from an output."""

    nodes: dict[str, dict[str, str]]
    edges: list[tuple[str, str, dict[str, str]]]


# --- what should be drawn ---------------------------------------------------------------------


def expected_edges(diagram: DecisionDiagram) -> set[tuple[int, int, str]]:
    """Every edge of the diagram as (question, child, answers label)."""
    found = set()
    for node_id in diagram.reachable():
        node = diagram.nodes[node_id]
        if isinstance(node, Question):
            for cells, child in node.branches:
                for label in edge_labels(diagram, node.fact, cells):
                    found.add((node_id, child, label))
    return found


def drawn_edges(drawn: Drawn) -> set[tuple[int, int, str]]:
    """Edges read back, mapped to diagram node ids (a leaf is drawn once per parent)."""
    found = set()
    for tail, head, attrs in drawn.edges:
        assert re.fullmatch(r"n\d+", tail), tail
        parent = int(tail[1:])
        match = re.fullmatch(r"n(\d+)(?:_(\d+))?", head)
        assert match, head
        if match.group(2) is not None:
            assert int(match.group(2)) == parent, (tail, head)
        found.add((parent, int(match.group(1)), attrs.get("label", "")))
    return found


def leaf_text(kb: KnowledgeBase, node: Leaf) -> list[str]:
    names = {a.id: a.name for a in kb.approaches}
    decision = node.decision
    if decision.recommendation is None:
        return ["No approach fits"]
    return [names[decision.recommendation], *(names[a] for a in decision.combine_with)]


def flat(text: str) -> str:
    return " ".join(text.split())


def check_complete(kb: KnowledgeBase, diagram: DecisionDiagram, drawn: Drawn) -> None:
    """Every node and edge of the diagram is drawn, with the right text, and nothing else."""
    assert drawn_edges(drawn) == expected_edges(diagram)
    questions = {n for n in diagram.reachable() if isinstance(diagram.nodes[n], Question)}
    drawn_questions = {n for n in drawn.nodes if re.fullmatch(r"n\d+", n)}
    assert drawn_questions == {f"n{n}" for n in questions}
    for node_id, attrs in drawn.nodes.items():
        label = flat(attrs["label"])
        number = int(node_id[1:].split("_")[0])
        node = diagram.nodes[number]
        if isinstance(node, Question):
            fact = kb.fact(diagram.facts[node.fact])
            assert flat(fact.short) in label and fact.name in label, (node_id, label)
        else:
            for part in leaf_text(kb, node):
                assert flat(part) in label, (node_id, label, part)


# --- DOT ----------------------------------------------------------------------------------------

_ID = r"[A-Za-z_][A-Za-z0-9_]*"


def _html_value(text: str, start: int) -> tuple[str, int]:
    """An HTML-like value `<...>` starting at `start`: its inside and the index after it."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "<":
            depth += 1
        elif text[i] == ">":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
    raise AssertionError(f"unbalanced HTML-like value: {text[start:]!r}")


def _attributes(text: str) -> dict[str, str]:
    """Attributes `[k=v k="v" k=<...>]` of our DOT subset."""
    attrs: dict[str, str] = {}
    i = 0
    while i < len(text):
        if text[i] in " \t":
            i += 1
            continue
        match = re.compile(rf"({_ID})=").match(text, i)
        assert match, f"bad attribute at {text[i:]!r}"
        key, i = match.group(1), match.end()
        if text[i] == "<":
            value, i = _html_value(text, i)
            attrs[key] = html_text(value)
        elif text[i] == '"':
            match = re.compile(r'"((?:[^"\\]|\\.)*)"').match(text, i)
            assert match, f"bad string at {text[i:]!r}"
            attrs[key], i = match.group(1).replace('\\"', '"'), match.end()
        else:
            match = re.compile(r"[^\s\]]+").match(text, i)
            assert match
            attrs[key], i = match.group(0), match.end()
    return attrs


def html_text(value: str) -> str:
    """The text of an HTML-like label: tags dropped, line breaks as spaces, entities decoded."""
    text = re.sub(r"<br\s*/?>", " ", value)
    text = re.sub(r"<[^<>]*>", "", text)
    return html.unescape(text).replace("\\\\", "\\")


def parse_dot(source: str) -> Drawn:
    """Nodes and edges of DOT as `to_dot` writes it (one statement per line)."""
    nodes: dict[str, dict[str, str]] = {}
    edges: list[tuple[str, str, dict[str, str]]] = []
    lines = source.splitlines()
    assert lines[0].startswith("//") and lines[1] == "digraph decision_diagram {"
    assert lines[-1] == "}"
    for line in lines[2:-1]:
        body = line.strip()
        if re.match(r"(graph|node|edge) \[", body) or body.startswith(("label=<", "{rank=")):
            continue
        match = re.fullmatch(rf"({_ID}) -> ({_ID})(?: \[(.*)\])?", body)
        if match:
            edges.append((match.group(1), match.group(2), _attributes(match.group(3) or "")))
            continue
        match = re.fullmatch(rf"({_ID})(?: \[(.*)\])?", body)
        assert match, f"unexpected DOT line: {line!r}"
        if match.group(1) != "spacer":
            nodes[match.group(1)] = _attributes(match.group(2) or "")
    return Drawn(nodes, edges)


def parse_dot_json(data: bytes) -> Drawn:
    """Nodes and edges as Graphviz itself reads them (`dot -Tjson`)."""
    import json

    graph = json.loads(data)
    objects = graph.get("objects", [])
    nodes = {o["name"]: {"label": html_text(o.get("label", ""))} for o in objects}
    names = [o["name"] for o in objects]
    edges = [
        (
            names[e["tail"]],
            names[e["head"]],
            {"label": html_text(e["label"])} if "label" in e else {},
        )
        for e in graph.get("edges", [])
    ]
    return Drawn(nodes, edges)


# --- Mermaid ------------------------------------------------------------------------------------

RESERVED = {"end", "graph", "subgraph", "flowchart", "style", "class", "classDef", "click"}
_TEXT = r'[^"]*'
_NODE = re.compile(rf'\s+({_ID})(?:\["({_TEXT})"\]|\("({_TEXT})"\)|>"({_TEXT})"\])')
_EDGE = re.compile(rf'\s+({_ID}) -->(?:\|"({_TEXT})"\|)? ({_ID})')
_OTHER = [
    re.compile(r"\s+%% .*"),
    re.compile(r'\s+subgraph legend\["Recommendation"\]'),
    re.compile(r"\s+end"),
    re.compile(
        r"\s+classDef s\d+ fill:#[0-9a-f]{6},stroke:#[0-9a-f]{6},color:#[0-9a-f]{6},"
        r"stroke-width:\dpx(?:,stroke-dasharray:5 3)?"
    ),
    re.compile(rf"\s+class {_ID}(?:,{_ID})* s\d+"),
    re.compile(r"\s+linkStyle \d+(?:,\d+)* stroke:#[0-9a-f]{6}(?:,stroke-width:3px)?"),
]
_NAMED = {"quot": '"', "lt": "<", "gt": ">", "amp": "&"}


def mermaid_text(text: str) -> str:
    """Decode a label: check it is safely escaped, then turn entity codes back into text."""
    without_breaks = text.replace("<br/>", "\n")
    for bad in '<>&|`%"':
        assert bad not in without_breaks, f"unescaped {bad!r} in Mermaid label {text!r}"
    decoded = re.sub(
        r"#(\w+);",
        lambda m: _NAMED[m.group(1)] if m.group(1) in _NAMED else chr(int(m.group(1))),
        without_breaks,
    )
    return decoded.replace("\n", " ")


def parse_mermaid(text: str) -> tuple[str, Drawn]:
    """The title, nodes and edges of our Mermaid; every line must be valid for our subset."""
    lines = text.splitlines()
    assert lines[0] == "---" and lines[2] == "---" and lines[3] == "flowchart LR"
    title = re.fullmatch(r'title: "((?:[^"\\]|\\.)*)"', lines[1])
    assert title, lines[1]
    nodes: dict[str, dict[str, str]] = {}
    edges: list[tuple[str, str, dict[str, str]]] = []
    edge_count = 0
    for line in lines[4:]:
        node = _NODE.fullmatch(line)
        edge = _EDGE.fullmatch(line)
        if node:
            name = node.group(1)
            assert name not in RESERVED and name not in nodes, name
            label = next(g for g in node.groups()[1:] if g is not None)
            if not name.startswith("legend"):
                nodes[name] = {"label": mermaid_text(label)}
        elif edge:
            edge_count += 1
            attrs = {"label": mermaid_text(edge.group(2))} if edge.group(2) is not None else {}
            edges.append((edge.group(1), edge.group(3), attrs))
        else:
            assert any(p.fullmatch(line) for p in _OTHER), f"unexpected Mermaid line: {line!r}"
        for match in re.finditer(r"linkStyle ([\d,]+)", line):
            assert all(int(i) < edge_count for i in match.group(1).split(","))
    for tail, head, _ in edges:
        assert tail in nodes and head in nodes, (tail, head)
    return title.group(1), Drawn(nodes, edges)
