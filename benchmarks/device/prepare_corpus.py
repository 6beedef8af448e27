"""Build the token corpus the GPU training runs read (on this machine: it needs apt, the GPU machine has none).

    python benchmarks/device/prepare_corpus.py --out .device/corpus            # all four sources, BPE 8192
    python benchmarks/device/prepare_corpus.py --out /tmp/c --special '<pad>,</s>,<unk>'   # another token set

Writes ``tokenizer.json``, ``train.u16.xz``, ``heldout.u16.xz`` and ``meta.json`` (sources, licences, token
counts, sha256). Sources and licences: ``acc.modeling.corpus.SOURCES`` and docs/causal.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from acc.modeling.corpus import (
    EOS_TOKEN,
    corpus_card,
    encode_documents,
    fetch_sources,
    read_documents,
    save_token_corpus,
    split_documents,
    train_tokenizer,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="corpus directory to write")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/acc-corpus-src"), help="downloads + unpacked debs")
    parser.add_argument("--sources", default="", help="comma-separated subset of kjv,python-docs,perl-docs,gcide")
    parser.add_argument("--vocab-size", type=int, default=8192)
    parser.add_argument("--special", default=EOS_TOKEN, help="comma-separated special tokens (first = separator)")
    parser.add_argument("--heldout-fraction", type=float, default=0.02)
    args = parser.parse_args(argv)
    names = [n for n in args.sources.split(",") if n] or None
    special = [t for t in args.special.split(",") if t]
    start = time.perf_counter()

    def say(text):
        return print(f"[{time.perf_counter() - start:6.1f}s] {text}", flush=True)

    root = fetch_sources(args.workdir, names)
    say(f"sources unpacked under {root}")
    documents = read_documents(root, names)
    train, heldout = split_documents(documents, args.heldout_fraction)
    say(f"{len(documents)} documents: {len(train)} train, {len(heldout)} held out")
    tokenizer = train_tokenizer((doc.text for doc in train), vocab_size=args.vocab_size, special_tokens=special)
    say(f"BPE tokenizer trained: {tokenizer.get_vocab_size()} tokens")
    separator = tokenizer.token_to_id(special[0]) if special else None
    splits = {
        "train": encode_documents(tokenizer, train, separator),
        "heldout": encode_documents(tokenizer, heldout, separator),
    }
    say(f"encoded: train {splits['train'].size:,} tokens, held-out {splits['heldout'].size:,} tokens")
    meta = {
        "sources": corpus_card(names),
        "special_tokens": special,
        "separator": special[0] if special else None,
        "heldout_fraction": args.heldout_fraction,
        "heldout_documents": [f"{d.source}/{d.name}" for d in heldout],
        "words": {
            "train": sum(len(d.text.split()) for d in train),
            "heldout": sum(len(d.text.split()) for d in heldout),
        },
        "builder": "benchmarks/device/prepare_corpus.py",
    }
    out = save_token_corpus(args.out, tokenizer, splits, meta)
    size = sum(p.stat().st_size for p in out.iterdir())
    say(f"wrote {out} ({size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
