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

#include "iommuprof/json_read.hpp"
#include "iommuprof/model.hpp"

namespace iommuprof {

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
void to_json(nlohmann::json &j, const NetIface &n);
void from_json(const nlohmann::json &j, NetIface &n);
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

}  // namespace iommuprof
