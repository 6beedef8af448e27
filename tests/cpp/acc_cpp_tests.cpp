// The C++ runtime checked against the Python runtime: every case's expected value was computed by Python
// (reference.py) and is compared here — tokenizer ids, policy choices with their reasons, offline-tuned keep
// ratios, error types and messages, and predictions on SST-2 dev (same labels, logits within 1e-4).
//
//   acc_cpp_tests sha256 | {tokenizer,policy,profiles,errors,engines,predict} REFERENCE_DIR
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "acc/engine.hpp"
#include "acc/errors.hpp"
#include "acc/manifest.hpp"
#include "acc/policy.hpp"
#include "acc/profile.hpp"
#include "acc/runtime.hpp"
#include "acc/sha256.hpp"
#include "acc/tokenizer.hpp"

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr double kLogitTolerance = 1e-4;
constexpr int kShownFailures = 15;

/// Counts cases and failures; prints the first failures in full and a summary line.
struct Checker {
    std::string name;
    int cases = 0;
    int failures = 0;

    void fail(const std::string& what) {
        if (++failures <= kShownFailures) std::cerr << "FAIL " << name << ": " << what << "\n";
    }
    bool expect(bool ok, const std::function<std::string()>& what) {
        if (!ok) fail(what());
        return ok;
    }
    int finish() const {
        std::cout << name << ": " << cases << " cases, " << failures << " failures\n";
        if (cases == 0) std::cerr << "FAIL " << name << ": no cases ran (empty reference data?)\n";
        return failures == 0 && cases > 0 ? 0 : 1;
    }
};

Json load(const fs::path& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path.string() + "; run the `reference` test first");
    return Json::parse(in);
}

/// Python writes NaN / inf as the strings "nan" / "inf" (JSON has no such numbers).
double number(const Json& value) {
    if (value.is_string()) {
        const std::string text = value.get<std::string>();
        if (text == "nan") return std::nan("");
        return text[0] == '-' ? -INFINITY : INFINITY;
    }
    return value.get<double>();
}

std::optional<double> optional_number(const Json& object, const char* key) {
    if (!object.contains(key) || object[key].is_null()) return std::nullopt;
    return number(object[key]);
}

acc::Request request_of(const Json& r) {
    acc::Request request;
    request.speedup = optional_number(r, "speedup");
    request.latency_budget_ms = optional_number(r, "latency_budget_ms");
    request.min_accuracy = optional_number(r, "min_accuracy");
    request.best_effort = r.value("best_effort", false);
    if (r.contains("dataset")) request.dataset = r["dataset"].get<std::string>();
    return request;
}

std::string type_name(const std::exception& error) {
    if (dynamic_cast<const acc::BundleError*>(&error)) return "BundleError";
    if (dynamic_cast<const acc::PolicyError*>(&error)) return "PolicyError";
    if (dynamic_cast<const acc::DataError*>(&error)) return "DataError";
    if (dynamic_cast<const acc::BackendError*>(&error)) return "BackendError";
    if (dynamic_cast<const acc::ProfileError*>(&error)) return "ProfileError";
    if (dynamic_cast<const acc::EngineMismatchError*>(&error)) return "EngineMismatchError";
    if (dynamic_cast<const acc::EngineBuildError*>(&error)) return "EngineBuildError";
    return "std::exception";
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : " ") + item;
    return out;
}

std::string ids_text(const std::vector<std::int64_t>& ids) {
    std::string out;
    for (auto id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
    return out;
}

bool same_optional(const std::optional<double>& got, const Json& expected, double rel = 0.0) {
    if (expected.is_null()) return !got.has_value();
    if (!got) return false;
    const double want = expected.get<double>();
    return *got == want || std::abs(*got - want) <= rel * std::abs(want);
}

/// Checks `call` throws an AccError of type `type` whose message passes `matches`.
void expect_error(Checker& check, const std::string& label, const std::string& type,
                  const std::function<bool(const std::string&)>& matches, const std::string& expected,
                  const std::function<void()>& call) {
    ++check.cases;
    try {
        call();
        check.fail(label + ": no error, expected " + type + ": " + expected);
    } catch (const acc::AccError& error) {
        check.expect(type_name(error) == type && matches(error.what()), [&] {
            return label + ":\n  got      " + type_name(error) + ": " + error.what() + "\n  expected " + type + ": " +
                   expected;
        });
    }
}

void expect_error(Checker& check, const std::string& label, const std::string& type, const std::string& message,
                  const std::function<void()>& call) {
    expect_error(check, label, type, [&](const std::string& got) { return got == message; }, message, call);
}

// -------------------------------------------------------------------------------------------------------- cases

int test_sha256() {
    Checker check{"sha256"};
    const std::vector<std::pair<std::string, std::string>> vectors = {  // FIPS 180-4 / NIST examples
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {std::string(1000000, 'a'), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    };
    for (const auto& [input, digest] : vectors) {
        ++check.cases;
        check.expect(acc::sha256_hex(input) == digest, [&] { return "sha256 of " + std::to_string(input.size()) + " bytes"; });
        acc::Sha256 pieces;  // the same bytes fed in uneven pieces
        for (std::size_t at = 0, step = 1; at < input.size(); at += step, step = step * 3 % 127 + 1) {
            pieces.update(input.substr(at, step));
        }
        ++check.cases;
        check.expect(pieces.hex() == digest, [&] { return "incremental sha256 of " + std::to_string(input.size()); });
    }
    return check.finish();
}

int test_tokenizer(const fs::path& dir) {
    Checker check{"tokenizer"};
    const Json data = load(dir / "tokens.json");
    const auto tokenizer = acc::WordPieceTokenizer::from_file(data["tokenizer"].get<std::string>());
    const auto truncate_at = data["truncate_at"].get<std::size_t>();
    for (const Json& item : data["cases"]) {
        const std::string text = item["text"].get<std::string>();
        const auto expected = item["ids"].get<std::vector<std::int64_t>>();
        const auto got = tokenizer.encode(text);
        ++check.cases;
        check.expect(got == expected, [&] {
            return "text '" + text + "'\n  got      " + ids_text(got) + "  (" + join(tokenizer.tokenize(text)) +
                   ")\n  expected " + ids_text(expected) + "  (" + join(item["tokens"].get<std::vector<std::string>>()) + ")";
        });
        const auto cut = tokenizer.encode(text, truncate_at);
        ++check.cases;
        check.expect(cut == item["truncated"].get<std::vector<std::int64_t>>(),
                     [&] { return "truncated to " + std::to_string(truncate_at) + ": '" + text + "' -> " + ids_text(cut); });
    }
    expect_error(check, "invalid UTF-8", "DataError", "text is not valid UTF-8 (byte 3); pass UTF-8 encoded text",
                 [&] { tokenizer.encode("bad\xff"); });
    expect_error(check, "truncation shorter than the specials", "DataError",
                 "max_length 1 leaves no room for the 2 special tokens; pass max_length >= 2",
                 [&] { tokenizer.encode("fine", 1); });
    return check.finish();
}

int test_policy(const fs::path& dir) {
    Checker check{"policy"};
    const Json data = load(dir / "policy.json");
    std::map<std::string, acc::Manifest> manifests;
    for (const auto& [name, path] : data["bundles"].items()) manifests[name] = acc::read_manifest(path.get<std::string>());
    for (const Json& item : data["cases"]) {
        const acc::Manifest& manifest = manifests.at(item["bundle"].get<std::string>());
        const acc::Request request = request_of(item["request"]);
        const auto batch = item["batch"].get<std::int64_t>(), seq = item["seq"].get<std::int64_t>();
        const auto backend = item["backend"].get<std::string>();
        const std::optional<std::string> device =
            item["device"].is_null() ? std::nullopt : std::optional<std::string>(item["device"].get<std::string>());
        const Json& expect = item["expect"];
        const std::string label = item["bundle"].get<std::string>() + " " + item["request"].dump() + " at (" +
                                  std::to_string(batch) + ", " + std::to_string(seq) + ") on " + backend + "/" +
                                  device.value_or("None");
        if (expect.contains("error")) {
            expect_error(check, label, expect["error"].get<std::string>(), expect["message"].get<std::string>(),
                         [&] { acc::choose_profile(manifest, request, batch, seq, backend, device); });
            continue;
        }
        ++check.cases;
        try {
            const acc::Choice c = acc::choose_profile(manifest, request, batch, seq, backend, device);
            check.expect(c.profile == expect["profile"] && c.reason == expect["reason"] &&
                             c.adjustable == expect["adjustable"].get<bool>() && same_optional(c.speedup, expect["speedup"]) &&
                             same_optional(c.p99_ms, expect["p99_ms"], 1e-12) &&
                             same_optional(c.accuracy, expect["accuracy"]),
                         [&] { return label + ":\n  got      " + c.profile + " (" + c.reason + ")\n  expected " +
                                      expect.dump(); });
        } catch (const acc::AccError& error) {
            check.fail(label + ": unexpected " + type_name(error) + ": " + error.what());
        }
    }
    return check.finish();
}

int test_profiles(const fs::path& dir) {
    Checker check{"profiles"};
    const Json data = load(dir / "profiles.json");
    for (const Json& item : data["cases"]) {
        const auto s = item["shape"].get<std::vector<int>>();
        const acc::EncoderShape shape{s[0], s[1], s[2], s[3], s[4], s[5] != 0};
        const double speedup = item["speedup"].get<double>();
        const int reference = item["reference_length"].get<int>(), min_keep = item["min_keep"].get<int>();
        const Json& expect = item["expect"];
        const std::string label = "shape " + item["shape"].dump() + " speedup " + std::to_string(speedup) + " at " +
                                  std::to_string(reference) + " min_keep " + std::to_string(min_keep);
        if (expect.contains("error")) {
            expect_error(check, label, expect["error"].get<std::string>(), expect["message"].get<std::string>(),
                         [&] { acc::profile_for_speedup(shape, speedup, reference, min_keep); });
            continue;
        }
        ++check.cases;
        const acc::Profile p = acc::profile_for_speedup(shape, speedup, reference, min_keep);
        check.expect(p.name == expect["name"] && p.keep_ratios == expect["keep_ratios"].get<std::vector<double>>() &&
                         same_optional(p.tilt, expect["tilt"]) &&
                         acc::keep_counts(p.keep_ratios, 37, min_keep) == expect["keep_counts_at_37"].get<std::vector<int>>(),
                     [&] { return label + ": ratios differ from Python's " + expect["keep_ratios"].dump(); });
    }
    return check.finish();
}

int test_errors(const fs::path& dir) {
    Checker check{"errors"};
    const std::string reexport = "; re-export the bundle with acc-export";
    const Json data = load(dir / "errors.json");
    for (const Json& item : data["cases"]) {
        const std::string name = item["name"].get<std::string>();
        const fs::path bundle = item["bundle"].get<std::string>();
        const std::string type = item["error"].get<std::string>();
        std::string message = item["message"].get<std::string>();
        if (!item.contains("inputs")) {
            if (name == "not_json") {  // the parser's own words differ; the rest of the line must not
                const std::string head = message.substr(0, message.find("(") + 1);
                expect_error(check, name, type, [&](const std::string& got) {
                    return got.rfind(head, 0) == 0 && got.size() > reexport.size() &&
                           got.compare(got.size() - reexport.size(), reexport.size(), reexport) == 0;
                }, message, [&] { acc::read_manifest(bundle); });
            } else {
                expect_error(check, name, type, message, [&] { acc::read_manifest(bundle); });
            }
            continue;
        }
        const acc::Runtime runtime(bundle);
        const Json& r = item["request"];
        const bool truncate = r.value("truncate", true);
        const acc::Request request = request_of(r);
        auto call = [&] {
            if (item["inputs"][0].is_string()) {
                runtime.predict(item["inputs"].get<std::vector<std::string>>(), request, truncate);
            } else {
                runtime.predict(runtime.encode_ids(item["inputs"].get<std::vector<std::vector<std::int64_t>>>(), truncate),
                                request);
            }
        };
        // Both runtimes give ONNX Runtime the same bytes, so its message is the same, but for the Python binding's
        // error-code prefix.
        const std::string binding_prefix = "[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : ";
        if (name == "placeholder_graph" && message.find(binding_prefix) != std::string::npos) {
            message.erase(message.find(binding_prefix), binding_prefix.size());
        }
        expect_error(check, name, type, message, call);
    }
    // C++-only failures: each names the problem and the fix.
    const fs::path full = dir / "bundles" / "full";
    const acc::Runtime runtime(full);
    auto contains = [](const std::string& part) { return [part](const std::string& got) { return got.find(part) != std::string::npos; }; };
    expect_error(check, "invalid UTF-8 text", "DataError", "text 0: text is not valid UTF-8 (byte 1); pass UTF-8 encoded text",
                 [&] { runtime.predict(std::vector<std::string>{"a\xc3"}); });
    using Rows = std::vector<std::vector<std::int64_t>>;
    expect_error(check, "ids and mask rows differ", "DataError", contains("pass one mask row per ids row"), "one mask row",
                 [&] { runtime.predict(Rows{{101, 102}}, Rows{}); });
    expect_error(check, "ragged ids", "DataError", contains("pad every row (and its mask) to the same length"), "pad",
                 [&] { runtime.predict(Rows{{101, 7, 102}, {101, 102}}, Rows{{1, 1, 1}, {1, 1}}); });
    expect_error(check, "mask not 0/1", "DataError", contains("the mask is 1 on real tokens and 0 on padding"), "mask",
                 [&] { runtime.predict(Rows{{101, 102}}, Rows{{1, 2}}); });
    expect_error(check, "unknown backend", "BackendError", "unknown backend 'cuda'; pass one of 'auto', 'ort', 'trt'",
                 [&] { acc::Runtime(full, {.backend = "cuda"}); });
#ifndef ACC_WITH_TENSORRT
    expect_error(check, "trt without TensorRT", "BackendError", contains("needs a build with TensorRT"), "TensorRT",
                 [&] { acc::Runtime(full, {.backend = "trt"}); });
#endif
    expect_error(check, "threads 0", "BackendError", contains("threads must be >= 1, got 0"), "threads",
                 [&] { acc::Runtime(full, {.threads = 0}); });
    expect_error(check, "unknown profile", "PolicyError",
                 "bundle " + full.string() + " has no profile 'x'; choose one of ['dense', 's1.5', 's3']",
                 [&] { runtime.manifest().profile("x"); });
    const fs::path bpe = dir / "bpe-tokenizer.json";  // a tokenizer the C++ side does not implement
    {
        std::ifstream in(full / "tokenizer" / "tokenizer.json");
        Json tokenizer = Json::parse(in);
        tokenizer["model"]["type"] = "BPE";
        std::ofstream(bpe) << tokenizer.dump();
    }
    expect_error(check, "BPE tokenizer", "BundleError",
                 "tokenizer " + bpe.string() + " uses model BPE; the C++ tokenizer reads BERT WordPiece tokenizers only; "
                 "pass token ids instead",
                 [&] { acc::WordPieceTokenizer::from_file(bpe); });
    fs::remove(bpe);
    return check.finish();
}

int test_engines(const fs::path& dir) {
    Checker check{"engines"};
    const Json data = load(dir / "engines.json");
    for (const Json& item : data["parse_cc"]) {
        const std::string text = item["text"].get<std::string>();
        if (item.contains("error")) {
            expect_error(check, "parse_cc " + text, item["error"].get<std::string>(), item["message"].get<std::string>(),
                         [&] { acc::parse_cc(text); });
        } else {
            ++check.cases;
            check.expect(acc::parse_cc(text) == item["cc"], [&] { return "parse_cc " + text + " -> " + acc::parse_cc(text); });
        }
    }
    for (const Json& item : data["checks"]) {
        const Json& r = item["record"];
        const acc::EngineEntry record{r["profile"], r["backend"], r["compute_capability"], r["precision"], r["file"],
                                      r["trt_version"].is_null() ? std::nullopt
                                                                 : std::optional<std::string>(r["trt_version"].get<std::string>())};
        const auto backend = item["backend"].get<std::string>(), version = item["trt_version"].get<std::string>(),
                   cc = item["device_cc"].get<std::string>();
        auto call = [&] { acc::check_engine_compatible(record, backend, version, cc); };
        const std::string label = r.dump() + " on " + backend + " " + version + " " + cc;
        if (item.contains("error")) {
            expect_error(check, label, item["error"].get<std::string>(), item["message"].get<std::string>(), call);
            continue;
        }
        ++check.cases;
        try {
            call();
        } catch (const acc::AccError& error) {
            check.fail(label + ": unexpected " + error.what());
        }
    }
    return check.finish();
}

float max_abs_diff(const std::vector<float>& got, const Json& expected_rows, std::size_t first_row) {
    float worst = 0.0f;
    const std::size_t cols = expected_rows[0].size();
    for (std::size_t i = 0; i < got.size(); ++i) {
        const float want = expected_rows[first_row + i / cols][i % cols].get<float>();
        worst = std::max(worst, std::abs(got[i] - want));
    }
    return worst;
}

int test_predict(const fs::path& dir) {
    Checker check{"predict"};
    const Json data = load(dir / "predict.json");
    const acc::Runtime runtime(data["bundle"].get<std::string>());
    const auto all_texts = data["texts"].get<std::vector<std::string>>();
    const auto batch_size = data["batch_size"].get<std::size_t>();
    for (const Json& result : data["results"]) {
        const std::vector<std::string> texts(all_texts.begin(), all_texts.begin() + result["texts"].get<std::ptrdiff_t>());
        const acc::Request request = request_of(result["request"]);
        const auto labels = result["labels"].get<std::vector<std::string>>();
        float worst = 0.0f;
        int label_mismatches = 0;
        double graph_ms = 0.0;
        std::string profile, reason;
        for (std::size_t start = 0; start < texts.size(); start += batch_size) {
            const std::vector<std::string> chunk(texts.begin() + static_cast<std::ptrdiff_t>(start),
                                                 texts.begin() + static_cast<std::ptrdiff_t>(std::min(start + batch_size, texts.size())));
            const acc::Prediction p = runtime.predict(chunk, request);
            worst = std::max(worst, max_abs_diff(p.logits, result["logits"], start));
            for (std::size_t i = 0; i < chunk.size(); ++i) label_mismatches += p.labels[i] != labels[start + i];
            graph_ms += p.latency_ms;
            profile = p.profile;
            reason = p.reason;
        }
        const std::string label = "request " + result["request"].dump();
        ++check.cases;
        check.expect(profile == result["profile"] && reason == result["reason"], [&] {
            return label + ": profile " + profile + " (" + reason + "), Python chose " + result["profile"].dump() + " (" +
                   result["reason"].get<std::string>() + ")";
        });
        ++check.cases;
        check.expect(label_mismatches == 0 && worst <= kLogitTolerance, [&] {
            return label + ": " + std::to_string(label_mismatches) + " labels differ, max |logit diff| " +
                   std::to_string(worst) + " (tolerance 1e-4)";
        });
        if (!result["keep_ratios"].is_null()) {  // the adjustable graph ran with the ratios Python offline-tuned
            const acc::Manifest& m = runtime.manifest();
            const acc::Profile p = acc::profile_for_speedup(m.model.shape(), *request.speedup,
                                                            m.profiles.at(0).profile.reference_length,
                                                            m.profiles.at(0).profile.min_keep);
            ++check.cases;
            check.expect(p.keep_ratios == result["keep_ratios"].get<std::vector<double>>(),
                         [&] { return label + ": keep ratios differ from Python's " + result["keep_ratios"].dump(); });
        }
        std::printf("  %-28s profile %-6s %zu texts, %zu labels equal, max |logit diff| %.2e, graph time %.1f ms\n",
                    result["request"].dump().c_str(), profile.c_str(), texts.size(), texts.size() - label_mismatches,
                    worst, graph_ms);
    }
    const Json& ids = data["ids_case"];  // token ids in, the rt.predict(ids, mask, {.speedup = ...})
    const auto input_ids = ids["input_ids"].get<std::vector<std::vector<std::int64_t>>>();
    const auto mask = ids["attention_mask"].get<std::vector<std::vector<std::int64_t>>>();
    const acc::Prediction p = runtime.predict(input_ids, mask, {.speedup = number(ids["request"]["speedup"])});
    const float worst = max_abs_diff(p.logits, ids["logits"], 0);
    ++check.cases;
    check.expect(p.profile == ids["profile"] && p.labels == ids["labels"].get<std::vector<std::string>>() &&
                     worst <= kLogitTolerance,
                 [&] { return "token-id request: profile " + p.profile + ", max |logit diff| " + std::to_string(worst); });
    return check.finish();
}

}  // namespace

/// `acc_cpp_tests load BUNDLE [DIGEST]`: read (and verify) a bundle's manifest like Runtime does; prints
/// "ok <digest>" or "error: <one line>" (exit 3). test_cpp.py runs the shared manifest rule cases through it.
int load_bundle(int argc, char** argv) {
    try {
        const acc::Manifest manifest = acc::read_manifest(argv[2], true);
        if (argc > 3) acc::check_digest(manifest, argv[3]);
        std::cout << "ok " << manifest.digest << "\n";
        return 0;
    } catch (const acc::AccError& error) {
        std::cout << "error: " << error.what() << "\n";
        return 3;
    }
}

/// `serve BUNDLE [RELATIVE REPLACEMENT]`: load the bundle (every file checked), then, when given, rename REPLACEMENT
/// over the bundle's RELATIVE (a file swapped after the check), then classify one text on every shipped profile and
/// on the adjustable graph, whose sessions are made only now. One line per graph, "<profile> <label>", or one
/// "error: <message>" line and exit 3.
int serve_bundle(int argc, char** argv) {
    try {
        const acc::Runtime runtime(argv[2]);
        if (argc > 4) fs::rename(argv[4], runtime.manifest().path(argv[3]));
        std::vector<double> speedups;
        for (const acc::ProfileEntry& entry : runtime.manifest().profiles) speedups.push_back(entry.target_speedup());
        if (runtime.manifest().adjustable) speedups.push_back(1.25);  // no shipped profile has it: the adjustable graph
        for (const double speedup : speedups) {
            const acc::Prediction p = runtime.predict({"a gorgeous, witty, seductive movie ."}, {.speedup = speedup});
            std::cout << p.profile << " " << p.labels[0] << "\n";
        }
        return 0;
    } catch (const acc::AccError& error) {
        std::cout << "error: " << error.what() << "\n";
        return 3;
    }
}

int main(int argc, char** argv) {
    if (argc >= 3 && std::string(argv[1]) == "load") return load_bundle(argc, argv);
    if ((argc == 3 || argc == 5) && std::string(argv[1]) == "serve") return serve_bundle(argc, argv);
    const std::map<std::string, std::function<int(const fs::path&)>> tests = {
        {"sha256", [](const fs::path&) { return test_sha256(); }},
        {"tokenizer", test_tokenizer},
        {"policy", test_policy},
        {"profiles", test_profiles},
        {"errors", test_errors},
        {"engines", test_engines},
        {"predict", test_predict},
    };
    if (argc < 2 || !tests.count(argv[1]) || (std::string(argv[1]) != "sha256" && argc < 3)) {
        std::cerr << "usage: acc_cpp_tests sha256 | {tokenizer,policy,profiles,errors,engines,predict} REFERENCE_DIR"
                     " | load BUNDLE [DIGEST] | serve BUNDLE [RELATIVE REPLACEMENT]\n";
        return 2;
    }
    try {
        return tests.at(argv[1])(argc > 2 ? fs::path(argv[2]) : fs::path());
    } catch (const std::exception& error) {
        std::cerr << "FAIL " << argv[1] << ": " << error.what() << "\n";
        return 1;
    }
}
