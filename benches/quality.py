#!/usr/bin/env python3
"""Quality harness: same-label share of the Closest links, measured through the real tool.

Four labelled folders are built from ../shared/data (`build`), then `closest update` writes the
sections and `closest export` lists them (`measure`). The figure per set is the one
tests/update.rs computes for til: over the query notes, total links to a note with the same
label / total links listed (not a mean of per-note shares).

    python3 benches/quality.py build /work/quality-data
    HF_HUB_OFFLINE=1 python3 benches/quality.py measure /work/quality-data \\
        --closest /work/target-lead/release/closest [--sets til,tldr,arxiv,seed] \\
        [--lock /tmp/cpu.lock] [-- --long chunk-mean ...]

Sets (OUT_DIR/<set>/notes + OUT_DIR/<set>/labels.tsv with rel_path, label[, label2]):
  til    the til notes; label = topic folder (index.tsv); every note is a query.
  tldr   the tldr pages; label = family; queries = pages whose family has 2+ pages, candidates
         = every page.
  arxiv  one note per abstract, `# <title>\\n\\n<abstract>\\n`; label = archive, label2 =
         primary_category.
  seed   the til notes rewritten in DESIGN.md's seed format (md5 file names, date line,
         Summary / Keywords / Themes with template bullets and a table, an old Closest
         section of 3 random links); label = topic.

Extra arguments after `--` go to `update`, and (except update-only flags) to `export`, so that
export reads the lists of the same settings. BIN is copied to OUT_DIR/.bin/closest-<sha256
prefix> and the copy is run, so a rebuild during a run cannot mix builds. The store (.closest/
in each notes folder) keeps vectors, so repeating a measurement re-embeds only what a setting
changes. Stdlib only.
"""
import argparse
import collections
import hashlib
import json
import os
import random
import re
import shutil
import stat
import subprocess
import sys
import time

DATA = os.environ.get("CLOSEST_SHARED_DATA", "/work/shared/data")
SETS = ["til", "tldr", "arxiv", "seed"]
SEED = 20240607

# Flags `update` takes that `export` does not (with how many values follow).
UPDATE_ONLY = {"--check": 0, "--dry-run": 0, "--full": 0}


def read_tsv(path):
    with open(path, encoding="utf-8", newline="\n") as f:
        lines = f.read().split("\n")
    header = lines[0].split("\t")
    rows = []
    for line in lines[1:]:
        if line.endswith("\r"):
            line = line[:-1]
        if not line:
            continue
        rows.append(dict(zip(header, line.split("\t"))))
    return rows


def write_labels(path, rows, columns=("rel_path", "label")):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\t".join(columns) + "\n")
        for row in sorted(rows):
            f.write("\t".join(row) + "\n")


def make_writable(root):
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            p = os.path.join(dirpath, name)
            os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR | stat.S_IRUSR)


def fresh(out_dir, name):
    base = os.path.join(out_dir, name)
    if os.path.exists(base):
        make_writable(base)
        shutil.rmtree(base)
    notes = os.path.join(base, "notes")
    os.makedirs(notes)
    return base, notes


def copy_notes(src, dst, rel_paths):
    for rel in rel_paths:
        target = os.path.join(dst, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(os.path.join(src, rel), target)  # content only: no read-only mode
        os.chmod(target, 0o644)


def build_til(out_dir):
    base, notes = fresh(out_dir, "til")
    rows = read_tsv(os.path.join(DATA, "til", "index.tsv"))
    copy_notes(os.path.join(DATA, "til", "notes"), notes, [r["path"] for r in rows])
    write_labels(os.path.join(base, "labels.tsv"), [(r["path"], r["topic"]) for r in rows])
    return len(rows)


def build_tldr(out_dir):
    base, notes = fresh(out_dir, "tldr")
    rows = read_tsv(os.path.join(DATA, "tldr-pages", "index.tsv"))
    copy_notes(os.path.join(DATA, "tldr-pages", "notes"), notes, [r["path"] for r in rows])
    write_labels(os.path.join(base, "labels.tsv"), [(r["path"], r["family"]) for r in rows])
    return len(rows)


def safe_name(arxiv_id):
    return re.sub(r"[^A-Za-z0-9._-]", "_", arxiv_id)


def build_arxiv(out_dir):
    base, notes = fresh(out_dir, "arxiv")
    rows = read_tsv(os.path.join(DATA, "arxiv-2007", "abstracts.tsv"))
    labels = []
    seen = set()
    for r in rows:
        name = safe_name(r["id"]) + ".md"
        assert name not in seen, name
        seen.add(name)
        with open(os.path.join(notes, name), "w", encoding="utf-8", newline="\n") as f:
            f.write(f"# {r['title']}\n\n{r['abstract']}\n")
        labels.append((name, r["archive"], r["primary_category"]))
    write_labels(os.path.join(base, "labels.tsv"), labels, ("rel_path", "label", "label2"))
    return len(rows)


STOP = set(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself just
    let like make may me might more most much must my no nor not now of off on once one only or
    other our out over own same she should so some such than that the their them then there
    these they this those through to too two under until up use used using very via want was we
    were what when where which while who whom why will with would you your yours get got new
    need see way work works""".split()
)


def keywords(text, n=5):
    counts = collections.Counter()
    first = {}
    for i, w in enumerate(re.findall(r"[a-z][a-z0-9]+", text.lower())):
        if len(w) < 3 or w in STOP:
            continue
        counts[w] += 1
        first.setdefault(w, i)
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], first[kv[0]]))[:n]]


def pseudo_date(rel):
    import datetime

    h = int(hashlib.sha256(rel.encode("utf-8")).hexdigest()[:8], 16)
    day = datetime.date(2016, 1, 1) + datetime.timedelta(days=h % 3000)
    return day.strftime("%Y%m%d")


def build_seed(out_dir):
    """The til notes in the seed format (DESIGN.md, top), deterministically."""
    base, notes = fresh(out_dir, "seed")
    rows = read_tsv(os.path.join(DATA, "til", "index.tsv"))
    src = os.path.join(DATA, "til", "notes")
    ids = [hashlib.md5(r["path"].encode("utf-8")).hexdigest() for r in rows]
    assert len(set(ids)) == len(ids)
    rng = random.Random(SEED)
    labels = []
    for r, nid in zip(rows, ids):
        with open(os.path.join(src, r["path"]), encoding="utf-8", newline="") as f:
            text = f.read().replace("\r\n", "\n")
        lines = text.split("\n")
        if lines and lines[0].startswith("# "):
            lines = lines[1:]
        body = "\n".join(lines).strip("\n")
        words = len(body.split())
        date = pseudo_date(r["path"])
        others = rng.sample([o for o in ids if o != nid], 3)
        status = "draft" if int(nid[:2], 16) % 2 == 0 else "reviewed"
        out = (
            f"# {nid} from ([{date}](https://example.org/p/{date}).)\n\n"
            f"## Summary\n\n{body}\n\n"
            f"## Keywords\n\n{', '.join(keywords(body))}\n\n"
            f"## Themes\n\n- Theme: notes\n- Status: {status}\n\n"
            f"| field | value |\n| --- | --- |\n| source | til |\n| words | {words} |\n\n"
            "## Closest\n\n" + "".join(f"* [{o}]({o})\n" for o in others)
        )
        name = nid + ".md"
        with open(os.path.join(notes, name), "w", encoding="utf-8", newline="\n") as f:
            f.write(out)
        labels.append((name, r["topic"]))
    write_labels(os.path.join(base, "labels.tsv"), labels)
    return len(rows)


BUILDERS = {"til": build_til, "tldr": build_tldr, "arxiv": build_arxiv, "seed": build_seed}

# Which notes are queries, per set (all notes are candidates).
MIN_LABEL_COUNT = {"til": 1, "tldr": 2, "arxiv": 1, "seed": 1}


def load_labels(path):
    rows = read_tsv(path)
    cols = [c for c in rows[0] if c != "rel_path"] if rows else ["label"]
    return {c: {r["rel_path"]: r[c] for r in rows} for c in cols}


def run(cmd, lock):
    if lock:
        cmd = ["flock", lock] + cmd
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stderr.decode("utf-8", "replace"))
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    return p.stdout.decode("utf-8"), dt


def export_args(extra):
    out, i = [], 0
    while i < len(extra):
        a = extra[i]
        key = a.split("=", 1)[0]
        if key in UPDATE_ONLY:
            i += 1 + (UPDATE_ONLY[key] if "=" not in a else 0)
            continue
        out.append(a)
        i += 1
    return out


def share(lists, label, min_count):
    """(same, total, queries, chance) over notes whose label has min_count+ notes."""
    sizes = collections.Counter(label.values())
    n = len(label)
    same = total = queries = 0
    chance_sum = 0.0
    for rel, lab in label.items():
        if sizes[lab] < min_count:
            continue
        links = lists.get(rel, [])
        queries += 1
        total += len(links)
        same += sum(1 for other in links if label[other] == lab)
        chance_sum += (sizes[lab] - 1) / (n - 1)
    return same, total, queries, chance_sum / max(queries, 1)


def binary_identity(path):
    """What was measured: `closest --version`, the binary's sha256 prefix and mtime (the
    lead's build changes under us; lines of different builds are not comparable)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    version = subprocess.run([path, "--version"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL).stdout.decode().strip()
    mtime = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(os.stat(path).st_mtime))
    return {"version": version, "sha256": h.hexdigest()[:12], "mtime": mtime}


def snapshot_binary(path, out_dir):
    """A private copy of the binary, named by its hash, so that a rebuild during the run
    cannot mix two builds in one measurement."""
    binary = binary_identity(path)
    copy = os.path.join(out_dir, ".bin", f"closest-{binary['sha256']}")
    if not os.path.exists(copy):
        os.makedirs(os.path.dirname(copy), exist_ok=True)
        shutil.copy2(path, copy + ".tmp")
        os.replace(copy + ".tmp", copy)
    if binary_identity(copy)["sha256"] != binary["sha256"]:
        raise SystemExit(f"{path} changed while being copied: run again")
    return copy, binary


def measure(args, extra):
    results = []
    if args.no_snapshot:
        binary = binary_identity(args.closest)
    else:
        args.closest, binary = snapshot_binary(args.closest, args.out_dir)
    for name in args.sets:
        base = os.path.join(args.out_dir, name)
        notes = os.path.join(base, "notes")
        if not os.path.isdir(notes):
            raise SystemExit(f"{notes} is missing: run `build` first")
        labels = load_labels(os.path.join(base, "labels.tsv"))
        report_text, seconds = run(
            [args.closest, "update", notes, "--format", "json", "--no-progress"] + extra,
            args.lock,
        )
        report = json.loads(report_text.strip().splitlines()[-1])
        exported, _ = run(
            [args.closest, "export", notes, "--format", "json", "--no-progress", "-q"]
            + export_args(extra),
            None,
        )
        data = json.loads(exported)
        with open(os.path.join(base, "lists.json"), "w", encoding="utf-8") as f:
            json.dump(data, f)
        lists = {rel: [hit["path"] for hit in hits] for rel, hits in data.items()}
        first = next(iter(labels.values()))
        missing = set(first) ^ set(lists)
        if missing:
            raise SystemExit(f"{name}: export and labels disagree on {len(missing)} notes, "
                             f"e.g. {sorted(missing)[:3]}")
        for column, label in labels.items():
            same, total, queries, chance = share(lists, label, MIN_LABEL_COUNT[name])
            res = {
                "set": name if column == "label" else f"{name}/{column}",
                "share": round(same / total, 4) if total else None,
                "chance": round(chance, 4),
                "notes": len(label),
                "queries": queries,
                "links": total,
                "same": same,
                "update_seconds": round(report.get("seconds", seconds), 2),
                "wall_seconds": round(seconds, 2),
                "embedded": report.get("embedded"),
                "extra": extra,
                "binary": binary,
            }
            results.append(res)
    if binary_identity(args.closest) != binary:
        print("warning: the binary changed during the measurement", file=sys.stderr)
    print(f"# {args.closest}: {binary['version']}, sha256 {binary['sha256']}, {binary['mtime']}")
    print(f"{'set':<16}{'share':>8}{'chance':>8}{'notes':>7}{'queries':>8}{'links':>7}"
          f"{'embedded':>9}{'update s':>10}")  # update s: the tool's own `seconds` (lock wait excluded)
    for r in results:
        print(f"{r['set']:<16}{r['share']:>8.4f}{r['chance']:>8.4f}{r['notes']:>7}"
              f"{r['queries']:>8}{r['links']:>7}{r['embedded']!s:>9}{r['update_seconds']:>10.2f}")
    for r in results:
        print(json.dumps(r))


def median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else 0.0


def floor_rules():
    """(name, function of the folder's lists giving each note's kept hits)."""
    def absolute(t):
        return lambda data: {rel: [h for h in hits if h["score"] >= t] for rel, hits in data.items()}

    def own_top(r):
        return lambda data: {rel: [h for h in hits if h["score"] >= r * hits[0]["score"]]
                             for rel, hits in data.items() if hits}

    def folder_median(c):
        def rule(data):
            t = c * median(hits[0]["score"] for hits in data.values() if hits)
            return absolute(t)(data)
        return rule

    def folder_quantile(q):
        def rule(data):
            scores = sorted(h["score"] for hits in data.values() for h in hits)
            t = scores[int(q * len(scores))] if scores else 0.0
            return absolute(t)(data)
        return rule

    rules = [("none", lambda data: data)]
    rules += [(f"score >= {t}", absolute(t)) for t in (0.15, 0.2, 0.25, 0.3)]
    rules += [(f"score >= {r} x own first", own_top(r)) for r in (0.5, 0.6, 0.7)]
    rules += [(f"score >= {c} x folder median first", folder_median(c))
              for c in (0.4, 0.5, 0.6, 0.7)]
    rules += [(f"score >= folder {q:.0%} quantile", folder_quantile(q))
              for q in (0.02, 0.05, 0.1)]
    return rules


def floors(args):
    """Same-label share against links kept, per rule, from the lists `measure` saved."""
    print(f"{'rule':<32}" + "".join(f"{s:>22}" for s in args.sets))
    for name, rule in floor_rules():
        row = f"{name:<32}"
        for set_name in args.sets:
            base = os.path.join(args.out_dir, set_name)
            with open(os.path.join(base, "lists.json"), encoding="utf-8") as f:
                data = json.load(f)
            kept = rule(data)
            lists = {rel: [h["path"] for h in kept.get(rel, [])] for rel in data}
            label = load_labels(os.path.join(base, "labels.tsv"))["label"]
            same, total, queries, _ = share(lists, label, MIN_LABEL_COUNT[set_name])
            none = sum(1 for rel in label if not lists.get(rel))
            row += f"{same / max(total, 1):>8.4f} {total:>6} {none:>5} "
        print(row)
    print("(each set: same-label share, links kept, notes left without a list)")


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="write the labelled folders")
    b.add_argument("out_dir")
    b.add_argument("--sets", default=",".join(SETS))
    m = sub.add_parser("measure", help="update, export and score each set")
    m.add_argument("out_dir")
    m.add_argument("--closest", required=True, help="the closest binary")
    m.add_argument("--sets", default=",".join(SETS))
    m.add_argument("--no-snapshot", action="store_true",
                   help="run BIN itself, not a copy in OUT_DIR/.bin/ named by its sha256")
    m.add_argument("--lock", default="/tmp/cpu.lock",
                   help="flock this file around each update (empty: no lock)")
    f = sub.add_parser("floors", help="share against links kept for floor rules, from the "
                       "lists the last `measure` saved")
    f.add_argument("out_dir")
    f.add_argument("--sets", default=",".join(SETS))
    args = ap.parse_args(argv)
    args.sets = [s for s in args.sets.split(",") if s]
    for s in args.sets:
        if s not in SETS:
            raise SystemExit(f"unknown set {s!r}; known: {', '.join(SETS)}")
    if args.cmd == "floors":
        floors(args)
    elif args.cmd == "build":
        for s in args.sets:
            print(f"{s}: {BUILDERS[s](args.out_dir)} notes", flush=True)
    else:
        measure(args, extra)


if __name__ == "__main__":
    main()
