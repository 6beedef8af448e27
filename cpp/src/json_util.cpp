#include "json_util.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "acc/errors.hpp"
#include "format.hpp"

namespace acc::detail {
namespace {

[[noreturn]] void wrong_type(const Json& value, const std::string& key, const std::string& where,
                             const std::string& kind) {
    throw BundleError(where + "." + key + " = " + py_repr_json(value) + " is not of type " + kind + "; " + kReexport);
}

const Json& required(const Json& object, const std::string& key, const std::string& where) {
    auto found = object.find(key);
    if (found == object.end()) throw BundleError(where + " lacks key " + py_repr(key) + "; " + kReexport);
    return *found;
}

bool is_scalar(const Json& value) { return value.is_number() || value.is_string() || value.is_null(); }

std::string trimmed(const std::string& text) {
    const auto first = text.find_first_not_of(" \t\n\r\f\v");
    if (first == std::string::npos) return "";
    return text.substr(first, text.find_last_not_of(" \t\n\r\f\v") - first + 1);
}

}  // namespace

std::string py_type_name(const Json& value) {
    switch (value.type()) {
        case Json::value_t::object: return "dict";
        case Json::value_t::array: return "list";
        case Json::value_t::string: return "str";
        case Json::value_t::boolean: return "bool";
        case Json::value_t::number_float: return "float";
        case Json::value_t::null: return "NoneType";
        default: return "int";
    }
}

std::string py_str_json(const Json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_number_float()) return py_repr(value.get<double>());
    if (value.is_null()) return "None";
    if (value.is_boolean()) return value.get<bool>() ? "True" : "False";
    return value.dump();
}

std::string py_repr_json(const Json& value) {
    if (value.is_string()) return py_repr(value.get<std::string>());
    if (value.is_array()) {
        std::string out = "[";
        for (std::size_t i = 0; i < value.size(); ++i) out += (i ? ", " : "") + py_repr_json(value[i]);
        return out + "]";
    }
    if (value.is_object()) {
        std::string out = "{";
        bool first = true;
        for (const auto& [key, item] : value.items()) {
            out += (first ? "" : ", ") + py_repr(key) + ": " + py_repr_json(item);
            first = false;
        }
        return out + "}";
    }
    return py_str_json(value);
}

std::string read_file(const std::filesystem::path& path, const std::string& fix) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw BundleError("cannot read " + path.string() + " ([Errno " + std::to_string(errno) + "] " +
                          std::strerror(errno) + "); check its permissions or " + fix);
    }
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

const Json& expect_object(const Json& value, const std::string& where) {
    if (!value.is_object()) {
        throw BundleError(where + " is a " + py_type_name(value) + ", expected a JSON dict; " + kReexport);
    }
    return value;
}

const Json& expect_array(const Json& value, const std::string& where) {
    if (!value.is_array()) {
        throw BundleError(where + " is a " + py_type_name(value) + ", expected a JSON list; " + kReexport);
    }
    return value;
}

std::string get_str(const Json& object, const std::string& key, const std::string& where) {
    const Json& value = required(object, key, where);
    if (!is_scalar(value)) wrong_type(value, key, where, "str");
    return py_str_json(value);
}

long long get_int(const Json& object, const std::string& key, const std::string& where) {
    const Json& value = required(object, key, where);
    if (value.is_number_integer()) return value.get<long long>();
    if (value.is_number_float()) return static_cast<long long>(value.get<double>());  // Python int() truncates
    if (value.is_string()) {
        const std::string text = trimmed(value.get<std::string>());
        char* end = nullptr;
        errno = 0;
        const long long parsed = std::strtoll(text.c_str(), &end, 10);
        if (!text.empty() && *end == '\0' && errno == 0) return parsed;
    }
    wrong_type(value, key, where, "int");
}

double get_float(const Json& object, const std::string& key, const std::string& where) {
    const Json& value = required(object, key, where);
    if (value.is_number()) return value.get<double>();
    if (value.is_string()) {
        const std::string text = trimmed(value.get<std::string>());
        char* end = nullptr;
        const double parsed = std::strtod(text.c_str(), &end);
        if (!text.empty() && *end == '\0') return parsed;
    }
    wrong_type(value, key, where, "float");
}

std::vector<std::string> get_str_list(const Json& object, const std::string& key, const std::string& where) {
    const Json& value = required(object, key, where);
    if (!value.is_array()) {
        throw BundleError(where + "." + key + " is a " + py_type_name(value) + ", expected a JSON list; " + kReexport);
    }
    std::vector<std::string> out;
    for (const Json& item : value) out.push_back(item.is_string() ? item.get<std::string>() : py_repr_json(item));
    return out;
}

std::optional<std::string> get_opt_str(const Json& object, const std::string& key, const std::string& where) {
    auto found = object.find(key);
    if (found == object.end() || found->is_null()) return std::nullopt;
    return get_str(object, key, where);
}

std::optional<long long> get_opt_int(const Json& object, const std::string& key, const std::string& where) {
    auto found = object.find(key);
    if (found == object.end() || found->is_null()) return std::nullopt;
    return get_int(object, key, where);
}

std::optional<double> get_opt_float(const Json& object, const std::string& key, const std::string& where) {
    auto found = object.find(key);
    if (found == object.end() || found->is_null()) return std::nullopt;
    return get_float(object, key, where);
}

}  // namespace acc::detail
