#!/usr/bin/env python3
"""Builds a large notes folder from the real text in ../shared/data, for `closest bench update`.

One note per line (or per pair of lines once the lines run out): every non-blank line of at
least 30 characters of the til notes and tldr pages, every sentence of the arXiv abstracts and
every STS-B sentence, deduplicated and shuffled with a fixed seed. A note is a title (its first
words) and its text, in folders of 1,000 notes (`n0000/note-0000000.md`), like a large vault.

Usage: python3 benches/scale_corpus.py OUT_DIR COUNT [--shared ../shared/data]
The same arguments always give the same bytes.
"""
import argparse
import random
import re
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("count", type=int)
ap.add_argument("--shared", default=str(Path(__file__).resolve().parent.parent.parent / "shared" / "data"))
a = ap.parse_args()
shared = Path(a.shared)

lines = set()
for folder in ("til/notes", "tldr-pages/notes"):
    for path in sorted((shared / folder).rglob("*.md")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip().lstrip("#>-*` ").strip()
            if len(line) >= 30:
                lines.add(line)
for row in (shared / "arxiv-2007/abstracts.tsv").read_text(encoding="utf-8").splitlines()[1:]:
    fields = row.split("\t")
    for sentence in re.split(r"(?<=[.!?])\s+", fields[-1]):
        if len(sentence) >= 30:
            lines.add(sentence.strip())
for row in (shared / "stsb/sts-dev.tsv").read_text(encoding="utf-8").splitlines()[1:]:
    for sentence in row.split("\t")[-2:]:
        if len(sentence) >= 30:
            lines.add(sentence.strip())
pool = sorted(lines)
random.Random(7).shuffle(pool)
print(f"{len(pool)} unique lines")

out = Path(a.out)
for index in range(a.count):
    text = pool[index % len(pool)]
    if index >= len(pool):
        # Past the pool, pair each line with another so that every note is new text.
        text += " " + pool[(index // len(pool) * 7919 + index * 31) % len(pool)]
    title = " ".join(re.sub(r"[^\w\s-]", "", text).split()[:6]) or f"note {index}"
    path = out / f"n{index // 1000:04d}" / f"note-{index:07d}.md"
    if index % 1000 == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {title}\n\n{text}\n", encoding="utf-8")
print(f"{a.count} notes in {out}")
