// Reading JSON the way acc.runtime.manifest does: required keys, scalars coerced as Python's int()/float()/str()
// would, and every failure a BundleError that names where in the file it happened. Internal to the library.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace acc::detail {

using Json = nlohmann::ordered_json;  // keeps the file's key order, as Python's dict does

inline constexpr const char* kReexport = "re-export the bundle with acc-export";

/// Python's type(value).__name__ for a JSON value: dict, list, str, int, float, bool, NoneType.
std::string py_type_name(const Json& value);
/// Python's repr() of a JSON value (strings quoted, null as None, true as True).
std::string py_repr_json(const Json& value);
/// Python's str() of a JSON scalar.
std::string py_str_json(const Json& value);

/// The bytes of a file; BundleError naming the file and `fix` when it cannot be read.
std::string read_file(const std::filesystem::path& path, const std::string& fix);

/// The object / array `value`, or BundleError "<where> is a <type>, expected a JSON dict|list; <reexport>".
const Json& expect_object(const Json& value, const std::string& where);
const Json& expect_array(const Json& value, const std::string& where);

/// One field of a record: object[key] coerced to the kind; `where` is the record's location.
/// Missing key: BundleError "<where> lacks key '<key>'"; wrong type: "<where>.<key> = <repr> is not of type <kind>".
std::string get_str(const Json& object, const std::string& key, const std::string& where);
long long get_int(const Json& object, const std::string& key, const std::string& where);
double get_float(const Json& object, const std::string& key, const std::string& where);
std::vector<std::string> get_str_list(const Json& object, const std::string& key, const std::string& where);
std::optional<std::string> get_opt_str(const Json& object, const std::string& key, const std::string& where);
std::optional<long long> get_opt_int(const Json& object, const std::string& key, const std::string& where);
std::optional<double> get_opt_float(const Json& object, const std::string& key, const std::string& where);

}  // namespace acc::detail
