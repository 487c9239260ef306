"""Copy the evaluation tables of the shipped model cards into the documentation pages.

The tables are written by ``glra-train export`` into
``src/napari_glra/models/<name>/MODEL.md``; this script copies a card's
"Evaluation" section between the markers ``<!-- model-card <name>: begin -->``
and ``<!-- model-card <name>: end -->`` of the pages listed in :data:`PAGES`
(headings demoted by two levels, so they nest under the page's section).
``tests/project/test_docs_tables.py`` fails when a page is out of date.

Run::

    python docs/sync_model_cards.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "src" / "napari_glra" / "models"

#: model name -> documentation page holding its markers
PAGES = {"microscopy": ROOT / "docs" / "microscopy.md"}


def markers(name: str) -> tuple[str, str]:
    """Begin and end markers of a model's block."""
    return f"<!-- model-card {name}: begin -->", f"<!-- model-card {name}: end -->"


def card_block(name: str) -> str:
    """The card's evaluation section (without its heading), headings demoted by two levels."""
    card = (MODELS / name / "MODEL.md").read_text(encoding="utf-8")
    start = card.index("\n## Evaluation\n") + len("\n## Evaluation\n")
    end = card.find("\n## ", start)
    body = card[start : end if end >= 0 else None].strip("\n")
    body = re.sub(r"^(#{2,4}) ", lambda m: "#" * (len(m.group(1)) + 2) + " ", body, flags=re.M)
    return (
        f"\n*Copied from `src/napari_glra/models/{name}/MODEL.md` by `python docs/sync_model_cards.py`.*\n\n"
        + body
        + "\n"
    )


def synced_text(name: str, text: str) -> str:
    """``text`` with the block of ``name`` replaced by the card's current section."""
    begin, end = markers(name)
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        raise ValueError(f"the page has no {begin} ... {end} block")
    return text[: i + len(begin)] + "\n" + card_block(name) + text[j:]


def main() -> int:
    for name, page in PAGES.items():
        text = page.read_text(encoding="utf-8")
        new = synced_text(name, text)
        if new != text:
            page.write_text(new, encoding="utf-8")
            print(f"updated {page.relative_to(ROOT)} from the `{name}` model card")
        else:
            print(f"{page.relative_to(ROOT)} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
