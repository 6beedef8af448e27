"""Load an acc bundle and serve requests: manifest checks, the profile policy, ORT backends, the ``Runtime``.

Importing this package imports neither torch nor onnxruntime; sessions and the tokenizer load on first use.
Also here, imported by name because they need more: ``acc.runtime.calibrate.calibrate`` (measure the latency
table on this machine), ``acc.runtime.server.create_app`` and ``acc.runtime.serve.serve`` (the ``[serve]`` extra).
"""

from __future__ import annotations

from .batching import BatcherClosedError, BatcherStats, DynamicBatcher, merge_batches
from .device_names import cpu_name, device_name, gpu_name
from .inputs import Batch, TextEncoder, pad_batch
from .manifest import (
    BUNDLE_FORMAT,
    MANIFEST_NAME,
    SUPPORTED_FORMAT_VERSION,
    AccuracyRow,
    AdjustableEntry,
    EngineEntry,
    FileEntry,
    LatencyRow,
    Manifest,
    ModelCard,
    ProfileEntry,
    Tables,
    read_manifest,
    update_manifest_tables,
)
from .policy import (
    Choice,
    LoadAdaptivePolicy,
    ProfileCatalog,
    accuracy_by_profile,
    choose_profile,
    interpolate_p99_ms,
)
from .request import RequestOptionError, RequestOptions
from .runtime import Prediction, Runtime
from .session import Backend, BackendError, OrtBackend, SessionCache, resolve_device

__all__ = [
    "BUNDLE_FORMAT",
    "MANIFEST_NAME",
    "SUPPORTED_FORMAT_VERSION",
    "AccuracyRow",
    "AdjustableEntry",
    "Backend",
    "BackendError",
    "Batch",
    "BatcherClosedError",
    "BatcherStats",
    "Choice",
    "DynamicBatcher",
    "EngineEntry",
    "FileEntry",
    "LatencyRow",
    "LoadAdaptivePolicy",
    "Manifest",
    "ModelCard",
    "OrtBackend",
    "Prediction",
    "ProfileCatalog",
    "ProfileEntry",
    "RequestOptionError",
    "RequestOptions",
    "Runtime",
    "SessionCache",
    "Tables",
    "TextEncoder",
    "accuracy_by_profile",
    "choose_profile",
    "cpu_name",
    "device_name",
    "gpu_name",
    "interpolate_p99_ms",
    "merge_batches",
    "pad_batch",
    "read_manifest",
    "resolve_device",
    "update_manifest_tables",
]
