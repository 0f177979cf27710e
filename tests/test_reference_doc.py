"""The Wise reference ships with the code: every "§N" / "§N.M" the repository cites is a section of
docs/wise-reference.md, no tracked file points outside the repository for it, and the sdist
carries docs/."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "wise-reference.md"
REFERENCE_PATH = REFERENCE.relative_to(ROOT).as_posix()

#: The tracked files whose "§" citations must resolve: source, templates, docs, configuration.
CITING_SUFFIXES = frozenset({".py", ".md", ".html", ".yaml", ".yml", ".toml", ".json", ".txt", ".rst"})

#: A citation: "§2", "§ 2.5", "§5.3". A trailing sentence dot is not part of it.
CITATION = re.compile(r"§\s?(\d+(?:\.\d+)*)")
#: "RFC 6749 §4.1.2", "RFC 8705, §3": a section of that RFC, not of the reference.
RFC_BEFORE = re.compile(r"\bRFC[\s-]?\d+\s*,?\s*$", re.IGNORECASE)

#: A heading that defines a section: "## 2. `POST /oauth/token`", "### 2.5 Token lifecycle",
#: "## §7 JOSE", "#### 0.1 Seed documents". The number comes first; a trailing dot is optional.
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+§?[ \t]*(\d+(?:\.\d+)*)\.?(?=[ \t]|$)")
#: An explicitly anchored item: `<a id="s2.5"></a>`, `<a name="s13-5">`, `<a id="§2.5">`.
ANCHOR = re.compile(r"""<a\s+(?:id|name)\s*=\s*["'](?:s|sec|§)[-_]?(\d+(?:[.-]\d+)*)["']""", re.IGNORECASE)
FENCE = re.compile(r"^ {0,3}(```|~~~)")

#: Pointers to the team briefing the reference used to live in. Assembled from parts so that this
#: file does not itself contain them.
OUTSIDE_POINTERS = (
    "../" + "shared",
    "shared" + "/reference",
    "wise-auth" + "-surface",
    "reference/" + "wise-auth" + "-surface.md",
)


def defined_sections(markdown: str) -> set[str]:
    """The section numbers a markdown document defines by heading or explicit anchor (fenced code
    blocks ignored)."""
    sections: set[str] = set()
    fenced = False
    for line in markdown.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        if heading := HEADING.match(line):
            sections.add(heading.group(1))
        sections.update(anchor.replace("-", ".") for anchor in ANCHOR.findall(line))
    return sections


def cited_sections(text: str) -> list[str]:
    """The reference sections a text cites, leaving out sections of RFCs ("RFC 6749 §4.1.2")."""
    found = []
    for match in CITATION.finditer(text):
        if RFC_BEFORE.search(text[max(0, match.start() - 24) : match.start()]):
            continue
        found.append(match.group(1))
    return found


def tracked_files() -> list[str]:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are unknown")
    listing = subprocess.run(
        [git, "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True, text=True
    )
    return [name for name in listing.stdout.split("\0") if name and (ROOT / name).is_file()]


def read_text(name: str) -> str | None:
    data = (ROOT / name).read_bytes()
    if b"\0" in data:
        return None  # binary
    return data.decode("utf-8", errors="replace")


# The parsers ---------------------------------------------------------------------------------------


def test_headings_define_sections() -> None:
    doc = "\n".join(
        [
            "# Title 1999",
            "## 0. Sources",
            "## 2. `POST /oauth/token`",
            "### 2.5 Token lifecycle",
            "#### 2.5.1. Deeper",
            "## §7 JOSE",
            "##10. not a heading (no space after the hashes)",
            "## 3 ",
            "## 4",
            "## 2026Q3 paths",
            "- item <a id=\"s13.5\"></a> and <a name='sec-13-6'></a>",
            "```",
            "## 99. inside a fence",
            "```",
        ]
    )
    assert defined_sections(doc) == {"0", "2", "2.5", "2.5.1", "7", "3", "4", "13.5", "13.6"}


def test_citations_leave_out_rfc_sections() -> None:
    text = (
        "see reference §2.5, §3 and § 7.3. RFC 6749 §4.1.2 and RFC 8705 §3 are RFCs; "
        "so is (RFC 6749, §10.12); seed 003, reference §2.5."
    )
    assert cited_sections(text) == ["2.5", "3", "7.3", "2.5"]


# The repository --------------------------------------------------------------------------------------


def test_reference_defines_every_top_level_section() -> None:
    sections = defined_sections(REFERENCE.read_text(encoding="utf-8"))
    assert {str(n) for n in range(15)} <= sections, sorted({str(n) for n in range(15)} - sections)


def test_every_cited_section_is_in_the_reference() -> None:
    sections = defined_sections(REFERENCE.read_text(encoding="utf-8"))
    missing: dict[str, list[str]] = defaultdict(list)
    for name in tracked_files():
        if name == REFERENCE_PATH or Path(name).suffix not in CITING_SUFFIXES:
            continue
        text = read_text(name)
        if text is None:
            continue
        for line_number, line in enumerate(text.splitlines(), start=1):
            for section in cited_sections(line):
                if section not in sections:
                    missing[f"§{section}"].append(f"{name}:{line_number}")
    assert not missing, f"cited but not a heading of {REFERENCE_PATH}: " + "; ".join(
        f"{section} ({', '.join(places)})" for section, places in sorted(missing.items())
    )


def test_no_tracked_file_points_outside_the_repository() -> None:
    offenders = []
    for name in tracked_files():
        text = read_text(name)
        if text is None:
            continue
        for line_number, line in enumerate(text.splitlines(), start=1):
            if found := [pointer for pointer in OUTSIDE_POINTERS if pointer in line]:
                offenders.append(f"{name}:{line_number}: {', '.join(found)}")
    assert not offenders, "point at docs/wise-reference.md instead:\n" + "\n".join(offenders)


def test_the_sdist_ships_docs() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = config["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    assert any(entry.strip("/") == "docs" for entry in include), include
