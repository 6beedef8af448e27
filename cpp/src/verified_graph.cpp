// read_graph: the graph's bytes, then the external-data locations its tensors name (found by walking the ONNX
// protobuf wire format, so no protobuf or onnx library is needed), each read as a verified listed file.
#include "acc/verified_graph.hpp"

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "acc/errors.hpp"
#include "format.hpp"
#include "json_util.hpp"

namespace acc {
namespace {

/// One tensor stored outside the graph file: its name and the file (relative to the graph's folder) holding it.
struct ExternalTensor {
    std::string name;
    std::string location;
};

/// Field numbers of onnx.proto3 that can lead to a TensorProto.
namespace field {
constexpr int kModelGraph = 7, kModelFunctions = 25;                       // ModelProto
constexpr int kGraphNode = 1, kGraphInitializer = 5, kGraphSparse = 15;    // GraphProto
constexpr int kFunctionNode = 7;                                           // FunctionProto
constexpr int kNodeAttribute = 5;                                          // NodeProto
constexpr int kAttrTensor = 5, kAttrGraph = 6, kAttrTensors = 10, kAttrGraphs = 11, kAttrSparse = 22,
              kAttrSparses = 23;                                           // AttributeProto
constexpr int kSparseValues = 1, kSparseIndices = 2;                       // SparseTensorProto
constexpr int kTensorName = 8, kTensorExternal = 13, kTensorLocation = 14;  // TensorProto
constexpr int kEntryKey = 1, kEntryValue = 2;                              // StringStringEntryProto
constexpr std::uint64_t kExternal = 1;                                     // TensorProto.DataLocation.EXTERNAL
}  // namespace field

/// A protobuf message's fields, one at a time; ok() turns false on malformed bytes (then the walk stops).
class Fields {
public:
    explicit Fields(std::string_view bytes) : rest_(bytes) {}

    /// The next field: its number, and its payload (length-delimited) or value (varint); false at the end.
    bool next(int& number, std::string_view& payload, std::uint64_t& value) {
        if (rest_.empty() || !ok_) return false;
        std::uint64_t key = 0;
        if (!varint(key)) return fail();
        number = static_cast<int>(key >> 3);
        switch (key & 7) {
            case 0: return varint(value) || fail();
            case 1: return skip(8);
            case 2: {
                std::uint64_t size = 0;
                if (!varint(size) || size > rest_.size()) return fail();
                payload = rest_.substr(0, size);
                rest_.remove_prefix(size);
                return true;
            }
            case 5: return skip(4);
            default: return fail();  // groups (3, 4) are not used by onnx.proto
        }
    }
    bool ok() const { return ok_; }

private:
    bool varint(std::uint64_t& out) {
        out = 0;
        for (int shift = 0; shift < 64 && !rest_.empty(); shift += 7) {
            const auto byte = static_cast<std::uint8_t>(rest_.front());
            rest_.remove_prefix(1);
            out |= std::uint64_t(byte & 0x7f) << shift;
            if (!(byte & 0x80)) return true;
        }
        return false;
    }
    bool skip(std::size_t size) {
        if (size > rest_.size()) return fail();
        rest_.remove_prefix(size);
        return true;
    }
    bool fail() {
        ok_ = false;
        return false;
    }
    std::string_view rest_;
    bool ok_ = true;
};

/// Collects every tensor with external data, wherever onnx.proto can hold one (initializers, sparse initializers,
/// node attributes, subgraphs, model-local functions). A malformed message sets malformed and stops.
class ExternalTensorWalk {
public:
    std::vector<ExternalTensor> found;
    bool malformed = false;

    void model(std::string_view bytes) { walk(bytes, {{field::kModelGraph, &ExternalTensorWalk::graph},
                                                      {field::kModelFunctions, &ExternalTensorWalk::function}}); }

private:
    using Step = void (ExternalTensorWalk::*)(std::string_view);

    void walk(std::string_view bytes, std::initializer_list<std::pair<int, Step>> steps) {
        Fields fields(bytes);
        int number = 0;
        std::string_view payload;
        std::uint64_t value = 0;
        while (!malformed && fields.next(number, payload, value)) {
            for (const auto& [wanted, step] : steps) {
                if (number == wanted) (this->*step)(payload);
            }
        }
        malformed |= !fields.ok();
    }
    void graph(std::string_view bytes) {
        walk(bytes, {{field::kGraphNode, &ExternalTensorWalk::node}, {field::kGraphInitializer, &ExternalTensorWalk::tensor},
                     {field::kGraphSparse, &ExternalTensorWalk::sparse}});
    }
    void function(std::string_view bytes) { walk(bytes, {{field::kFunctionNode, &ExternalTensorWalk::node}}); }
    void node(std::string_view bytes) { walk(bytes, {{field::kNodeAttribute, &ExternalTensorWalk::attribute}}); }
    void attribute(std::string_view bytes) {
        walk(bytes, {{field::kAttrTensor, &ExternalTensorWalk::tensor}, {field::kAttrTensors, &ExternalTensorWalk::tensor},
                     {field::kAttrGraph, &ExternalTensorWalk::graph}, {field::kAttrGraphs, &ExternalTensorWalk::graph},
                     {field::kAttrSparse, &ExternalTensorWalk::sparse}, {field::kAttrSparses, &ExternalTensorWalk::sparse}});
    }
    void sparse(std::string_view bytes) {
        walk(bytes, {{field::kSparseValues, &ExternalTensorWalk::tensor}, {field::kSparseIndices, &ExternalTensorWalk::tensor}});
    }
    void tensor(std::string_view bytes) {
        Fields fields(bytes);
        int number = 0;
        std::string_view payload;
        std::uint64_t value = 0;
        ExternalTensor entry;
        bool external = false;
        while (fields.next(number, payload, value)) {
            if (number == field::kTensorName) entry.name = std::string(payload);
            if (number == field::kTensorLocation) external = value == field::kExternal;
            if (number == field::kTensorExternal) {
                Fields pair(payload);
                std::string_view key, text;
                for (std::string_view part; pair.next(number, part, value);) {
                    if (number == field::kEntryKey) key = part;
                    if (number == field::kEntryValue) text = part;
                }
                if (key == "location") entry.location = std::string(text);
            }
        }
        malformed |= !fields.ok();
        if (external) found.push_back(std::move(entry));
    }
};

}  // namespace

VerifiedGraph read_graph(const Manifest& manifest, const std::string& relative) {
    VerifiedGraph graph{relative, manifest.path(relative), manifest.read_file(relative), {}};
    ExternalTensorWalk walk;
    walk.model(graph.model);
    if (walk.malformed) return graph;  // not a ModelProto: ONNX Runtime refuses the same bytes with its own message
    const std::filesystem::path folder = std::filesystem::path(relative).parent_path();
    for (const ExternalTensor& tensor : walk.found) {
        if (graph.external.count(tensor.location)) continue;
        const std::string target = (folder / tensor.location).lexically_normal().generic_string();
        if (tensor.location.empty() || tensor.location[0] == '/' || target == ".." || target.rfind("../", 0) == 0 ||
            tensor.location.find('\\') != std::string::npos) {
            throw BundleError("graph " + relative + " in bundle " + manifest.bundle_dir.string() + " keeps tensor " +
                              detail::py_repr(tensor.name) + " in " + detail::py_repr(tensor.location) +
                              ", outside the bundle; " + detail::kReexport);
        }
        if (target == relative) {
            throw BundleError("graph " + relative + " names itself as its external data; " + std::string(detail::kReexport));
        }
        graph.external[tensor.location] = manifest.read_file(target);
    }
    return graph;
}

}  // namespace acc
