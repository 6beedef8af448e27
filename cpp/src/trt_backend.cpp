// The TensorRT run path, as acc.runtime.trt_backend._EngineRunner: deserialize, one execution context, device
// buffers per call, enqueueV3 on a private stream. Inputs are cast to the engine's integer type, outputs
// (float32 or float16 logits) come back as float32.
#include "acc/trt_backend.hpp"

#include <NvInfer.h>
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstring>
#include <mutex>

#include "acc/engine.hpp"
#include "acc/errors.hpp"

#ifndef ACC_TRT_BACKEND_NAME
#define ACC_TRT_BACKEND_NAME "tensorrt"
#endif

namespace acc {
namespace {

const std::string kRebuild = "rebuild it with `acc-export --engine trt` on this device";

class Logger : public nvinfer1::ILogger {
    void log(Severity severity, const char* message) noexcept override {
        if (severity <= Severity::kWARNING) std::fprintf(stderr, "TensorRT: %s\n", message);
    }
};

void cuda_check(cudaError_t status, const std::string& what) {
    if (status != cudaSuccess) {
        throw BackendError(what + " failed (" + cudaGetErrorString(status) +
                           "); check the driver with nvidia-smi or use backend \"ort\"");
    }
}

/// Device memory released when it goes out of scope (inputs must live until the stream is done).
struct DeviceBuffer {
    void* data = nullptr;
    explicit DeviceBuffer(std::size_t bytes) { cuda_check(cudaMalloc(&data, bytes ? bytes : 1), "cudaMalloc"); }
    ~DeviceBuffer() { cudaFree(data); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = std::uint32_t(h & 0x8000) << 16;
    std::uint32_t exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF, bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000 | (mantissa << 13);  // inf / nan
    } else if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            exponent = 127 - 15 + 1;
            while (!(mantissa & 0x400)) {
                mantissa <<= 1;
                --exponent;
            }
            bits = sign | (exponent << 23) | ((mantissa & 0x3FF) << 13);
        }
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float out;
    std::memcpy(&out, &bits, sizeof out);
    return out;
}

std::string dims_text(const nvinfer1::Dims& dims) {
    std::string out = "[";
    for (int i = 0; i < dims.nbDims; ++i) out += (i ? ", " : "") + std::to_string(dims.d[i]);
    return out + "]";
}

}  // namespace

struct TrtBackend::Impl {
    Logger logger;
    std::filesystem::path path;
    std::unique_ptr<nvinfer1::IRuntime> runtime;
    std::unique_ptr<nvinfer1::ICudaEngine> engine;
    std::unique_ptr<nvinfer1::IExecutionContext> context;
    cudaStream_t stream = nullptr;
    std::vector<std::string> inputs, outputs;
    std::mutex mutex;

    ~Impl() {
        context.reset();
        engine.reset();
        runtime.reset();
        if (stream) cudaStreamDestroy(stream);
    }
};

std::string trt_backend_name() { return ACC_TRT_BACKEND_NAME; }

std::string trt_library_version() {
    const int v = getInferLibVersion();  // e.g. 100300 = 10.3.0 (TensorRT >= 10: major*10000 + minor*100 + patch)
    return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

std::string cuda_device_cc() {
    cudaDeviceProp properties{};
    cuda_check(cudaGetDeviceProperties(&properties, 0), "cudaGetDeviceProperties");
    return "sm" + std::to_string(properties.major) + std::to_string(properties.minor);
}

std::string cuda_device_name() {
    cudaDeviceProp properties{};
    cuda_check(cudaGetDeviceProperties(&properties, 0), "cudaGetDeviceProperties");
    return properties.name;
}

TrtBackend::TrtBackend(const Manifest& manifest, const EngineEntry& record) : impl_(new Impl) {
    check_engine_compatible(record, trt_backend_name(), trt_library_version(), cuda_device_cc());
    const std::filesystem::path engine = manifest.path(record.file);
    impl_->path = engine;
    const std::string data = manifest.read_file(record.file);  // the bytes checked are the bytes deserialized
    impl_->runtime.reset(nvinfer1::createInferRuntime(impl_->logger));
    if (impl_->runtime) impl_->engine.reset(impl_->runtime->deserializeCudaEngine(data.data(), data.size()));
    if (!impl_->engine) {
        throw BundleError("TensorRT could not load engine " + engine.string() + " (corrupt, or another GPU/release); " +
                          kRebuild);
    }
    impl_->context.reset(impl_->engine->createExecutionContext());
    if (!impl_->context) throw BackendError("TensorRT could not create an execution context for " + engine.string());
    cuda_check(cudaStreamCreate(&impl_->stream), "cudaStreamCreate");
    for (int i = 0; i < impl_->engine->getNbIOTensors(); ++i) {
        const char* name = impl_->engine->getIOTensorName(i);
        const bool input = impl_->engine->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT;
        (input ? impl_->inputs : impl_->outputs).emplace_back(name);
    }
}

TrtBackend::~TrtBackend() = default;

std::string TrtBackend::name() const { return trt_backend_name(); }

Logits TrtBackend::run(const Batch& batch, const std::vector<float>*, const std::string&) {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    nvinfer1::ICudaEngine& engine = *impl_->engine;
    nvinfer1::IExecutionContext& context = *impl_->context;
    std::vector<std::unique_ptr<DeviceBuffer>> held;
    for (const std::string& name : impl_->inputs) {
        const std::vector<std::int64_t>* source = name == "input_ids"        ? &batch.input_ids
                                                  : name == "attention_mask" ? &batch.attention_mask
                                                  : name == "token_type_ids" ? &batch.token_type_ids
                                                                             : nullptr;
        if (source == nullptr) {
            throw DataError("engine input " + name + " is not one of input_ids, attention_mask, token_type_ids; "
                            "rebuild the engine from a profile graph");
        }
        const nvinfer1::Dims low = engine.getProfileShape(name.c_str(), 0, nvinfer1::OptProfileSelector::kMIN);
        const nvinfer1::Dims high = engine.getProfileShape(name.c_str(), 0, nvinfer1::OptProfileSelector::kMAX);
        if (low.nbDims == 2 && (batch.batch < low.d[0] || batch.batch > high.d[0] || batch.seq < low.d[1] ||
                                batch.seq > high.d[1])) {
            throw DataError("input " + name + " has shape [" + std::to_string(batch.batch) + ", " +
                            std::to_string(batch.seq) + "], outside the engine's range " + dims_text(low) + ".." +
                            dims_text(high) + "; split or pad the batch to fit, or rebuild with wider "
                            "--engine-batch/--engine-seq");
        }
        context.setInputShape(name.c_str(), nvinfer1::Dims2{batch.batch, batch.seq});
        const bool wide = engine.getTensorDataType(name.c_str()) == nvinfer1::DataType::kINT64;
        std::vector<std::int32_t> narrow;
        const void* host = source->data();
        std::size_t bytes = source->size() * sizeof(std::int64_t);
        if (!wide) {
            narrow.assign(source->begin(), source->end());
            host = narrow.data();
            bytes = narrow.size() * sizeof(std::int32_t);
        }
        held.push_back(std::make_unique<DeviceBuffer>(bytes));
        cuda_check(cudaMemcpyAsync(held.back()->data, host, bytes, cudaMemcpyHostToDevice, impl_->stream), "copy to GPU");
        cuda_check(cudaStreamSynchronize(impl_->stream), "copy to GPU");  // `narrow` is a temporary
        context.setTensorAddress(name.c_str(), held.back()->data);
    }
    nvinfer1::Dims logits_shape{};
    bool logits_half = false;
    DeviceBuffer* logits = nullptr;
    for (const std::string& name : impl_->outputs) {
        const nvinfer1::Dims shape = context.getTensorShape(name.c_str());
        std::size_t count = 1;
        for (int i = 0; i < shape.nbDims; ++i) {
            if (shape.d[i] < 0) {
                throw BackendError("engine output " + name + " has a data-dependent shape " + dims_text(shape) +
                                   "; rebuild the engine with acc-export --engine trt (engines keep only logits)");
            }
            count *= static_cast<std::size_t>(shape.d[i]);
        }
        const nvinfer1::DataType type = engine.getTensorDataType(name.c_str());
        const std::size_t width = type == nvinfer1::DataType::kHALF ? 2 : type == nvinfer1::DataType::kINT64 ? 8 : 4;
        held.push_back(std::make_unique<DeviceBuffer>(count * width));
        context.setTensorAddress(name.c_str(), held.back()->data);
        if (name == "logits") {
            logits = held.back().get();
            logits_shape = shape;
            logits_half = type == nvinfer1::DataType::kHALF;
        }
    }
    if (logits == nullptr || logits_shape.nbDims != 2) {
        throw BundleError("engine " + impl_->path.string() + " has no 2-D output 'logits'; " + kRebuild);
    }
    if (!context.enqueueV3(impl_->stream)) {
        throw BackendError("TensorRT failed to run on inputs [" + std::to_string(batch.batch) + ", " +
                           std::to_string(batch.seq) + "]; check the log");
    }
    const auto rows = logits_shape.d[0], cols = logits_shape.d[1];
    Logits out{std::vector<float>(static_cast<std::size_t>(rows * cols)), rows, cols};
    if (logits_half) {
        std::vector<std::uint16_t> half(out.values.size());
        cuda_check(cudaMemcpyAsync(half.data(), logits->data, half.size() * 2, cudaMemcpyDeviceToHost, impl_->stream),
                   "copy from GPU");
        cuda_check(cudaStreamSynchronize(impl_->stream), "TensorRT run");
        for (std::size_t i = 0; i < half.size(); ++i) out.values[i] = half_to_float(half[i]);
    } else {
        cuda_check(cudaMemcpyAsync(out.values.data(), logits->data, out.values.size() * 4, cudaMemcpyDeviceToHost,
                                   impl_->stream),
                   "copy from GPU");
        cuda_check(cudaStreamSynchronize(impl_->stream), "TensorRT run");
    }
    return out;
}

}  // namespace acc
