// Strict readers of JSON fields (include/iommuprof/json_read.hpp).
#include "iommuprof/json_read.hpp"

#include <cmath>
#include <limits>

#include <fmt/core.h>

namespace iommuprof {

using nlohmann::json;

namespace json_detail {
namespace {
const char *type_name(const json &j)
{
    if (j.is_number_integer())
        return j.is_number_unsigned() || j.get<int64_t>() >= 0 ? "unsigned integer" : "negative integer";
    if (j.is_number_float())
        return "number with a fraction";
    return j.type_name();
}

std::string join_path(const std::string &prefix, const std::string &path)
{
    if (prefix.empty())
        return path;
    if (path.empty())
        return prefix;
    if (path[0] == '[')
        return prefix + path;
    return prefix + "." + path;
}
}  // namespace

// Parsed non-negative literals are number_unsigned; values built in code
// (json j = 3) are number_integer.
bool is_u64(const json &j)
{
    return j.is_number_unsigned() || (j.is_number_integer() && j.get<int64_t>() >= 0);
}

[[noreturn]] void fail(const std::string &path, const std::string &what) { throw JsonError(path, what); }

[[noreturn]] void rethrow_with_prefix(const std::string &prefix)
{
    try {
        throw;
    } catch (const JsonError &e) {
        throw JsonError(join_path(prefix, e.path), e.problem);
    } catch (const json::exception &e) {
        throw JsonError(prefix, e.what());
    } catch (const Error &e) {
        throw JsonError(prefix, e.what());
    } catch (const std::bad_alloc &) {
        throw;
    } catch (const std::exception &e) {
        throw JsonError(prefix, e.what());
    }
}

const json &field(const json &obj, const char *key)
{
    if (!obj.is_object())
        fail("", fmt::format("expected an object, got {}", type_name(obj)));
    auto it = obj.find(key);
    if (it == obj.end())
        fail(key, "missing");
    return *it;
}

uint64_t get_u64(const json &obj, const char *key)
{
    const json &v = field(obj, key);
    if (!is_u64(v))
        fail(key, fmt::format("expected an unsigned integer, got {}", type_name(v)));
    return v.get<uint64_t>();
}

int64_t get_i64(const json &obj, const char *key)
{
    const json &v = field(obj, key);
    if (v.is_number_unsigned()) {
        uint64_t u = v.get<uint64_t>();
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            fail(key, "integer out of range");
        return static_cast<int64_t>(u);
    }
    if (!v.is_number_integer())
        fail(key, fmt::format("expected an integer, got {}", type_name(v)));
    return v.get<int64_t>();
}

double get_double(const json &obj, const char *key)
{
    const json &v = field(obj, key);
    if (!v.is_number())
        fail(key, fmt::format("expected a number, got {}", type_name(v)));
    double d = v.get<double>();
    if (!std::isfinite(d))
        fail(key, "expected a finite number");
    return d;
}

bool get_bool(const json &obj, const char *key)
{
    const json &v = field(obj, key);
    if (!v.is_boolean())
        fail(key, fmt::format("expected true or false, got {}", type_name(v)));
    return v.get<bool>();
}

std::string get_string(const json &obj, const char *key)
{
    const json &v = field(obj, key);
    if (!v.is_string())
        fail(key, fmt::format("expected a string, got {}", type_name(v)));
    return v.get<std::string>();
}

const json &get_array(const json &obj, const char *key)
{
    const json &v = field(obj, key);
    if (!v.is_array())
        fail(key, fmt::format("expected an array, got {}", type_name(v)));
    return v;
}

const json &get_object(const json &obj, const char *key)
{
    const json &v = field(obj, key);
    if (!v.is_object())
        fail(key, fmt::format("expected an object, got {}", type_name(v)));
    return v;
}
}  // namespace json_detail

}  // namespace iommuprof
