// Profile files: one self-describing, versioned document per profile, stored
// as gzip'd JSON (`zcat FILE | jq` works). Written by `record` and `run`,
// read by `report` and `compare`. Schema: docs/profile-format.md.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "iommuprof/hostfacts.hpp"
#include "iommuprof/model.hpp"

namespace iommuprof {

// "format" field of every profile document.
inline constexpr const char *kProfileFormat = "iommuprof-profile";
// Format version written by this build; readers accept 1..kProfileVersion.
inline constexpr int kProfileVersion = 1;

// Bounds a reader enforces (anything beyond is "absurd" and rejected).
inline constexpr size_t kMaxProfileFileBytes = 256u << 20;  // compressed
inline constexpr size_t kMaxProfileJsonBytes = 1024u << 20; // decompressed
inline constexpr int kMaxProfileCpus = 1 << 16;
inline constexpr double kMaxProfileDuration = 366.0 * 24 * 3600;  // one year

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
// format version, missing or ill-typed fields and absurd values.
Profile read_profile(const std::string &path);
// The same from bytes already in memory (`name` prefixes error messages).
Profile parse_profile(std::string_view file_bytes, const std::string &name);

// Checks, before a long recording, that `path` can be written atomically
// (its directory exists and accepts a temp file). Throws like write_profile.
void check_writable(const std::string &path);

// Helpers shared with the OpenMetrics writer and the tests.
// Atomic replace of `path` with `data` (mode 0644 minus umask).
void write_file_atomic(const std::string &path, std::string_view data);
std::string gzip_compress(std::string_view data);
// Throws Error(kExitUsage, "<what is wrong>") (no path prefix); refuses output
// larger than `max_out`.
std::string gzip_decompress(std::string_view gz, size_t max_out = kMaxProfileJsonBytes);

}  // namespace iommuprof
