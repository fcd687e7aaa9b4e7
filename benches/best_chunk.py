#!/usr/bin/env python3
"""Best-chunk scoring against truncate and token-weighted chunk-mean, on the til notes.

Each note's text (front matter dropped, otherwise as it is) is tokenised once without special
tokens and cut into consecutive windows of max_seq_length - 2 content tokens ([CLS] and [SEP]
added to each, stride 0: the overflowing windows `closest --long chunk-mean` embeds). Every
window is embedded by the model (mean pooling over its tokens, L2-normalised: what
sentence-transformers does for one window). Then, for the 10 nearest other notes of each note:

  truncate     the first window's vector (sentence-transformers' own behaviour)
  chunk-mean   the windows' vectors averaged with weights = window length in tokens (specials
               included, as crates/embed does), renormalised
  best-chunk   score(a, b) = max over window pairs (i of a, j of b) of cos(v_i, v_j)
  mean+best    (chunk-mean cosine + best-chunk score) / 2, for reference

The figure is tests/update.rs's: total links to a note of the same topic / total links, every
note a query. Ties are broken by note order (sorted relative path). Window vectors are cached
in --cache, so a rerun only scores.

    flock /tmp/cpu.lock /tmp/anchors-venv/bin/python benches/best_chunk.py \\
        --model /tmp/anchors-model --til /work/shared/data/til [--cache FILE.npz]
"""
import argparse
import csv
import glob
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np


def front_matter_stripped(text):
    if text.startswith("\ufeff"):
        text = text[1:]
    if text.startswith("---\n") or text.startswith("---\r\n"):
        end = text.find("\n---", 4)
        if end != -1:
            nl = text.find("\n", end + 4)
            return text[nl + 1:] if nl != -1 else ""
    return text


def load_til(til):
    topic = {}
    with open(os.path.join(til, "index.tsv"), encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    head = rows[0]
    for r in rows[1:]:
        d = dict(zip(head, r))
        topic[d["path"]] = d["topic"]
    paths = sorted(topic)
    texts = []
    for p in paths:
        with open(os.path.join(til, "notes", p), encoding="utf-8", errors="replace") as f:
            texts.append(front_matter_stripped(f.read()))
    return paths, [topic[p] for p in paths], texts


def embed_windows(model_dir, texts, threads, batch):
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    st = SentenceTransformer(model_dir, device="cpu")
    max_len = st.max_seq_length
    tok = st.tokenizer
    bert = st[0].auto_model.eval()
    cls, sep = tok.cls_token_id, tok.sep_token_id
    windows, owner = [], []
    for i, t in enumerate(texts):
        ids = tok(t, add_special_tokens=False, truncation=False)["input_ids"]
        step = max_len - 2
        chunks = [ids[s:s + step] for s in range(0, len(ids), step)] or [[]]
        for c in chunks:
            windows.append([cls] + c + [sep])
            owner.append(i)
    order = sorted(range(len(windows)), key=lambda k: -len(windows[k]))
    vecs = np.zeros((len(windows), bert.config.hidden_size), np.float32)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            L = max(len(windows[k]) for k in idx)
            ids = torch.zeros((len(idx), L), dtype=torch.long)
            mask = torch.zeros_like(ids)
            for r, k in enumerate(idx):
                n = len(windows[k])
                ids[r, :n] = torch.tensor(windows[k])
                mask[r, :n] = 1
            h = bert(input_ids=ids, attention_mask=mask,
                     token_type_ids=torch.zeros_like(ids)).last_hidden_state
            m = mask.unsqueeze(-1).float()
            v = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            v = torch.nn.functional.normalize(v, p=2, dim=1)
            vecs[idx] = v.numpy()
    sys.stderr.write(f"embedded {len(windows)} windows in {time.perf_counter() - t0:.1f}s\n")
    lengths = np.array([len(w) for w in windows], np.int64)
    return vecs, np.array(owner, np.int64), lengths, max_len


def check_truncate(model_dir, texts, first, n=64):
    """The first window must be what sentence-transformers' encode gives (truncation)."""
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(model_dir, device="cpu")
    ref = st.encode(texts[:n], normalize_embeddings=True, batch_size=32)
    return float((ref * first[:n]).sum(1).min())


def topk_share(scores, labels, k):
    s = scores.copy()
    np.fill_diagonal(s, -np.inf)
    n = len(labels)
    # Stable: best score first, ties by index.
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    lab = np.array(labels)
    same = (lab[order] == lab[:, None])
    return same.sum() / (n * k), same.sum(1) / k


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="/tmp/anchors-model")
    ap.add_argument("--til", default="/work/shared/data/til")
    ap.add_argument("--cache", default="/work/quality-data/best_chunk_til.npz")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    a = ap.parse_args()

    paths, labels, texts = load_til(a.til)
    n = len(paths)
    if a.cache and os.path.exists(a.cache):
        z = np.load(a.cache, allow_pickle=False)
        if list(z["paths"]) != paths:
            raise SystemExit(f"{a.cache} is for other notes: delete it")
        vecs, owner, lengths, max_len = z["vecs"], z["owner"], z["lengths"], int(z["max_len"])
    else:
        vecs, owner, lengths, max_len = embed_windows(a.model, texts, a.threads, a.batch)
        first = vecs[np.searchsorted(owner, np.arange(n))]
        sys.stderr.write(f"first window vs sentence-transformers encode: min cosine "
                         f"{check_truncate(a.model, texts, first):.6f}\n")
        if a.cache:
            os.makedirs(os.path.dirname(a.cache), exist_ok=True)
            np.savez(a.cache, vecs=vecs, owner=owner, lengths=lengths, max_len=max_len,
                     paths=np.array(paths))

    starts = np.searchsorted(owner, np.arange(n))
    counts = np.bincount(owner, minlength=n)
    first = vecs[starts]
    weighted = np.zeros((n, vecs.shape[1]), np.float64)
    np.add.at(weighted, owner, vecs.astype(np.float64) * lengths[:, None])
    mean = (weighted / np.linalg.norm(weighted, axis=1, keepdims=True)).astype(np.float32)

    ww = vecs @ vecs.T                                    # window × window cosine
    best_rows = np.maximum.reduceat(ww, starts, axis=0)   # note × window
    best = np.maximum.reduceat(best_rows, starts, axis=1)  # note × note

    variants = {
        "truncate": first @ first.T,
        "chunk-mean (token-weighted)": mean @ mean.T,
        "best-chunk (max window pair)": best,
        "mean+best / 2": (mean @ mean.T + best) / 2,
    }
    long_notes = counts > 1
    chance = np.mean([(labels.count(l) - 1) / (n - 1) for l in labels])
    print(f"til: {n} notes, {len(vecs)} windows of <= {max_len} tokens, "
          f"{int(long_notes.sum())} notes longer than one window; chance {chance:.4f}")
    print(f"{'scoring':<32}{'share':>8}{'share, long-note queries':>26}")
    for name, s in variants.items():
        total, per = topk_share(s, labels, a.k)
        print(f"{name:<32}{total:>8.4f}{per[long_notes].mean():>26.4f}")


if __name__ == "__main__":
    main()
