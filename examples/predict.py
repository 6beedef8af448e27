"""Load a bundle and classify two texts: ``python examples/predict.py BUNDLE``."""

import sys

from acc.runtime import Runtime

runtime = Runtime.load(sys.argv[1])  # verifies the bundle; device="auto": CUDA if onnxruntime-gpu sees a GPU
prediction = runtime.predict(["a gripping, beautifully shot film", "dull and far too long"])  # or speedup=3.0, ...
for label, probabilities in zip(prediction.labels, prediction.probabilities):
    print(f"{label:>10}  {probabilities.max():.3f}")
print(f"profile {prediction.profile} ({prediction.reason}), graph run {prediction.latency_ms:.2f} ms")
