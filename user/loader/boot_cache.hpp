// Loader-internal: what a start learns of the running kernel that holds until the next boot,
// kept between starts beside the kernel view (view_cache.hpp): the feature probes' results (an
// fentry or kprobe_multi attach and detach: text patching, 0.15-0.3 s under emulation) and the
// probe-effect calibration (the profiler's own cost per probed call with these very BPF
// programs: 20,000 probed syscalls, four attachments and two more programs to load, 0.3-0.6 s).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "iommuprof/model.hpp"

namespace iommuprof {

// Changes with the tool's version and the boot; "" when the boot id cannot be read (nothing is
// then kept).
std::string boot_cache_key();

// The entries kept in dir under key, by name. Same file rules as the kernel view's (a private
// regular file, no symlink, below 4 MiB); anything unreadable or under another key: none.
std::map<std::string, nlohmann::json> read_boot_cache(const std::string &dir, const std::string &key);

// Adds (or replaces) the entry name in dir's file under key; entries under another key are
// dropped. Failures are ignored (the cache only saves time): false then.
bool write_boot_cache(const std::string &dir, const std::string &key, const std::string &name,
                      const nlohmann::json &value);

// What names a BPF object's code in a calibration's entry: a hash of its bytes and their size
// (hashed once per start: the object is 1.6 MiB).
std::string bpf_object_id(std::string_view bpf_object);

// A calibration's entry name: its variant (the attach method, program form and older-kernel ways
// it was measured with) and the BPF object whose code it measured (bpf_object_id()).
std::string calibration_entry(const std::string &variant, const std::string &object_id);

// The calibration under name, marked reused; none when absent or out of range.
std::optional<Calibration> cached_calibration(const std::map<std::string, nlohmann::json> &entries,
                                              const std::string &name);

// A feature probe's result under name ({"ok", "why"}); none when absent or malformed.
std::optional<std::pair<bool, std::string>> cached_probe(const std::map<std::string, nlohmann::json> &entries,
                                                         const std::string &name);
nlohmann::json probe_entry(bool ok, const std::string &why);

}  // namespace iommuprof
