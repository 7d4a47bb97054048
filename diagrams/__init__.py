"""Renderers of the decision diagram (Graphviz and Mermaid)."""
