"""Send texts to a Triton server serving an ``acc-export --triton`` repository, through its text ensembles.

    python examples/triton_text_client.py --url localhost:8000 --model bert-sst2_text_s3 \\
        --index triton_repo/acc_triton.json "a gorgeous, witty, seductive movie ." "flat and boring ."

The ensemble tokenises on the server (``bert-sst2_tokenizer``, Python backend) and runs the profile's ONNX model;
this client sends strings and turns the returned logits into labels. ``pip install 'tritonclient[http]'``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def text_inputs(texts: list[str]) -> list:
    """The ensemble's ``TEXT`` input: BYTES ``[n, 1]`` (one row per text; the batch axis is the first)."""
    import tritonclient.http as httpclient

    tensor = httpclient.InferInput("TEXT", [len(texts), 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[text.encode("utf-8")] for text in texts], dtype=object))
    return [tensor]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Classify texts with an acc text ensemble on Triton.")
    parser.add_argument("texts", nargs="+")
    parser.add_argument("--url", default="localhost:8000", help="Triton HTTP endpoint (host:port)")
    parser.add_argument("--model", required=True, help="a text ensemble, e.g. bert-sst2_text_s3")
    parser.add_argument("--index", type=Path, default=None, help="the repository's acc_triton.json (label names)")
    args = parser.parse_args(argv)

    import tritonclient.http as httpclient

    labels = json.loads(args.index.read_text())["labels"] if args.index else None
    client = httpclient.InferenceServerClient(url=args.url)
    result = client.infer(args.model, text_inputs(args.texts), outputs=[httpclient.InferRequestedOutput("logits")])
    probabilities = softmax(result.as_numpy("logits").astype(np.float64))
    for text, row in zip(args.texts, probabilities):
        best = int(row.argmax())
        print(f"{labels[best] if labels else best}\t{row[best]:.3f}\t{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
