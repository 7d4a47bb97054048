"""Interactive HTML: one self-contained page that walks through the decision.

The page embeds the walkthrough data as JSON (with `<`, `>` and `&` written as escapes, so text
from rule files cannot end the script) and a small script; it loads nothing from the network.
It asks the facts in the rule base's order with one button per answer, shows the outcome with
the rules that certainly fire and their reasons (each source cited by author, year, title and
address), goes back one answer at a time, and lists the whole exact diagram on request, its
questions numbered in the order shown. After an answer the keyboard focus moves to the next
question or the outcome, and both are live regions, so a screen reader reads them out.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from .scene import PALETTE

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;
background:#fafafa;color:#1d1d1d}
main{max-width:860px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}
.sub{color:#666;font-size:13px;margin-bottom:18px}
.sub p{margin:0 0 4px}
.card{background:#fff;border:1px solid #ddd;border-radius:8px;padding:18px 20px;margin:14px 0}
.answers button,.controls button{font:inherit;margin:4px 6px 4px 0;padding:7px 14px;
border:1px solid #888;border-radius:6px;background:#fff;cursor:pointer}
.answers button:hover,.controls button:hover{background:#eef4fb;border-color:#0072b2}
.help{color:#555;font-size:13px;margin-top:6px}
ol.trail{padding-left:20px;color:#444}
.outcome{border-left:8px solid #888}
.outcome h2{margin:0 0 6px;font-size:20px}
table{border-collapse:collapse;width:100%;font-size:13px}
td,th{border-top:1px solid #e4e4e4;padding:6px;text-align:left;vertical-align:top}
.possible li{margin:2px 0}
#tree{font-size:13px}
#tree .q{margin:6px 0;padding:6px 8px;background:#fff;border:1px solid #e2e2e2;border-radius:6px}
#tree a{color:#0060a0}
code{font-size:12px;background:#f0f0f0;padding:1px 4px;border-radius:3px}
"""

SCRIPT = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("walk-data").textContent);
  var answers = D.start.slice();  // [fact index, cell index], a highlighted case's first
  var assumed = {};  // fact index -> cell index: a highlighted case's defaults, not answers
  D.assumed.forEach(function (a) { assumed[a[0]] = a[1]; });
  var $ = function (id) { return document.getElementById(id); };
  var names = {};
  D.approaches.forEach(function (a) { names[a.id] = a.name; });
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function masks() {
    var m = D.facts.map(function (f) { return (1 << f.cells.length) - 1; });
    answers.forEach(function (a) { m[a[0]] = 1 << a[1]; });
    return m;
  }
  function hits(cells, mask) {
    return cells.some(function (c) { return (mask >> c) & 1; });
  }
  // Every exact node reachable with the answers so far, the outcomes there, and the facts
  // still asked by a question with more than one branch open.
  function trace(m) {
    var seen = {}, outcomes = {}, tested = {}, stack = [D.root];
    while (stack.length) {
      var id = stack.pop();
      if (seen[id]) { continue; }
      seen[id] = true;
      var node = D.nodes[id];
      if (node.leaf) { outcomes[JSON.stringify(node.leaf)] = node.leaf; continue; }
      var taken = node.branches.filter(function (b) { return hits(b[0], m[node.fact]); });
      if (taken.length > 1) { tested[node.fact] = true; }
      taken.forEach(function (b) { stack.push(b[1]); });
    }
    return {outcomes: Object.keys(outcomes).map(function (k) { return outcomes[k]; }),
            tested: Object.keys(tested).map(Number).sort(function (a, b) { return a - b; })};
  }
  // The three-valued status of each rule (0 false, 1 true, 2 open) given the answers.
  function statuses(m) {
    var derived = [], status = [];
    for (var d = 0; d < D.derived; d++) { derived.push(0); }
    var producers = {};
    D.rules.forEach(function (rule, r) {
      var result = 0;
      rule.when.forEach(function (alt) {
        var s = 1;
        alt.forEach(function (lit) {
          var v;
          if (lit[0] === 0) {
            var have = m[lit[1]], hit = lit[2] & have;
            v = hit === have ? 1 : hit === 0 ? 0 : 2;
          } else {
            var ds = derived[lit[1]];
            v = ds === 2 ? 2 : (ds === 1) === (lit[2] === 1) ? 1 : 0;
          }
          if (v === 0) { s = 0; } else if (v === 2 && s === 1) { s = 2; }
        });
        if (s === 1) { result = 1; } else if (s === 2 && result === 0) { result = 2; }
      });
      status.push(result);
      rule.derives.forEach(function (d) {
        if (result === 1) { derived[d] = 1; } else if (result === 2 && derived[d] === 0) { derived[d] = 2; }
      });
    });
    return status;
  }
  function outcomeName(o) {
    if (o[0] === null) { return "No approach fits"; }
    return [o[0]].concat(o[1]).map(function (a) { return names[a]; }).join(" + ");
  }
  function effectText(e) {
    if (e.score) { return (e.score.delta > 0 ? "+" : "") + e.score.delta + " " + names[e.score.approach]; }
    if (e.exclude) { return "excludes " + names[e.exclude.approach] + ": " + e.exclude.reason; }
    if (e.combine && e.combine.lead) {
      return "combine " + names[e.combine.lead] + " with " + names[e.combine.partner] + " as its partner";
    }
    if (e.combine) { return "combine " + names[e.combine[0]] + " with " + names[e.combine[1]]; }
    if (e.derive) { return "establishes " + e.derive; }
    if (e.technique) { return "technique for " + names[e.technique.approach] + ": " + e.technique.name; }
    return "advice: " + e.advise;
  }
  // Whether an effect shows beside this plan: techniques and advice about carrying out an
  // approach only where it is in the plan, advice for a plan without one only where it is not.
  function shownIn(e, plan) {
    function has(a) { return plan.indexOf(a) >= 0; }
    if (e.technique) { return has(e.technique.approach); }
    if (e.advise === undefined) { return true; }
    return (e.shown_with || []).every(has) && !(e.shown_without || []).some(has);
  }
  function cite(src) {
    // Author (year). Title. Address: as a reader looks the source up.
    var box = el("div", {});
    var who = src.author + (src.year ? " (" + src.year + ")" : "");
    box.appendChild(document.createTextNode((who ? who + ". " : "")));
    box.appendChild(el("i", {}, src.title));
    box.appendChild(document.createTextNode(". "));
    if (src.url) { box.appendChild(el("a", {"href": src.url}, src.url)); }
    return box;
  }
  // `moved`: after an answer, move the keyboard focus to what it brought up.
  function render(moved) {
    var m = masks(), t = trace(m);
    var trail = $("trail");
    trail.innerHTML = "";
    answers.forEach(function (a) {
      var f = D.facts[a[0]];
      trail.appendChild(el("li", {}, f.short + ": " + f.cells[a[1]]));
    });
    var open = Object.keys(assumed).map(Number).filter(function (i) {
      return !answers.some(function (a) { return a[0] === i; });
    });
    $("assumed").hidden = open.length === 0;
    $("assumed").textContent = "Assumed (defaults, not answered): " + open.map(function (i) {
      return D.facts[i].short + ": " + D.facts[i].cells[assumed[i]];
    }).join("; ");
    $("back").disabled = answers.length === 0;
    var ask = $("ask"), done = $("outcome");
    if (t.outcomes.length === 1) {
      ask.hidden = true;
      done.hidden = false;
      var o = t.outcomes[0];
      var colour = D.colours[o[0] === null ? "" : o[0]];
      done.style.borderLeftColor = colour;
      done.setAttribute("data-recommendation", o[0] === null ? "" : o[0]);
      done.setAttribute("data-combine", o[1].join(","));
      $("outcome-name").textContent = outcomeName(o);
      var summary = D.approaches.filter(function (a) { return a.id === o[0]; });
      $("outcome-summary").textContent = summary.length ? summary[0].summary : "";
      var rows = $("reasons");
      rows.innerHTML = "";
      var plan = o[0] === null ? [] : [o[0]].concat(o[1]);
      statuses(m).forEach(function (s, r) {
        var rule = D.rules[r];
        var shown = rule.effects.filter(function (e) { return shownIn(e, plan); });
        if (s !== 1 || !shown.some(function (e) { return !e.derive; })) { return; }
        var tr = el("tr", {"class": "reason"});
        tr.appendChild(el("td", {}, rule.title));
        tr.appendChild(el("td", {}, rule.because));
        tr.appendChild(el("td", {}, shown.map(effectText).join("; ")));
        var src = D.sources[rule.source];
        var cell = el("td", {"class": "source"});
        cell.appendChild(el("code", {}, rule.id));
        cell.appendChild(src ? cite(src) : el("div", {}, rule.source));
        tr.appendChild(cell);
        rows.appendChild(tr);
      });
      if (moved) { $("outcome-name").focus(); }
      return;
    }
    done.hidden = true;
    ask.hidden = false;
    var fact = t.tested[0];
    var f = D.facts[fact];
    ask.setAttribute("data-fact", f.name);
    $("question").textContent = f.question;
    $("question-help").textContent = f.help;
    var box = $("answers");
    box.innerHTML = "";
    for (var c = 0; c < f.cells.length; c++) {
      if (!((m[fact] >> c) & 1)) { continue; }
      var label = assumed[fact] === c ? f.cells[c] + " (assumed)" : f.cells[c];
      var b = el("button", {"type": "button", "data-cell": String(c)}, label);
      if (assumed[fact] === c) { b.setAttribute("data-assumed", "true"); }
      b.addEventListener("click", (function (cell) {
        return function () { answers.push([fact, cell]); render(true); };
      })(c));
      box.appendChild(b);
    }
    var list = $("possible");
    list.innerHTML = "";
    t.outcomes.map(outcomeName).sort().forEach(function (n) { list.appendChild(el("li", {}, n)); });
    if (moved) { $("question").focus(); }
  }
  function tree() {
    var box = $("tree");
    if (box.childNodes.length) { box.hidden = !box.hidden; return; }
    var order = [], seen = {}, stack = [D.root];
    while (stack.length) {
      var id = stack.pop();
      if (seen[id] || D.nodes[id].leaf) { continue; }
      seen[id] = true;
      order.push(id);
      D.nodes[id].branches.slice().reverse().forEach(function (b) { stack.push(b[1]); });
    }
    // Numbered 1..n in the order shown, not by the diagram's internal node ids.
    var number = {};
    order.forEach(function (id, i) { number[id] = i + 1; });
    order.forEach(function (id) {
      var node = D.nodes[id], f = D.facts[node.fact];
      var div = el("div", {"class": "q", "id": "q" + number[id]});
      div.appendChild(el("b", {}, "Q" + number[id] + ". " + f.short + " "));
      div.appendChild(el("code", {}, f.name));
      var ul = el("ul");
      node.branches.forEach(function (b) {
        var li = el("li", {}, b[0].map(function (c) { return f.cells[c]; }).join(", ") + " → ");
        var child = D.nodes[b[1]];
        if (child.leaf) { li.appendChild(el("b", {}, outcomeName(child.leaf))); }
        else { li.appendChild(el("a", {"href": "#q" + number[b[1]]}, "Q" + number[b[1]])); }
        ul.appendChild(li);
      });
      div.appendChild(ul);
      box.appendChild(div);
    });
    box.hidden = false;
  }
  $("back").addEventListener("click", function () { answers.pop(); render(false); });
  $("restart").addEventListener("click", function () { answers = []; render(false); });
  $("show-tree").addEventListener("click", tree);
  render(false);
})();
"""


def _json(data: Any) -> str:
    """JSON that is safe inside a `<script>` element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def to_html(
    data: dict[str, Any],
    title: str,
    start: Sequence[tuple[int, int]] = (),
    notes: Sequence[str] = (),
    assumed: Sequence[tuple[int, int]] = (),
) -> str:
    """The page for walkthrough data (see `engine.walkthrough`); `start` holds the answers
    (fact index, cell index) a highlighted case gives, already answered when the page opens,
    `assumed` its documented defaults (marked on their questions, not answered), and `notes`
    lines about the case, each shown on its own line."""
    colours = {a["id"]: PALETTE[i % len(PALETTE)][1] for i, a in enumerate(data["approaches"])}
    colours[""] = "#888888"
    payload = _json(
        {
            **data,
            "colours": colours,
            "start": [list(a) for a in start],
            "assumed": [list(a) for a in assumed],
        }
    )
    heading = html.escape(title)
    lines = "".join(f"<p>{html.escape(note)}</p>" for note in notes)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{heading}</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>{heading}</h1>
<div class="sub" id="case-note">{lines}</div>
<div class="sub">Answer the questions in the rule base's order; the outcome appears as soon as no
other answer can change it. Every outcome comes from the rule base's exact decision diagram.</div>
<ol class="trail" id="trail"></ol>
<div class="help" id="assumed" hidden></div>
<div class="controls">
<button type="button" id="back">Back</button>
<button type="button" id="restart">Start again</button>
<button type="button" id="show-tree">Show the full tree</button>
</div>
<section class="card" id="ask" aria-live="polite">
<div id="question" class="question" tabindex="-1"></div>
<div class="answers" id="answers"></div>
<div class="help" id="question-help"></div>
<div class="help">Still possible:</div>
<ul class="possible help" id="possible"></ul>
</section>
<section class="card outcome" id="outcome" aria-live="polite" hidden>
<h2 id="outcome-name" tabindex="-1">Outcome</h2>
<div id="outcome-summary"></div>
<h3>Why: the rules that fire</h3>
<table><thead><tr><th>Rule</th><th>Because</th><th>Effect</th><th>Source</th></tr></thead>
<tbody id="reasons"></tbody></table>
</section>
<section id="tree" hidden></section>
</main>
<script type="application/json" id="walk-data">{payload}</script>
<script>{SCRIPT}</script>
</body>
</html>
"""
