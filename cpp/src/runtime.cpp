// Runtime: per request encode -> choose_profile -> the cached backend of that graph -> logits, probabilities,
// labels; the order and the rules of acc.runtime.runtime.Runtime.
#include "acc/runtime.hpp"

#include <sys/utsname.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <string>

#include "acc/engine.hpp"
#include "acc/ort_backend.hpp"
#ifdef ACC_WITH_TENSORRT
#include "acc/trt_backend.hpp"
#endif
#include "format.hpp"
#include "unicode.hpp"

namespace acc {
namespace {

using detail::format_g;
using detail::py_repr;

/// Python's str.strip() == "" for the characters a text can hold (Unicode whitespace, and \x1c-\x1f).
bool blank(const std::string& text) {
    const auto decoded = detail::decode_utf8(text);
    if (!decoded) return false;  // the tokenizer reports invalid UTF-8
    for (char32_t c : *decoded) {
        if (!((c >= 0x1C && c <= 0x1F) || (detail::char_flags(c) & detail::kSplitSpace))) return false;
    }
    return true;
}

Batch pad_batch(const std::vector<std::vector<std::int64_t>>& ids, std::int64_t pad_id) {
    Batch batch;
    batch.batch = static_cast<std::int64_t>(ids.size());
    for (const auto& row : ids) batch.seq = std::max<std::int64_t>(batch.seq, static_cast<std::int64_t>(row.size()));
    const auto count = static_cast<std::size_t>(batch.batch * batch.seq);
    batch.input_ids.assign(count, pad_id);
    batch.attention_mask.assign(count, 0);
    batch.token_type_ids.assign(count, 0);  // one text per row: segment A, as BERT expects
    for (std::size_t r = 0; r < ids.size(); ++r) {
        for (std::size_t c = 0; c < ids[r].size(); ++c) {
            batch.input_ids[r * batch.seq + c] = ids[r][c];
            batch.attention_mask[r * batch.seq + c] = 1;
        }
    }
    return batch;
}

}  // namespace

std::string cpu_name() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("model name", 0) == 0) {
            std::string name = line.substr(line.find(':') + 1);
            const auto first = name.find_first_not_of(" \t");
            const auto last = name.find_last_not_of(" \t\r");
            return first == std::string::npos ? "" : name.substr(first, last - first + 1);
        }
    }
    utsname system{};
    return uname(&system) == 0 && system.machine[0] ? system.machine : "unknown-cpu";
}

Runtime::Runtime(const std::filesystem::path& bundle, RuntimeOptions options)
    : manifest_(), tokenizer_(), options_(std::move(options)) {
#ifndef ACC_WITH_TENSORRT
    if (options_.backend == "trt") {
        throw BackendError("backend 'trt' needs a build with TensorRT (configure with -DTENSORRT_ROOT=<TensorRT dir>); "
                           "this build runs ONNX Runtime only, pass backend \"ort\"");
    }
#endif
    if (options_.backend != "auto" && options_.backend != "ort" && options_.backend != "trt") {
        throw BackendError("unknown backend " + py_repr(options_.backend) + "; pass one of 'auto', 'ort', 'trt'");
    }
    if (options_.threads && *options_.threads < 1) {
        throw BackendError("threads must be >= 1, got " + std::to_string(*options_.threads) +
                           "; leave it unset for onnxruntime's default");
    }
    manifest_ = read_manifest(bundle, options_.verify);
    if (!options_.digest.empty()) check_digest(manifest_, options_.digest);
    const std::string tokenizer = manifest_.tokenizer + "/tokenizer.json";
    tokenizer_ = WordPieceTokenizer::from_json(manifest_.read_file(tokenizer), manifest_.path(tokenizer).string());
    backend_name_ = "ort-cpu";
    device_name_ = cpu_name();
#ifdef ACC_WITH_TENSORRT
    if (options_.backend == "trt") {  // latency rows of TensorRT are keyed by the flavour and the GPU name
        backend_name_ = trt_backend_name();
        device_name_ = cuda_device_name();
        device_cc_ = cuda_device_cc();
    }
#endif
}

Runtime::~Runtime() = default;

Batch Runtime::encode(const std::vector<std::string>& texts, bool truncate) const {
    if (texts.empty()) throw DataError("no inputs given; pass a text, a list of texts or a list of token-id lists");
    const auto max_length = static_cast<std::size_t>(manifest_.model.max_length);
    std::vector<std::vector<std::int64_t>> ids;
    for (std::size_t i = 0; i < texts.size(); ++i) {
        if (blank(texts[i])) throw DataError("text " + std::to_string(i) + " is empty; pass non-empty texts");
        try {
            ids.push_back(tokenizer_.encode(texts[i], truncate ? std::optional<std::size_t>(max_length) : std::nullopt));
        } catch (const DataError& error) {
            throw DataError("text " + std::to_string(i) + ": " + error.what());
        }
        if (!truncate && ids.back().size() > max_length) {
            throw DataError("text " + std::to_string(i) + " has " + std::to_string(ids.back().size()) +
                            " tokens, more than the model's max_length " + std::to_string(max_length) +
                            "; shorten it or pass truncate=True");
        }
    }
    return pad_batch(ids, tokenizer_.pad_id());
}

Batch Runtime::encode_ids(const std::vector<std::vector<std::int64_t>>& ids, bool truncate) const {
    if (ids.empty()) throw DataError("no inputs given; pass a text, a list of texts or a list of token-id lists");
    const auto max_length = static_cast<std::size_t>(manifest_.model.max_length);
    const std::int64_t vocab = tokenizer_.vocab_size();
    std::vector<std::vector<std::int64_t>> cut;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const auto& row = ids[i];
        const std::string which = "token-id list " + std::to_string(i);
        if (row.empty()) throw DataError(which + " is empty; pass at least [CLS] [SEP]");
        std::vector<std::int64_t> bad;
        for (std::int64_t id : row) {
            if ((id < 0 || id >= vocab) && bad.size() < 5) bad.push_back(id);
        }
        if (!bad.empty()) {
            std::string shown = "[";
            for (std::size_t k = 0; k < bad.size(); ++k) shown += (k ? ", " : "") + std::to_string(bad[k]);
            throw DataError(which + " has ids " + shown + "] outside the vocabulary [0, " + std::to_string(vocab) +
                            "); pass ids from this bundle's tokenizer");
        }
        std::vector<std::int64_t> kept = row;
        if (row.size() > max_length) {
            if (!truncate) {
                throw DataError(which + " has " + std::to_string(row.size()) +
                                " ids, more than the model's max_length " + std::to_string(max_length) +
                                "; shorten it or pass truncate=True");
            }
            if (row.back() == tokenizer_.sep_id()) {
                kept.assign(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(max_length - 1));
                kept.push_back(row.back());
            } else {
                kept.assign(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(max_length));
            }
        }
        cut.push_back(std::move(kept));
    }
    return pad_batch(cut, tokenizer_.pad_id());
}

Choice Runtime::choose(const Request& request, std::int64_t batch, std::int64_t seq_len) const {
    return choose_profile(manifest_, request, batch, seq_len, backend_name_, device_name_);
}

Prediction Runtime::predict(const std::vector<std::string>& texts, const Request& request, bool truncate) const {
    return predict(encode(texts, truncate), request);
}

Prediction Runtime::predict(const std::vector<std::vector<std::int64_t>>& ids,
                            const std::vector<std::vector<std::int64_t>>& mask, const Request& request) const {
    if (ids.empty()) throw DataError("no inputs given; pass ids and mask as [batch][seq]");
    if (mask.size() != ids.size()) {
        throw DataError("ids have " + std::to_string(ids.size()) + " rows, mask has " + std::to_string(mask.size()) +
                        "; pass one mask row per ids row");
    }
    Batch batch;
    batch.batch = static_cast<std::int64_t>(ids.size());
    batch.seq = static_cast<std::int64_t>(ids[0].size());
    if (batch.seq == 0) throw DataError("ids row 0 is empty; pass at least [CLS] [SEP]");
    if (batch.seq > manifest_.model.max_length) {
        throw DataError("ids have " + std::to_string(batch.seq) + " columns, more than the model's max_length " +
                        std::to_string(manifest_.model.max_length) + "; shorten them (keep the final [SEP])");
    }
    for (std::size_t r = 0; r < ids.size(); ++r) {
        if (static_cast<std::int64_t>(ids[r].size()) != batch.seq || mask[r].size() != ids[r].size()) {
            throw DataError("ids row " + std::to_string(r) + " or its mask is not " + std::to_string(batch.seq) +
                            " long; pad every row (and its mask) to the same length");
        }
        for (std::size_t c = 0; c < ids[r].size(); ++c) {
            if (ids[r][c] < 0 || ids[r][c] >= tokenizer_.vocab_size()) {
                throw DataError("ids row " + std::to_string(r) + " holds id " + std::to_string(ids[r][c]) +
                                " outside the vocabulary [0, " + std::to_string(tokenizer_.vocab_size()) +
                                "); pass ids from this bundle's tokenizer");
            }
            if (mask[r][c] != 0 && mask[r][c] != 1) {
                throw DataError("mask row " + std::to_string(r) + " holds " + std::to_string(mask[r][c]) +
                                "; the mask is 1 on real tokens and 0 on padding");
            }
        }
        if (mask[r].empty() || mask[r][0] != 1) {
            throw DataError("mask row " + std::to_string(r) + " does not start with 1; pad on the right, [CLS] first");
        }
        batch.input_ids.insert(batch.input_ids.end(), ids[r].begin(), ids[r].end());
        batch.attention_mask.insert(batch.attention_mask.end(), mask[r].begin(), mask[r].end());
    }
    batch.token_type_ids.assign(batch.input_ids.size(), 0);
    return predict(batch, request);
}

Prediction Runtime::predict(const Batch& batch, const Request& request) const {
    return run(batch, choose(request, batch.batch, batch.seq));
}

const Profile& Runtime::adhoc_profile(double speedup) const {
    std::lock_guard<std::mutex> lock(adhoc_mutex_);
    const auto cached = adhoc_.find(speedup);
    if (cached != adhoc_.end()) return cached->second;
    // Offline-tune with the shipped profiles' reference length and min_keep (docs/METHOD.md#5-offline-tuning).
    const int reference = manifest_.profiles.empty() ? kDefaultReferenceLength
                                                     : manifest_.profiles[0].profile.reference_length;
    const int min_keep = manifest_.profiles.empty() ? 1 : manifest_.profiles[0].profile.min_keep;
    try {
        return adhoc_[speedup] = profile_for_speedup(manifest_.model.shape(), speedup, reference, min_keep);
    } catch (const ProfileError& error) {
        throw PolicyError("adjustable graph cannot run speedup " + format_g(speedup) + ": " + error.what());
    }
}

Backend& Runtime::backend_for(const Choice& choice, std::vector<float>& keep_ratios) const {
    std::string file;  // bundle path of the graph or engine
    const EngineEntry* engine = nullptr;
    if (options_.backend == "trt") {  // a prebuilt engine of the shipped profile, for this flavour and GPU
        if (choice.adjustable) {
            throw BackendError("TensorRT engines exist per shipped profile, not for the adjustable graph (speedup " +
                               format_g(choice.speedup.value_or(1.0)) + "); pass a shipped speedup or use backend \"ort\"");
        }
        engine = find_engine(manifest_, choice.profile, backend_name_, device_cc_);
        if (engine == nullptr) {
            throw EngineBuildError("bundle " + manifest_.bundle_dir.string() + " has no " + backend_name_ +
                                   " engine of profile " + py_repr(choice.profile) + " for " + device_cc_ +
                                   "; build one with `acc-export --engine trt` on this device or use backend \"ort\"");
        }
        file = engine->file;
    } else if (!choice.adjustable) {
        file = manifest_.profile(choice.profile).graph;
    } else {
        if (!manifest_.adjustable || !choice.speedup) {
            throw PolicyError("choice " + py_repr(choice.profile) +
                              " needs the adjustable graph, which this bundle lacks; pass a shipped speedup");
        }
        for (double ratio : adhoc_profile(*choice.speedup).keep_ratios) keep_ratios.push_back(static_cast<float>(ratio));
        file = manifest_.adjustable->graph;
    }
    std::lock_guard<std::mutex> lock(backends_mutex_);  // two threads asking for a new graph build it once
    std::unique_ptr<Backend>& slot = backends_[file];
    if (!slot) {  // from verified bytes, read now: a file changed since the load-time check is refused here
#ifdef ACC_WITH_TENSORRT
        if (engine != nullptr) slot = std::make_unique<TrtBackend>(manifest_, *engine);
#endif
        if (!slot) slot = std::make_unique<OrtBackend>(read_graph(manifest_, file), options_.threads);
    }
    return *slot;
}

Prediction Runtime::run(const Batch& batch, const Choice& choice) const {
    std::vector<float> ratios;
    Backend& backend = backend_for(choice, ratios);
    const auto start = std::chrono::steady_clock::now();
    Logits logits = ratios.empty() ? backend.run(batch) : backend.run(batch, &ratios, manifest_.adjustable->input);
    const double latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

    const auto num_labels = static_cast<std::int64_t>(labels().size());
    if (logits.cols != num_labels || logits.rows != batch.batch) {
        throw BundleError("graph of profile " + choice.profile + " returned logits of shape (" +
                          std::to_string(logits.rows) + ", " + std::to_string(logits.cols) + "), expected [batch, " +
                          std::to_string(num_labels) + "] for labels " + py_repr(labels()) + "; re-export the bundle");
    }
    Prediction p;
    p.num_labels = num_labels;
    p.batch_size = logits.rows;
    p.profile = choice.profile;
    p.reason = choice.reason;
    p.backend = backend_name_;
    p.latency_ms = latency_ms;
    p.logits = std::move(logits.values);
    p.probabilities.resize(p.logits.size());
    for (std::int64_t r = 0; r < p.batch_size; ++r) {
        const float* row = &p.logits[r * num_labels];
        int best = 0;
        for (int j = 1; j < num_labels; ++j) best = row[j] > row[best] ? j : best;  // first max, as np.argmax
        double total = 0.0;  // softmax in double with the max subtracted, stored as float32
        std::vector<double> exps(static_cast<std::size_t>(num_labels));
        for (int j = 0; j < num_labels; ++j) total += exps[j] = std::exp(double(row[j]) - double(row[best]));
        for (int j = 0; j < num_labels; ++j) p.probabilities[r * num_labels + j] = static_cast<float>(exps[j] / total);
        p.label_ids.push_back(best);
        p.labels.push_back(labels()[static_cast<std::size_t>(best)]);
    }
    return p;
}

}  // namespace acc
