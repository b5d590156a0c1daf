// Strict readers of JSON fields, shared by every from_json (the data model in
// json.hpp, host facts, profile files, check baselines): a missing field or one
// of the wrong type throws JsonError naming its path.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "iommuprof/error.hpp"

namespace iommuprof {

// What from_json throws: an Error(kExitUsage) whose message is
// "<path>: <problem>"; path and problem are also kept apart.
struct JsonError : Error {
    std::string path;
    std::string problem;
    JsonError(const std::string &path_, const std::string &problem_)
        : Error(kExitUsage, (path_.empty() ? std::string("(top level)") : path_) + ": " + problem_),
          path(path_), problem(problem_) {}
};

namespace json_detail {
// Strict field readers shared with other from_json implementations (profile,
// host facts). `key` is used in the error message.
const nlohmann::json &field(const nlohmann::json &obj, const char *key);
uint64_t get_u64(const nlohmann::json &obj, const char *key);
int64_t get_i64(const nlohmann::json &obj, const char *key);
double get_double(const nlohmann::json &obj, const char *key);
bool get_bool(const nlohmann::json &obj, const char *key);
std::string get_string(const nlohmann::json &obj, const char *key);
const nlohmann::json &get_array(const nlohmann::json &obj, const char *key);
const nlohmann::json &get_object(const nlohmann::json &obj, const char *key);
// Runs f(); a JsonError thrown inside gets `prefix` prepended to its path
// ("cells[3]" + "hist.buckets" -> "cells[3].hist.buckets"); nlohmann
// exceptions are converted to JsonError as well.
template <class F>
void with_path(const std::string &prefix, F &&f);
// A non-negative integer (parsed literals are unsigned; values built in code are not).
bool is_u64(const nlohmann::json &j);
[[noreturn]] void fail(const std::string &path, const std::string &what);
[[noreturn]] void rethrow_with_prefix(const std::string &prefix);
}  // namespace json_detail

template <class F>
void json_detail::with_path(const std::string &prefix, F &&f)
{
    try {
        f();
    } catch (...) {
        rethrow_with_prefix(prefix);
    }
}

}  // namespace iommuprof
