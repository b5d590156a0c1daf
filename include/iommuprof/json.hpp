// JSON mapping of the data model (model.hpp), for nlohmann::json.
//
// Used by profile files (docs/profile-format.md), `top --json`, `report
// --json` and the verdict. Enums are written as their to_string() names.
//
// to_json never fails. from_json is strict: a missing field, a field of the
// wrong type (a negative or fractional number where a counter is expected,
// a string where a number is expected, ...), an unknown enum name or a
// histogram with the wrong number of buckets throws
// Error(kExitUsage, "<json path>: <what is wrong>"), e.g.
// "cells[3].hist.buckets: expected 32 entries, got 31". Unknown extra fields
// are ignored (forward compatibility inside one format version).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "iommuprof/error.hpp"
#include "iommuprof/model.hpp"

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

void to_json(nlohmann::json &j, Category c);
void from_json(const nlohmann::json &j, Category &c);
void to_json(nlohmann::json &j, Method m);
void from_json(const nlohmann::json &j, Method &m);

// {"count","sum_ns","bytes","errors","max_ns","buckets":[kBuckets counters]}
void to_json(nlohmann::json &j, const Hist &h);
void from_json(const nlohmann::json &j, Hist &h);

// {"point","device","cpu","hist"}
void to_json(nlohmann::json &j, const Cell &c);
void from_json(const nlohmann::json &j, Cell &c);

// {"name","category","timed"}
void to_json(nlohmann::json &j, const PointInfo &p);
void from_json(const nlohmann::json &j, PointInfo &p);

// {"hist_full","devname_full","ctx_full","depth_overflow","unmatched_exit",
//  "dropped_frames","migrated"}
void to_json(nlohmann::json &j, const Counters &c);
void from_json(const nlohmann::json &j, Counters &c);

// {"duration_s","ncpus","points":[...],"cells":[...],"counters":{...}}
// {"method","inner_ns","pair_ns","outer_ns","repeats","calls","functions"}
void to_json(nlohmann::json &j, const Calibration &c);
void from_json(const nlohmann::json &j, Calibration &c);
// samples: {"event","freq_hz","lost","cpus":[{"cpu","total","translation","dma_api",
// "profiler","vfio","idle"}],"folded":[{"stack","samples"}]}
void to_json(nlohmann::json &j, const SampleCounts &c);
void from_json(const nlohmann::json &j, SampleCounts &c);
void to_json(nlohmann::json &j, const SampleStats &s);
void from_json(const nlohmann::json &j, SampleStats &s);
void to_json(nlohmann::json &j, const Snapshot &s);
void from_json(const nlohmann::json &j, Snapshot &s);

// {"point","category","symbol","method","reason","attached"}
void to_json(nlohmann::json &j, const Attachment &a);
void from_json(const nlohmann::json &j, Attachment &a);

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
