// Profile files: one self-describing, versioned document per profile, stored
// as gzip'd JSON (`zcat FILE | jq` works). Written by `record` and `run`,
// read by `report` and `compare`. Schema: docs/profile-format.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "iommuprof/output_file.hpp"
#include "iommuprof/hostfacts.hpp"
#include "iommuprof/model.hpp"

namespace iommuprof {

// "format" field of every profile document.
inline constexpr const char *kProfileFormat = "iommuprof-profile";
// Format version written by this build; readers accept 1..kProfileVersion.
inline constexpr int kProfileVersion = 1;

// Bounds a reader enforces (anything beyond is "absurd" and rejected).
inline constexpr size_t kMaxProfileFileBytes = 256u << 20;  // compressed
inline constexpr size_t kMaxProfileJsonBytes = 512u << 20;  // decompressed
inline constexpr int kMaxProfileCpus = 1 << 16;  // ncpus, and CPU numbers below it
inline constexpr double kMaxProfileDuration = 10 * 366.0 * 24 * 3600;  // ten years
// Shortest duration of a profile that holds data (a cell or a sample): rates
// and shares of a shorter window are noise (`run -- true` takes milliseconds).
// An empty profile may have any duration from 0.
inline constexpr double kMinProfileDuration = 1e-4;  // 100 us
// Counters read while the probes run can catch an update half done (the count
// incremented, its bucket not yet): related counters of one cell may differ
// by this much (profile-format.md, "Consistency").
inline constexpr uint64_t profile_race_slack(uint64_t count) { return 2 + count / 1000; }
// Room checked for before a recording (real profiles are a few KiB to a few hundred).
inline constexpr size_t kExpectedProfileBytes = 1u << 20;

struct Profile {
    int version = kProfileVersion;
    std::string label;         // free text from --label ("" when none)
    std::string created;       // ISO 8601 UTC, "2024-05-01T12:00:00Z"
    std::string tool_version;  // iommuprof version that wrote it
    HostFacts host;            // host facts when the profile started
    std::vector<Attachment> plan;  // the attach plan (every point, attached or not)
    Snapshot snap;             // counters over the whole profile
    bool operator==(const Profile &o) const = default;
};

// The iommuprof version string ("0.1.0").
const char *tool_version();
// Current time as ISO 8601 UTC with second precision.
std::string now_iso8601_utc();

// Whole-document JSON mapping. profile_from_json validates everything and
// throws Error(kExitUsage, "<json path>: <what is wrong>").
nlohmann::json profile_to_json(const Profile &p);
Profile profile_from_json(const nlohmann::json &j);

// gzip-compresses the JSON and writes it atomically: a temp file in the same
// directory, fsync, rename over `path`, fsync the directory. On failure the
// temp file is removed, any existing `path` is untouched, and
// Error(kExitRuntime, "<path>: <why>") is thrown.
void write_profile(const Profile &p, const std::string &path);

// Throws Error(kExitUsage, "<path>: <what is wrong>") for a missing or
// unreadable file, something that is not gzip, a truncated or corrupted gzip
// stream, bad JSON, a JSON document that is not an iommuprof profile, a newer
// format version, missing or ill-typed fields, absurd values and counters
// that contradict each other (docs/profile-format.md, "Consistency").
Profile read_profile(const std::string &path);
// The same from bytes already in memory (`name` prefixes error messages).
Profile parse_profile(std::string_view file_bytes, const std::string &name);


// Helpers shared with the OpenMetrics writer and the tests.
std::string gzip_compress(std::string_view data);
// Throws Error(kExitUsage, "<what is wrong>") (no path prefix); refuses output
// larger than `max_out`.
// on_chunk sees every piece of the output as it is produced (and may throw).
std::string gzip_decompress(std::string_view gz, size_t max_out = kMaxProfileJsonBytes,
                            const std::function<void(std::string_view)> &on_chunk = {});

}  // namespace iommuprof
