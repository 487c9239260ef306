"""The model-card tables copied into the docs match the shipped cards (docs/sync_model_cards.py)."""

from __future__ import annotations

import pytest
from _scripts import load_script


def _sync():
    return load_script("docs/sync_model_cards.py")


@pytest.mark.parametrize("name", sorted(_sync().PAGES))
def test_docs_hold_the_current_model_card_tables(name):
    sync = _sync()
    page = sync.PAGES[name]
    text = page.read_text(encoding="utf-8")
    assert sync.synced_text(name, text) == text, (
        f"{page.name} is out of date with the `{name}` model card: run python docs/sync_model_cards.py"
    )
    assert "| napari-glra |" in text


def test_sync_needs_the_markers():
    with pytest.raises(ValueError, match="model-card microscopy: begin"):
        _sync().synced_text("microscopy", "no markers here")
