"""The bundle's tokenizer, written with the bundle's one max length (``manifest.json`` ``model.max_length``).

``save_pretrained`` writes whatever truncation the backend tokenizer last used (validation tokenises at some
length, which then sat in ``tokenizer.json``), so a client encoding with the file (Triton, the C++ runtime, Hugging
Face) cut texts at a different length than ``acc-serve``. Here the file's truncation, padding and
``model_max_length`` are set from the one value the manifest, ``/health`` and ``acc_triton.json`` also report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from acc.profiles import ExportError

TOKENIZER_DIR = "tokenizer"


def resolve_max_length(requested: int | None, position_limit: int | None, default: int | None = None) -> int:
    """``--max-length`` if given (at most the model's position limit), else ``default``, else the limit."""
    if requested is not None:
        if requested < 1:
            raise ExportError(f"--max-length {requested} must be a positive number of tokens; pass e.g. 128")
        if position_limit is not None and requested > position_limit:
            raise ExportError(f"--max-length {requested} exceeds the model's {position_limit} positions; "
                              f"pass --max-length {position_limit} or less")  # fmt: skip
        return requested
    if default is not None:
        return default if position_limit is None else min(default, position_limit)
    if position_limit is None:
        raise ExportError("the model has no position limit to default to; pass --max-length N")
    return position_limit


def save_bundle_tokenizer(tokenizer: Any, bundle_dir: Path, max_length: int) -> Path:
    """``tokenizer.save_pretrained`` into ``bundle_dir/tokenizer``, truncating at ``max_length`` and never padding."""
    from tokenizers import Tokenizer

    directory = Path(bundle_dir) / TOKENIZER_DIR
    tokenizer.save_pretrained(directory)
    fast_file = directory / "tokenizer.json"
    if fast_file.is_file():
        backend = Tokenizer.from_file(str(fast_file))
        backend.no_padding()
        backend.enable_truncation(max_length)
        backend.save(str(fast_file))
    config_file = directory / "tokenizer_config.json"
    if config_file.is_file():
        config = json.loads(config_file.read_text(encoding="utf-8"))
        config["model_max_length"] = max_length
        config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return directory
