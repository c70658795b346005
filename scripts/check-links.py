#!/usr/bin/env python3
"""Checks that every relative link in the repository's Markdown resolves inside the clone.

    python3 scripts/check-links.py            (run by scripts/test.sh)

For each tracked-looking Markdown file (README.md, *.md at the top, docs/, k8s/, bench/, tests/),
every inline link or image `[text](target)` whose target is not a URL (http:, https:, mailto:)
must name an existing file or directory relative to the Markdown file, must stay inside the
repository, and a `#fragment` must match a heading of the target Markdown file (GitHub's anchor
rules: lower case, punctuation dropped, spaces to hyphens). Links inside code spans and fenced
code blocks are ignored. Prints each broken link as FILE:LINE: message and exits 1 if any.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SKIP_DIRS = {"target", ".venv", ".libtorch", "data", ".git", "node_modules"}
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"`+[^`]*`+")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def markdown_files() -> list[Path]:
    files = []
    for path in sorted(REPO.rglob("*.md")):
        rel = path.relative_to(REPO)
        if not any(part in SKIP_DIRS for part in rel.parts):
            files.append(path)
    return files


def slug(heading: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # link text only
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path, cache: dict[Path, set[str]]) -> set[str]:
    if path not in cache:
        seen: dict[str, int] = {}
        found = set()
        fenced = False
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
                continue
            m = None if fenced else HEADING.match(line)
            if m:
                base = slug(m.group(2))
                n = seen.get(base, 0)
                seen[base] = n + 1
                found.add(base if n == 0 else f"{base}-{n}")
        cache[path] = found
    return cache[path]


def check(path: Path, cache: dict[Path, set[str]]) -> list[str]:
    problems = []
    fenced = False
    rel = path.relative_to(REPO)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced:
            continue
        for m in LINK.finditer(CODE_SPAN.sub("", line)):
            target = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                continue  # URL (http:, https:, mailto:, ...)
            file_part, _, fragment = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            where = f"{rel}:{number}"
            if REPO not in dest.parents and dest != REPO:
                problems.append(f"{where}: {target} points outside the repository")
                continue
            if not dest.exists():
                problems.append(f"{where}: {target}: {dest.relative_to(REPO)} does not exist")
                continue
            if fragment and dest.suffix == ".md" and fragment not in anchors(dest, cache):
                problems.append(f"{where}: {target}: no heading with anchor #{fragment} in {dest.relative_to(REPO)}")
    return problems


def main() -> int:
    cache: dict[Path, set[str]] = {}
    files = markdown_files()
    problems = [p for f in files for p in check(f, cache)]
    for p in problems:
        print(f"LINK ERROR {p}")
    print(f"links: {len(files)} Markdown files checked, {len(problems)} broken")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
