"""The README and docs/ link only to files inside the repository, and every link works.

A newcomer clones the repository alone: a link to ``../shared`` or to any path outside
the checkout is broken for them, and so is a link to a file or a heading that does not
exist. Web links (``https://``) are not fetched."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.clean_clone

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", ROOT / "BENCHMARKS.md", *(ROOT / "docs").glob("*.md")])
_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE = re.compile(r"`[^`\n]*`")


def links(text: str) -> list[str]:
    """Markdown link targets outside code blocks and code spans."""
    return _LINK.findall(_CODE.sub("", _FENCE.sub("", text)))


def anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", _FENCE.sub("", text), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")
        found.add(slug)
    return found


def problems(page: Path, text: str | None = None) -> list[str]:
    """What is wrong with the links of ``page`` (its ``text``, when given)."""
    found = []
    for target in links(page.read_text() if text is None else text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:...
            if not target.startswith(("https://", "http://", "mailto:")):
                found.append(f"{target}: not a web link")
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.is_relative_to(ROOT):
            found.append(f"{target}: points outside the repository")
        elif not resolved.exists():
            found.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text()):
            found.append(f"{target}: no heading #{anchor} in {resolved.name}")
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves_inside_the_repository(page: Path) -> None:
    assert problems(page) == []


def test_the_docs_index_links_every_page() -> None:
    index = (ROOT / "docs" / "README.md").read_text()
    for page in (ROOT / "docs").glob("*.md"):
        if page.name != "README.md":
            assert f"]({page.name})" in index, f"docs/README.md does not link {page.name}"


def test_the_checker_finds_what_a_newcomer_would_trip_on() -> None:
    text = ("[spec](../../shared/spec/api.md) [gone](missing.md) [ok](api.md) "
            "[bad anchor](api.md#no-such-heading) [heading](api.md#guard-rails) "
            "`[in code](../x.md)` [web](https://example.org) [abs](/etc/passwd)")
    assert problems(ROOT / "docs" / "probe.md", text) == [
        "../../shared/spec/api.md: points outside the repository",
        "missing.md: no such file",
        "api.md#no-such-heading: no heading #no-such-heading in api.md",
        "/etc/passwd: points outside the repository",
    ]
