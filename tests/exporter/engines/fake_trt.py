"""A stand-in for the ``tensorrt`` module, NOT TensorRT: it records what our loaders ask of the TensorRT 10 API.

What it checks: that the loaders call the API names and argument orders we read in TensorRT 10 / TensorRT-RTX 1.7
(``Builder.create_network``, ``OnnxParser.parse(bytes, path)``, ``IOptimizationProfile.set_shape``,
``IBuilderConfig.set_timing_cache`` ...), and what they configure: profile shapes, flags, targets, outputs.
What it cannot check: whether real TensorRT accepts our graphs or builds fast engines; that is test_rtx_aot.py's
job (real TensorRT-RTX, ahead of time on CPU). It stays for what no real build shows here: full TensorRT (not
installable here), GPU-only paths (CURRENT target, timing cache), the settings inside a plan (real plans are
opaque without a GPU) and builds that fail on demand. The parser reads the real ONNX file (inputs, outputs, node
count, whether weights are float16); the "plan" it builds is JSON of the settings.
"""

from __future__ import annotations

import enum
import importlib.machinery
import json
import types
from pathlib import Path
from typing import Any

import onnx


class DataType(enum.Enum):
    FLOAT = "float32"
    HALF = "float16"
    INT64 = "int64"


class Severity(enum.IntEnum):
    INTERNAL_ERROR = 0
    ERROR = 1
    WARNING = 2
    INFO = 3
    VERBOSE = 4


class ILogger:
    Severity = Severity

    def __init__(self) -> None:
        pass


class Tensor:
    def __init__(self, name: str, shape: tuple[int, ...], dtype: DataType) -> None:
        self.name, self.shape, self.dtype = name, shape, dtype


class Layer:
    def __init__(self, dtype: DataType) -> None:
        self._output = Tensor("out", (), dtype)
        self.num_outputs = 1

    def get_output(self, index: int) -> Tensor:
        return self._output


class Network:
    def __init__(self, flags: int) -> None:
        self.flags = flags
        self.inputs: list[Tensor] = []
        self.outputs: list[Tensor] = []
        self.layers: list[Layer] = []

    num_inputs = property(lambda self: len(self.inputs))
    num_outputs = property(lambda self: len(self.outputs))
    num_layers = property(lambda self: len(self.layers))

    def get_input(self, i: int) -> Tensor:
        return self.inputs[i]

    def get_output(self, i: int) -> Tensor:
        return self.outputs[i]

    def get_layer(self, i: int) -> Layer:
        return self.layers[i]

    def unmark_output(self, tensor: Tensor) -> None:
        self.outputs.remove(tensor)


class ParserError:
    def __init__(self, node: str, op: str) -> None:
        self._node, self._op = node, op

    def desc(self) -> str:
        return f"No importer registered for op: {self._op}\nmore detail on a second line"

    def code(self) -> str:
        return "UNSUPPORTED_NODE"

    def node_name(self) -> str:
        return self._node

    def node_operator(self) -> str:
        return self._op


_ELEM = {
    onnx.TensorProto.FLOAT: DataType.FLOAT,
    onnx.TensorProto.FLOAT16: DataType.HALF,
    onnx.TensorProto.INT64: DataType.INT64,
}


class OnnxParser:
    """Reads the real graph: inputs (dim_param → -1), outputs, one layer per node; op ``Unsupported`` fails."""

    def __init__(self, network: Network, logger: ILogger) -> None:
        self.network, self.errors = network, []
        self.parsed_path: str | None = None

    def parse(self, model: bytes, path: str | None = None) -> bool:
        proto = onnx.load_from_string(model)
        self.parsed_path = path
        if path is not None and not Path(path).is_file():
            raise AssertionError(f"parse() got path {path}, which is not the graph file")
        bad = [n for n in proto.graph.node if n.op_type == "Unsupported"]
        if bad:
            self.errors = [ParserError(bad[0].name, bad[0].op_type)]
            return False
        half = any(t.data_type == onnx.TensorProto.FLOAT16 for t in proto.graph.initializer)
        for value in proto.graph.input:
            dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim)
            self.network.inputs.append(Tensor(value.name, dims, _ELEM[value.type.tensor_type.elem_type]))
        for value in proto.graph.output:
            self.network.outputs.append(Tensor(value.name, (), _ELEM[value.type.tensor_type.elem_type]))
        self.network.layers = [Layer(DataType.HALF if half else DataType.FLOAT) for _ in proto.graph.node]
        return True

    num_errors = property(lambda self: len(self.errors))

    def get_error(self, i: int) -> ParserError:
        return self.errors[i]


class TimingCache:
    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)

    def serialize(self) -> bytes:
        return self.data + b"+"  # one mark per build that used it: lets tests see the cache is shared


class Profile:
    def __init__(self) -> None:
        self.shapes: dict[str, list[list[int]]] = {}
        self.shape_inputs: dict[str, list[list[int]]] = {}

    def set_shape(self, name: str, low: Any, opt: Any, high: Any) -> None:
        self.shapes[name] = [list(low), list(opt), list(high)]

    def set_shape_input(self, name: str, low: Any, opt: Any, high: Any) -> None:
        self.shape_inputs[name] = [list(low), list(opt), list(high)]


class Config:
    def __init__(self, module: types.ModuleType) -> None:
        self.module = module
        self.flags = {"TF32"}  # TensorRT enables TF32 by default
        self.profiles: list[Profile] = []
        self.cache: TimingCache | None = None
        self.targets: dict[int, Any] = {}
        if hasattr(module, "ComputeCapability"):
            self.num_compute_capabilities = 0

    def set_flag(self, flag: enum.Enum) -> None:
        self.flags.add(flag.name)

    def clear_flag(self, flag: enum.Enum) -> None:
        self.flags.discard(flag.name)

    def add_optimization_profile(self, profile: Profile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def create_timing_cache(self, data: bytes) -> TimingCache:
        return TimingCache(data)

    def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
        self.cache = cache
        return True

    def get_timing_cache(self) -> TimingCache | None:
        return self.cache

    def __getattr__(self, name: str) -> Any:
        if name == "set_compute_capability" and hasattr(self.module, "ComputeCapability"):
            return self._set_compute_capability
        raise AttributeError(name)

    def _set_compute_capability(self, cc: enum.Enum, index: int) -> bool:
        if not 0 <= index < self.num_compute_capabilities:
            raise AssertionError(f"index {index} outside num_compute_capabilities {self.num_compute_capabilities}")
        self.targets[index] = cc.name
        return True


class Builder:
    def __init__(self, logger: ILogger) -> None:
        self.logger = logger
        self.fail_with: str | None = None

    def create_network(self, flags: int = 0) -> Network:
        return Network(flags)

    def create_builder_config(self) -> Config:
        return Config(self.module)

    def create_optimization_profile(self) -> Profile:
        return Profile()

    def build_serialized_network(self, network: Network, config: Config) -> bytes | None:
        if FAIL_BUILD.get("message"):
            self.logger.log(Severity.ERROR, FAIL_BUILD["message"])
            return None
        plan = {
            "flags": sorted(config.flags), "profiles": [p.shapes for p in config.profiles],
            "shape_inputs": [p.shape_inputs for p in config.profiles],
            "outputs": [t.name for t in network.outputs], "targets": config.targets, "network_flags": network.flags,
            "timing_cache_in": None if config.cache is None else config.cache.data.decode(),
        }  # fmt: skip
        return json.dumps(plan).encode()


FAIL_BUILD: dict[str, str] = {}  # tests set {"message": ...} to make the next builds fail


def make_fake_trt(
    name: str = "tensorrt", version: str = "10.3.0", *, rtx: bool = False, strongly_typed: bool = True
) -> types.ModuleType:
    """A fake flavour. ``rtx``: TensorRT-RTX-like (ComputeCapability targets, no FP16 flag). ``strongly_typed=False``:
    an older TensorRT (no STRONGLY_TYPED network flag, an FP16 builder flag)."""
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)  # torch._dynamo calls find_spec on sys.modules
    module.__version__ = version
    module.ILogger = ILogger
    module.float16, module.float32, module.int64 = DataType.HALF, DataType.FLOAT, DataType.INT64
    flags = ["TF32"] + ([] if rtx else ["FP16"])
    module.BuilderFlag = enum.Enum("BuilderFlag", flags)
    if strongly_typed:
        module.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", {"STRONGLY_TYPED": 5})
    if rtx:
        module.ComputeCapability = enum.Enum(
            "ComputeCapability", ["NONE", "CURRENT", "SM75", "SM80", "SM86", "SM89", "SM120", "SM121"]
        )
    module.OnnxParser = OnnxParser
    module.Builder = type("Builder", (Builder,), {"module": module})
    return module
