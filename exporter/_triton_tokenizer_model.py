"""Triton Python-backend model: texts in, the padded int64 inputs of the bundle's graphs out.

Copied verbatim by ``acc-export --triton`` to ``<model>_tokenizer/1/model.py`` beside ``tokenizer.json`` and
``acc_tokenizer.json`` (max_length, pad id). It tokenises exactly as ``acc.runtime.TextEncoder`` does: the bundle's
fast tokenizer, truncation to the model's ``max_length``, right-padding to the request's longest text with the pad id,
``attention_mask`` 1 on real tokens. It needs only numpy and ``tokenizers`` in Triton's Python environment
(``pip install tokenizers`` in the server image), not acc-deploy.
"""

import json
import os

import numpy as np
import triton_python_backend_utils as pb_utils
from tokenizers import Tokenizer

TEXT = "TEXT"
OUTPUTS = ("input_ids", "attention_mask", "token_type_ids")
SETTINGS_FILE = "acc_tokenizer.json"


class TritonPythonModel:
    """Triton calls ``initialize`` once per instance and ``execute`` with a list of requests."""

    def initialize(self, args):
        folder = os.path.join(args["model_repository"], args["model_version"])
        with open(os.path.join(folder, SETTINGS_FILE), encoding="utf-8") as handle:
            settings = json.load(handle)
        self.tokenizer = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(int(settings["max_length"]))
        self.pad_id = int(settings["pad_id"])

    def execute(self, requests):
        return [self._one(request) for request in requests]

    def _one(self, request):
        tensor = pb_utils.get_input_tensor_by_name(request, TEXT)
        if tensor is None:
            raise pb_utils.TritonModelException(f"request has no input {TEXT}; send a BYTES tensor named {TEXT}")
        texts = [
            item.decode("utf-8") if isinstance(item, bytes) else str(item) for item in tensor.as_numpy().reshape(-1)
        ]
        if not texts:
            raise pb_utils.TritonModelException(f"input {TEXT} is empty; send at least one text")
        for index, text in enumerate(texts):
            if not text.strip():
                raise pb_utils.TritonModelException(f"text {index} is empty; send non-empty texts")
        encodings = self.tokenizer.encode_batch(texts)
        longest = max(len(encoding.ids) for encoding in encodings)
        ids = np.full((len(texts), longest), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(texts), longest), dtype=np.int64)
        types = np.zeros((len(texts), longest), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n], mask[row, :n], types[row, :n] = encoding.ids, 1, encoding.type_ids
        tensors = [pb_utils.Tensor(name, value) for name, value in zip(OUTPUTS, (ids, mask, types))]
        return pb_utils.InferenceResponse(output_tensors=tensors)

    def finalize(self):
        self.tokenizer = None
