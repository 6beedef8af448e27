"""Load an acc bundle and serve requests: manifest checks, the profile policy, ORT backends, the ``Runtime``.

Importing this package imports neither torch nor onnxruntime; sessions and the tokenizer load on first use.
Also here, imported by name because they need more: ``acc.runtime.calibrate.calibrate`` (measure the latency
table on this machine), ``acc.runtime.server.create_app`` and ``acc.runtime.serve.serve`` (the ``[serve]`` extra).
"""

from __future__ import annotations

from .batching import BatcherClosedError, BatcherStats, DynamicBatcher, merge_batches
from .bundle_format import (
    BUNDLE_FORMAT,
    FORMAT_VERSION,
    AccuracyRow,
    AdjustableEntry,
    BundleManifest,
    EngineEntry,
    FileEntry,
    LatencyRow,
    Manifest,
    ModelCard,
    ProfileEntry,
    Tables,
)
from .device_names import cpu_name, device_name, gpu_name
from .inputs import Batch, TextEncoder, pad_batch
from .integrity import MANIFEST_NAME
from .manifest import read_manifest, update_manifest_tables
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
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "AccuracyRow",
    "AdjustableEntry",
    "Backend",
    "BackendError",
    "Batch",
    "BatcherClosedError",
    "BatcherStats",
    "BundleManifest",
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
