"""Every Rust client API method exists in `Client`, `AsyncClient`, the stub and the parity table."""

from __future__ import annotations

import re

import vectorizer

from conftest import REPO


def test_every_rust_method_is_bound() -> None:
    methods = vectorizer.api_methods()
    assert len(methods) >= 14
    for name in methods:
        assert callable(getattr(vectorizer.Client, name, None)), f"Client.{name} missing"
        assert callable(getattr(vectorizer.AsyncClient, name, None)), f"AsyncClient.{name} missing"
    stub = (REPO / "bindings-python/python/vectorizer/_vectorizer.pyi").read_text()
    for name in methods:
        assert re.search(rf"def {name}\(", stub), f"stub lacks {name}"


def test_parity_table_lists_every_method() -> None:
    table = (REPO / "docs/dev/sdk-parity.md").read_text()
    rows = {m.group(1) for m in re.finditer(r"^\| `(\w+)` \|", table, re.MULTILINE)}
    assert rows == set(vectorizer.api_methods())
