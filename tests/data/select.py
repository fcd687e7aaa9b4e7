#!/usr/bin/env python3
"""Rebuilds tests/data from the shared corpora (../shared beside the repository).

The selection is fixed here, so running this again gives the same files. Each folder's
SOURCE.md says where its files come from, under which licence, and what was selected.
Usage: python3 tests/data/select.py [PATH/TO/shared]
"""
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[2] / "shared"
DATA = SHARED / "data"

# Whole topic folders (til) and one whole platform folder (tldr-pages).
TIL_FOLDERS = [
    "jbranchaud/css", "jbranchaud/elixir", "jbranchaud/go", "jbranchaud/jq",
    "jbranchaud/sed", "jbranchaud/tmux", "simonw/github", "simonw/github-actions",
]
# simonw/sqlite: every third note in sorted order.
TIL_EVERY_THIRD = ["simonw/sqlite"]
TLDR_FOLDERS = ["osx"]
# STS-B genres whose sentences may be passed on with attribution (see stsb/SOURCE.md).
STSB_FILES = {"images", "track5.en-en", "headlines"}


def copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def tsv_rows(path: Path, keep) -> str:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    return lines[0] + "".join(line for line in lines[1:] if keep(line.split("\t")))


def til() -> None:
    src, dst = DATA / "til", HERE / "til"
    shutil.rmtree(dst / "notes", ignore_errors=True)
    chosen = set()
    for folder in TIL_FOLDERS + TIL_EVERY_THIRD:
        notes = sorted((src / "notes" / folder).glob("*.md"))
        if folder in TIL_EVERY_THIRD:
            notes = notes[::3]
        for note in notes:
            rel = note.relative_to(src / "notes").as_posix()
            chosen.add(rel)
            copy(note, dst / "notes" / rel)
    (dst / "index.tsv").write_text(tsv_rows(src / "index.tsv", lambda f: f[0] in chosen), encoding="utf-8")
    (dst / "links.tsv").write_text(
        tsv_rows(src / "links.tsv", lambda f: f[0] in chosen and f[1].rstrip("\n") in chosen), encoding="utf-8")
    for name in ["LICENSE-jbranchaud-til.txt", "LICENSE-simonw-til.txt"]:
        copy(src / name, dst / name)


def tldr() -> None:
    src, dst = DATA / "tldr-pages", HERE / "tldr-pages"
    shutil.rmtree(dst / "notes", ignore_errors=True)
    chosen = set()
    for folder in TLDR_FOLDERS:
        for note in sorted((src / "notes" / folder).glob("*.md")):
            rel = note.relative_to(src / "notes").as_posix()
            chosen.add(rel)
            copy(note, dst / "notes" / rel)
    (dst / "index.tsv").write_text(tsv_rows(src / "index.tsv", lambda f: f[0] in chosen), encoding="utf-8")
    (dst / "links.tsv").write_text(
        tsv_rows(src / "links.tsv", lambda f: f[0] in chosen and f[1] in chosen), encoding="utf-8")


def stsb() -> set:
    src, dst = DATA / "stsb", HERE / "stsb"
    text = tsv_rows(src / "sts-dev.tsv", lambda f: f[1] in STSB_FILES)
    (dst / "sts-dev.tsv").parent.mkdir(parents=True, exist_ok=True)
    (dst / "sts-dev.tsv").write_text(text, encoding="utf-8")
    for name in ["LICENSE.txt", "readme.txt"]:
        copy(src / name, dst / name)
    # Sentences of the genres left out, so the parity file leaves them out too.
    left_out = set()
    for line in (src / "sts-dev.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        fields = line.split("\t")
        if fields[1] not in STSB_FILES:
            left_out.update(fields[5:7])
    return left_out


def reference(left_out: set) -> None:
    src, dst = SHARED / "reference", HERE / "reference"
    dst.mkdir(parents=True, exist_ok=True)
    lines = (src / "all-MiniLM-L6-v2.parity.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if json.loads(line)["text"] not in left_out]
    (dst / "all-MiniLM-L6-v2.parity.jsonl").write_text("".join(kept), encoding="utf-8")


if __name__ == "__main__":
    til()
    tldr()
    reference(stsb())
