"""Reading Dash component trees in tests that call page callbacks as plain functions."""

from __future__ import annotations


def walk(node):
    """Every component dict and string in a Dash component tree (components or their JSON)."""
    node = node.to_plotly_json() if hasattr(node, "to_plotly_json") else node
    if isinstance(node, dict) and "props" in node:
        yield node
        for value in node["props"].values():
            yield from walk(value)
    elif isinstance(node, list | tuple):
        for item in node:
            yield from walk(item)
    elif isinstance(node, str):
        yield node
