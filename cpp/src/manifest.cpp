// manifest.json → Manifest, by the rules (and with the messages) of acc.runtime.manifest and
// acc.runtime.integrity. Checks run in the Python reader's order, so a broken bundle gets the same first error.
#include "acc/manifest.hpp"

#include <algorithm>
#include <set>

#include "acc/errors.hpp"
#include "acc/sha256.hpp"
#include "bundle_file.hpp"
#include "format.hpp"
#include "json_util.hpp"
#include "manifest_rules.hpp"

#include <sys/stat.h>

#ifndef ACC_VERSION
#define ACC_VERSION "unknown"
#endif

namespace acc {
namespace {

using detail::expect_array;
using detail::expect_object;
using detail::Json;
using detail::kReexport;
using detail::py_repr;

namespace fs = std::filesystem;

/// Python's str(Path(x)): no trailing separator, "." segments dropped.
fs::path display_path(const fs::path& path) {
    std::string text = path.lexically_normal().string();
    while (text.size() > 1 && text.back() == '/') text.pop_back();
    return text.empty() ? fs::path(".") : fs::path(text);
}

/// Parse manifest text by the shared rules: at most kMaxJsonDepth deep, no key twice in one object.
Json parse_manifest_text(const std::string& text, const std::string& where) {
    const int depth = detail::json_depth(text);
    if (depth > detail::kMaxJsonDepth) {
        throw BundleError(where + " nests " + std::to_string(depth) + " levels deep, more than the " +
                          std::to_string(detail::kMaxJsonDepth) + " allowed; " + kReexport);
    }
    std::vector<std::set<std::string>> keys;  // the keys seen in each open object
    std::string duplicate;
    const Json::parser_callback_t check = [&](int, nlohmann::json::parse_event_t event, Json& parsed) {
        using Event = nlohmann::json::parse_event_t;
        if (event == Event::object_start) keys.emplace_back();
        if (event == Event::object_end && !keys.empty()) keys.pop_back();
        if (event == Event::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second &&
            duplicate.empty()) {
            duplicate = parsed.get<std::string>();
        }
        return true;
    };
    Json data;
    try {
        data = Json::parse(text, check);
    } catch (const nlohmann::json::parse_error& error) {
        throw BundleError(where + " is not valid JSON (" + error.what() + "); " + kReexport);
    }
    if (!duplicate.empty()) {
        throw BundleError(where + " has key " + py_repr(duplicate) + " twice in one object (which one counts is "
                          "ambiguous); " + kReexport);
    }
    return data;
}

/// The model card's integers in kModelIntRanges and heads dividing the width (labels: the classifier's concern).
void check_model_card(const ModelCard& m, const std::string& where) {
    for (const detail::IntRange& range : detail::kModelIntRanges) {
        const std::string key = range.key;
        const long long value = key == "num_layers" ? m.num_layers : key == "hidden_size" ? m.hidden_size
                              : key == "num_heads" ? m.num_heads : key == "intermediate_size" ? m.intermediate_size
                              : m.max_length;
        if (value < range.low || value > range.high) {
            throw BundleError(where + "." + key + " = " + std::to_string(value) + " is outside [" +
                              std::to_string(range.low) + ", " + std::to_string(range.high) + "]; " + kReexport);
        }
    }
    if (m.hidden_size % m.num_heads != 0) {
        throw BundleError(where + ".hidden_size = " + std::to_string(m.hidden_size) + " is not a multiple of num_heads = " +
                          std::to_string(m.num_heads) + "; " + kReexport);
    }
}

Json load_manifest_json(const fs::path& root, std::string* digest) {
    const std::string fix = std::string(kReexport);
    if (!fs::exists(root)) {
        throw BundleError("bundle " + root.string() + " does not exist; pass the directory written by acc-export");
    }
    if (!fs::is_directory(root)) {
        throw BundleError("bundle " + root.string() +
                          " is not a directory; pass the bundle directory (extract a .tar bundle first)");
    }
    const fs::path path = root / kManifestName;
    if (!fs::is_regular_file(path)) {
        throw BundleError(root.string() + " is not an acc bundle (no " + kManifestName +
                          "); pass a directory written by acc-export");
    }
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) {
        throw BundleError(path.string() + " is not a regular file (a link or special file); copy the whole bundle "
                          "again or " + fix);
    }
    const std::string text = detail::read_manifest_bytes(root);  // the digest is taken on the bytes parsed
    *digest = "sha256:" + sha256_hex(text);
    Json data = parse_manifest_text(text, path.string());
    if (!data.is_object()) {
        throw BundleError(path.string() + " holds a JSON " + detail::py_type_name(data) + ", not an object; " + fix);
    }
    return data;
}

void check_format(const Json& data, const fs::path& root) {
    const auto format = data.find("format");
    if (format == data.end() || !format->is_string() || format->get<std::string>() != kBundleFormat) {
        const std::string shown = format == data.end() ? "None" : detail::py_repr_json(*format);
        throw BundleError((root / kManifestName).string() + " has format " + shown + ", expected " +
                          py_repr(std::string(kBundleFormat)) + "; pass a directory written by acc-export");
    }
    const auto version = data.find("format_version");
    if (version == data.end() || !version->is_number_integer() || version->get<long long>() < 1) {
        const std::string shown = version == data.end() ? "None" : detail::py_repr_json(*version);
        throw BundleError("bundle " + root.string() + " has an invalid format_version " + shown + "; " + kReexport);
    }
    if (version->get<long long>() > kSupportedFormatVersion) {
        std::string writer = "unknown";
        const auto versions = data.find("versions");
        if (versions != data.end() && versions->is_object()) {
            const auto acc = versions->find("acc");
            if (acc != versions->end() && !acc->is_null() && !(acc->is_string() && acc->get<std::string>().empty())) {
                writer = detail::py_str_json(*acc);
            }
        }
        throw BundleError("bundle " + root.string() + " has format_version " + std::to_string(version->get<long long>()) +
                          ", written by acc-deploy " + writer + "; this acc-deploy " + ACC_VERSION +
                          " reads format_version <= " + std::to_string(kSupportedFormatVersion) +
                          ", upgrade acc-deploy");
    }
}

/// Bundle paths are relative POSIX paths inside the bundle; anything else could read files outside it.
std::string safe_relative(const std::string& path, const std::string& where) {
    bool climbs = false;
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t end = path.find('/', start);
        if (end == std::string::npos) end = path.size();
        if (path.compare(start, end - start, "..") == 0 && end - start == 2) climbs = true;
        start = end + 1;
    }
    if (path.empty() || path[0] == '/' || climbs || path.find('\\') != std::string::npos) {
        throw BundleError(where + " names path " + py_repr(path) +
                          " outside the bundle; paths must be relative, without '..'");
    }
    return path;
}

const Json& list_or_empty(const Json& object, const std::string& key, const std::string& where) {
    static const Json kEmpty = Json::array();
    const auto found = object.find(key);
    // Python: data.get(key) or [] — missing, null, false, 0, "" and {} all read as an empty list.
    if (found == object.end() || found->is_null() || found->empty() || (found->is_boolean() && !found->get<bool>()) ||
        (found->is_number() && found->get<double>() == 0.0) || (found->is_string() && found->get<std::string>().empty())) {
        return kEmpty;
    }
    return expect_array(*found, where + " " + key);
}

Profile parse_profile(const Json& data, const std::string& where) {
    static const std::set<std::string> kKnown = {"name", "keep_ratios", "target_speedup", "theoretical_speedup",
                                                 "reference_length", "min_keep", "family", "tilt", "flops_model",
                                                 "speedup_at"};
    auto invalid = [&](const std::string& why) {
        return BundleError(where + ".profile is invalid (" + why + "); " + kReexport);
    };
    const Json& object = expect_object(data, where + ".profile");
    for (const char* key : {"name", "keep_ratios", "target_speedup", "theoretical_speedup"}) {
        if (!object.contains(key)) {
            throw invalid("not a profile JSON (missing key '" + std::string(key) +
                          "'); expected keys name, keep_ratios, target_speedup, ...");
        }
    }
    for (const auto& [key, value] : object.items()) {
        if (!kKnown.count(key)) {
            throw invalid("not a profile JSON (unexpected key '" + key +
                          "'); expected keys name, keep_ratios, target_speedup, ...");
        }
    }
    auto number = [&](const Json& value, const std::string& key) {
        if (!value.is_number()) throw invalid("not a profile JSON (" + key + " is not a number)");
        return value.get<double>();
    };
    Profile profile;
    profile.name = detail::py_str_json(object["name"]);
    if (!object["keep_ratios"].is_array()) throw invalid("not a profile JSON (keep_ratios is not a list)");
    for (const Json& ratio : object["keep_ratios"]) profile.keep_ratios.push_back(number(ratio, "keep_ratios"));
    profile.target_speedup = number(object["target_speedup"], "target_speedup");
    profile.theoretical_speedup = number(object["theoretical_speedup"], "theoretical_speedup");
    if (object.contains("reference_length")) {
        profile.reference_length = static_cast<int>(number(object["reference_length"], "reference_length"));
    }
    if (object.contains("min_keep")) profile.min_keep = static_cast<int>(number(object["min_keep"], "min_keep"));
    if (object.contains("family")) profile.family = detail::py_str_json(object["family"]);
    if (object.contains("tilt") && !object["tilt"].is_null()) profile.tilt = number(object["tilt"], "tilt");
    if (object.contains("flops_model")) profile.flops_model = detail::py_str_json(object["flops_model"]);
    try {
        profile.validate();
    } catch (const ProfileError& error) {
        throw invalid(error.what());
    }
    return profile;
}

ProfileEntry parse_profile_entry(const Json& item, const std::string& where) {
    const Json& object = expect_object(item, where);
    for (const char* key : {"name", "graph", "profile"}) {
        if (!object.contains(key)) throw BundleError(where + " lacks key " + py_repr(std::string(key)) + "; " + kReexport);
    }
    Profile profile = parse_profile(object["profile"], where);
    return {detail::py_str_json(object["name"]), safe_relative(detail::py_str_json(object["graph"]), where + ".graph"),
            std::move(profile)};
}

ModelCard parse_model(const Json& data, const std::string& where) {
    const Json& o = expect_object(data, where);
    ModelCard m;
    m.name = detail::get_str(o, "name", where);
    m.source = detail::get_str(o, "source", where);
    m.architecture = detail::get_str(o, "architecture", where);
    m.num_layers = static_cast<int>(detail::get_int(o, "num_layers", where));
    m.hidden_size = static_cast<int>(detail::get_int(o, "hidden_size", where));
    m.num_heads = static_cast<int>(detail::get_int(o, "num_heads", where));
    m.intermediate_size = static_cast<int>(detail::get_int(o, "intermediate_size", where));
    m.labels = detail::get_str_list(o, "labels", where);
    m.max_length = static_cast<int>(detail::get_int(o, "max_length", where));
    m.inputs = detail::get_str_list(o, "inputs", where);
    return m;
}

EngineEntry parse_engine(const Json& data, const std::string& where) {
    const Json& o = expect_object(data, where);
    return {detail::get_str(o, "profile", where),   detail::get_str(o, "backend", where),
            detail::get_str(o, "compute_capability", where), detail::get_str(o, "precision", where),
            safe_relative(detail::get_str(o, "file", where), where + ".file"),
            detail::get_opt_str(o, "trt_version", where)};
}

AccuracyRow parse_accuracy(const Json& data, const std::string& where) {
    const Json& o = expect_object(data, where);
    return {detail::get_str(o, "profile", where),         detail::get_str(o, "dataset", where),
            detail::get_int(o, "examples", where),        detail::get_float(o, "accuracy", where),
            detail::get_opt_float(o, "label_agreement", where), detail::get_opt_float(o, "max_abs_diff", where)};
}

LatencyRow parse_latency(const Json& data, const std::string& where) {
    const Json& o = expect_object(data, where);
    return {detail::get_str(o, "profile", where),  detail::get_str(o, "backend", where),
            detail::get_str(o, "device", where),   detail::get_int(o, "batch", where),
            detail::get_int(o, "seq", where),      detail::get_float(o, "p50_ms", where),
            detail::get_float(o, "p99_ms", where), detail::get_opt_int(o, "threads", where)};
}

/// Profile graphs, the adjustable graph, engines and the tokenizer must be listed files; names unique.
void check_references(const Manifest& m) {
    const std::string where = (m.bundle_dir / kManifestName).string();
    const std::vector<std::string> names = m.profile_names();
    if (std::set<std::string>(names.begin(), names.end()).size() != names.size()) {
        throw BundleError(where + " lists a profile name twice (" + py_repr(names) + "); " + kReexport);
    }
    if (m.profiles.empty() && !m.adjustable) {
        throw BundleError(where + " lists no profiles and no adjustable graph; " + kReexport);
    }
    for (const ProfileEntry& entry : m.profiles) {
        if (!m.files.count(entry.graph)) {
            throw BundleError("profile " + py_repr(entry.name) + " graph " + entry.graph + " is not listed in " + where +
                              " files; " + kReexport);
        }
    }
    if (m.adjustable && !m.files.count(m.adjustable->graph)) {
        throw BundleError("adjustable graph " + m.adjustable->graph + " is not listed in " + where + " files; " +
                          kReexport);
    }
    for (const EngineEntry& engine : m.engines) {
        if (!m.files.count(engine.file)) {
            throw BundleError("engine " + engine.file + " (profile " + py_repr(engine.profile) + ") is not listed in " +
                              where + " files; " + kReexport);
        }
    }
    const std::string tokenizer = m.tokenizer + "/tokenizer.json";
    if (!m.files.count(tokenizer)) {
        throw BundleError("tokenizer file " + tokenizer + " is not listed in " + where + " files (it would be read "
                          "unverified); " + kReexport);
    }
}

/// Every listed file is a regular file inside the bundle with its recorded size; with rehash also its sha256.
void check_files(const Manifest& m, const std::vector<std::string>& order, bool rehash) {
    for (const std::string& relative : order) {
        detail::check_listed_file(m.bundle_dir, relative, m.files.at(relative), rehash, false);
    }
}

}  // namespace

namespace {
Manifest parse_manifest(const std::filesystem::path& bundle_dir, bool verify);
}  // namespace

std::vector<std::string> Manifest::profile_names() const {
    std::vector<std::string> names;
    for (const ProfileEntry& entry : profiles) names.push_back(entry.name);
    return names;
}

std::string Manifest::read_file(const std::string& relative) const {
    const auto entry = files.find(relative);
    if (entry == files.end()) {
        throw BundleError("bundle " + bundle_dir.string() + " needs " + relative + ", which " + kManifestName +
                          " does not list (it would be read unverified); " + kReexport);
    }
    return detail::check_listed_file(bundle_dir, relative, entry->second, true, true);
}

const ProfileEntry& Manifest::profile(const std::string& name) const {
    for (const ProfileEntry& entry : profiles) {
        if (entry.name == name) return entry;
    }
    throw PolicyError("bundle " + bundle_dir.string() + " has no profile " + py_repr(name) + "; choose one of " +
                      py_repr(profile_names()));
}

void check_digest(const Manifest& manifest, const std::string& expected) {
    std::string wanted;
    for (const char c : expected) {
        if (c != ' ' && c != '\t' && c != '\n') wanted += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    const std::string prefix = "sha256:";
    if (wanted.rfind(prefix, 0) != 0) wanted = prefix + wanted;
    if (!detail::is_sha256_hex(wanted.substr(prefix.size()))) {
        throw BundleError("digest " + py_repr(expected) + " is not a sha256 digest; pass the 'sha256:…' line acc-export "
                          "printed");
    }
    if (wanted != manifest.digest) {
        throw BundleError("bundle " + manifest.bundle_dir.string() + " has digest " + manifest.digest + ", expected " +
                          wanted + " (a different or modified bundle); copy the bundle you meant, or pass its digest");
    }
}

Manifest read_manifest(const std::filesystem::path& bundle_dir, bool verify) {
    try {
        return parse_manifest(bundle_dir, verify);
    } catch (const nlohmann::json::exception& error) {  // every expected shape is checked; this is the backstop
        throw BundleError((display_path(bundle_dir) / kManifestName).string() + " is malformed (" + error.what() +
                          "); " + kReexport);
    }
}

namespace {

Manifest parse_manifest(const std::filesystem::path& bundle_dir, bool verify) {
    const fs::path root = display_path(bundle_dir);
    std::string digest;
    const Json data = load_manifest_json(root, &digest);
    check_format(data, root);
    const std::string where = (root / kManifestName).string();
    for (const char* key : {"versions", "model", "files", "profiles", "tables"}) {
        if (!data.contains(key)) throw BundleError(where + " lacks key " + py_repr(std::string(key)) + "; " + kReexport);
    }
    Manifest m;
    m.bundle_dir = root;
    m.digest = digest;
    std::vector<std::string> file_order;
    for (const auto& [path, entry] : expect_object(data["files"], where + " files").items()) {
        const std::string relative = safe_relative(path, where + " files");
        const std::string at = where + " files[" + py_repr(path) + "]";
        const Json& object = expect_object(entry, at);
        m.files[relative] = {detail::get_str(object, "sha256", at), detail::get_int(object, "bytes", at)};
        if (!detail::is_sha256_hex(m.files[relative].sha256)) {
            throw BundleError(at + ".sha256 = " + py_repr(m.files[relative].sha256) +
                              " is not 64 lower-case hex digits; " + kReexport);
        }
        if (m.files[relative].bytes < 0) {
            throw BundleError(at + ".bytes = " + std::to_string(m.files[relative].bytes) + " is negative; " + kReexport);
        }
        file_order.push_back(relative);
    }
    const Json& tables = expect_object(data["tables"], where + " tables");
    const Json& profiles = list_or_empty(data, "profiles", where);
    m.format_version = data["format_version"].get<int>();
    m.created_utc = data.contains("created_utc") ? detail::py_str_json(data["created_utc"]) : "";
    for (const auto& [name, version] : expect_object(data["versions"], where + " versions").items()) {
        m.versions[name] = detail::py_str_json(version);
    }
    m.model = parse_model(data["model"], where + " model");
    check_model_card(m.model, where + " model");
    const std::string tokenizer = data.contains("tokenizer") ? detail::py_str_json(data["tokenizer"]) : "tokenizer";
    m.tokenizer = safe_relative(tokenizer, where + " tokenizer");
    while (!m.tokenizer.empty() && m.tokenizer.back() == '/') m.tokenizer.pop_back();
    for (std::size_t i = 0; i < profiles.size(); ++i) {
        m.profiles.push_back(parse_profile_entry(profiles[i], where + " profiles[" + std::to_string(i) + "]"));
    }
    if (data.contains("adjustable") && !data["adjustable"].is_null()) {
        const std::string at = where + " adjustable";
        const Json& object = expect_object(data["adjustable"], at);
        m.adjustable = AdjustableEntry{safe_relative(detail::get_str(object, "graph", at), at + ".graph"),
                                       detail::get_str(object, "input", at)};
    }
    const Json& engines = list_or_empty(data, "engines", where);
    for (std::size_t i = 0; i < engines.size(); ++i) {
        m.engines.push_back(parse_engine(engines[i], where + " engines[" + std::to_string(i) + "]"));
    }
    const Json& accuracy = list_or_empty(tables, "accuracy", where);
    for (std::size_t i = 0; i < accuracy.size(); ++i) {
        m.tables.accuracy.push_back(parse_accuracy(accuracy[i], where + " tables.accuracy[" + std::to_string(i) + "]"));
    }
    const Json& latency = list_or_empty(tables, "latency", where);
    for (std::size_t i = 0; i < latency.size(); ++i) {
        m.tables.latency.push_back(parse_latency(latency[i], where + " tables.latency[" + std::to_string(i) + "]"));
    }
    if (data.contains("validation") && !data["validation"].is_null() && !data["validation"].empty()) {
        expect_object(data["validation"], where + " validation");
    }
    m.allow_mismatch = data.contains("allow_mismatch") && data["allow_mismatch"].is_boolean() &&
                       data["allow_mismatch"].get<bool>();
    check_references(m);
    check_files(m, file_order, verify);
    return m;
}

}  // namespace

}  // namespace acc
