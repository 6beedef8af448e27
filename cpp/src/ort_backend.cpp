// ONNX Runtime through its C++ wrapper (header-only over the ABI-stable C API), so headers of one release work with
// the library of a later one (here: Debian's 1.21 headers, the pip wheel's 1.32 library).
#include "acc/ort_backend.hpp"

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include <onnxruntime_cxx_api.h>

#include "acc/errors.hpp"
#include "format.hpp"

namespace acc {
namespace {

Ort::Env& environment() {
    static Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "acc");  // one per process, created on first use
    return env;
}

std::string first_line(const std::string& text, std::size_t limit = 240) {
    std::string line = text.substr(0, text.find('\n'));
    return line.size() <= limit ? line : line.substr(0, limit - 1) + "…";
}

}  // namespace

struct OrtBackend::Impl {
    std::filesystem::path graph;
    std::unique_ptr<Ort::Session> session;
    std::vector<std::string> inputs;
    Ort::MemoryInfo memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
};

OrtBackend::OrtBackend(const VerifiedGraph& verified, std::optional<int> threads) : impl_(new Impl) {
    const std::filesystem::path& graph = verified.path;
    impl_->graph = graph;
    try {
        Ort::SessionOptions options;
        options.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
        if (threads) {
            if (*threads < 1) {
                throw BackendError("threads must be >= 1, got " + std::to_string(*threads) +
                                   "; leave it unset for onnxruntime's default");
            }
            options.SetIntraOpNumThreads(*threads);
            options.SetInterOpNumThreads(1);
        }
        // Bytes, not paths: ONNX Runtime opens no bundle file, so what was checked is what runs. An external location
        // missing here would be opened relative to the working directory; read_graph lists every one the graph names.
        if (!verified.external.empty()) {
            std::vector<std::string> names;
            std::vector<char*> buffers;
            std::vector<std::size_t> lengths;
            for (const auto& [location, bytes] : verified.external) {
                names.push_back(location);
                buffers.push_back(const_cast<char*>(bytes.data()));  // read only: ONNX Runtime copies the tensors
                lengths.push_back(bytes.size());
            }
            options.AddExternalInitializersFromFilesInMemory(names, buffers, lengths);
        }
        impl_->session = std::make_unique<Ort::Session>(environment(), verified.model.data(), verified.model.size(),
                                                        options);
        Ort::AllocatorWithDefaultOptions allocator;
        for (std::size_t i = 0; i < impl_->session->GetInputCount(); ++i) {
            impl_->inputs.emplace_back(impl_->session->GetInputNameAllocated(i, allocator).get());
        }
        bool has_logits = false;
        for (std::size_t i = 0; i < impl_->session->GetOutputCount(); ++i) {
            has_logits |= std::string(impl_->session->GetOutputNameAllocated(i, allocator).get()) == "logits";
        }
        if (!has_logits) {
            throw BundleError("graph " + graph.string() + " has no output 'logits'; re-export the bundle with acc-export");
        }
    } catch (const Ort::Exception& error) {
        throw BundleError("cannot load graph " + graph.string() + " (" + first_line(error.what()) +
                          "); the graph or its weights are corrupted or incomplete, re-export the bundle with acc-export");
    }
}

OrtBackend::~OrtBackend() = default;

Logits OrtBackend::run(const Batch& batch, const std::vector<float>* keep_ratios, const std::string& keep_ratios_input) {
    const std::vector<std::int64_t> shape = {batch.batch, batch.seq};
    const auto count = static_cast<std::size_t>(batch.batch * batch.seq);
    if (batch.input_ids.size() != count || batch.attention_mask.size() != count || batch.token_type_ids.size() != count) {
        throw DataError("batch holds " + std::to_string(batch.input_ids.size()) + " ids for shape [" +
                        std::to_string(batch.batch) + ", " + std::to_string(batch.seq) +
                        "]; fill input_ids, attention_mask and token_type_ids with batch * seq values each");
    }
    std::vector<std::string> feeds = {"attention_mask", "input_ids", "token_type_ids"};
    if (keep_ratios) feeds.push_back(keep_ratios_input);
    std::sort(feeds.begin(), feeds.end());
    std::vector<std::string> missing;
    for (const std::string& name : impl_->inputs) {
        if (!std::binary_search(feeds.begin(), feeds.end(), name)) missing.push_back(name);
    }
    if (!missing.empty()) {
        throw DataError("graph input(s) " + detail::py_repr(missing) + " not in feeds " + detail::py_repr(feeds) +
                        "; pass every input the graph takes");
    }
    std::vector<Ort::Value> values;
    std::vector<const char*> names;
    auto int64_tensor = [&](const std::vector<std::int64_t>& data) {
        return Ort::Value::CreateTensor<std::int64_t>(impl_->memory, const_cast<std::int64_t*>(data.data()),
                                                      data.size(), shape.data(), shape.size());
    };
    const std::int64_t ratios_shape = keep_ratios ? static_cast<std::int64_t>(keep_ratios->size()) : 0;
    try {
        for (const std::string& name : impl_->inputs) {  // only what the graph declares, in its order
            if (name == "input_ids") {
                values.push_back(int64_tensor(batch.input_ids));
            } else if (name == "attention_mask") {
                values.push_back(int64_tensor(batch.attention_mask));
            } else if (name == "token_type_ids") {
                values.push_back(int64_tensor(batch.token_type_ids));
            } else {
                values.push_back(Ort::Value::CreateTensor<float>(impl_->memory, const_cast<float*>(keep_ratios->data()),
                                                                 keep_ratios->size(), &ratios_shape, 1));
            }
            names.push_back(name.c_str());
        }
        const char* output = "logits";
        std::vector<Ort::Value> outputs =
            impl_->session->Run(Ort::RunOptions{nullptr}, names.data(), values.data(), values.size(), &output, 1);
        const auto info = outputs[0].GetTensorTypeAndShapeInfo();
        const std::vector<std::int64_t> out_shape = info.GetShape();
        if (info.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || out_shape.size() != 2) {
            throw BundleError("graph " + impl_->graph.filename().string() +
                              " returned logits that are not float32 [batch, labels]; re-export the bundle");
        }
        const float* data = outputs[0].GetTensorData<float>();
        return {std::vector<float>(data, data + out_shape[0] * out_shape[1]), out_shape[0], out_shape[1]};
    } catch (const Ort::Exception& error) {
        throw BackendError("graph " + impl_->graph.filename().string() + " failed on inputs [" +
                           std::to_string(batch.batch) + ", " + std::to_string(batch.seq) + "] (" +
                           first_line(error.what()) +
                           "); check the input shapes and dtypes (int64 [batch, seq]) or re-export the bundle");
    }
}

std::string ort_version() { return OrtGetApiBase()->GetVersionString(); }

}  // namespace acc
