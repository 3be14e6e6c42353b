"""Executes every ```python block of docs/sdk-python.md, in order, against a real server."""

from __future__ import annotations

import re

from conftest import REPO, Vectorizer

DOC = REPO / "docs" / "sdk-python.md"
DOC_URL = "http://127.0.0.1:7001"


def blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(), re.MULTILINE | re.DOTALL)


def test_doc_blocks_compile() -> None:
    found = blocks()
    assert len(found) >= 6
    for i, code in enumerate(found):
        compile(code, f"{DOC.name}[block {i}]", "exec")


def test_doc_blocks_run(vectorizer_node: Vectorizer) -> None:
    namespace: dict[str, object] = {"REPO": str(REPO), "__name__": "docs"}
    for i, code in enumerate(blocks()):
        exec(compile(code.replace(DOC_URL, vectorizer_node.url), f"{DOC.name}[block {i}]", "exec"), namespace)
