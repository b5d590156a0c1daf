// `iommuprof check`: the host's IOMMU setup against an expectation, with the
// Nagios plugin states (docs/check.md).
//
// Pure (user/analysis/check*.cpp): host facts + expectations -> one result per
// check with a status. The config text and the baseline document are parsed
// here too (text in, data out); reading and writing those files is the CLI's
// job (user/cli/cmd_check.cpp), rendering is user/render/check_render.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "iommuprof/error.hpp"
#include "iommuprof/hostfacts.hpp"

namespace iommuprof {

// Nagios plugin states; the value is the exit code of `check`.
enum class CheckStatus { Ok = 0, Warning = 1, Critical = 2, Unknown = 3 };
const char *status_name(CheckStatus s);  // "OK", "WARNING", "CRITICAL", "UNKNOWN"
// The worse of two states: CRITICAL > UNKNOWN > WARNING > OK.
CheckStatus worse(CheckStatus a, CheckStatus b);

// The checks, by name (JSON "check", `severity`, `skip`), in output order.
const std::vector<std::string> &check_names();

// What the host is expected to look like. Every field is optional: only what
// is set is checked.
struct Expectations {
    // translated, passthrough, or a group type DMA (translated, strict),
    // DMA-FQ (translated, lazy), identity (passthrough); from a baseline also
    // mixed or none.
    std::optional<std::string> default_domain;
    std::optional<std::string> dma_policy;  // strict, lazy (baseline: also none, mixed)
    std::optional<std::string> vendor;      // intel, amd, arm, virtio, other, mixed (baseline: also none)
    std::optional<bool> iommu_active;
    std::optional<bool> irq_remapping;
    // Kernel parameters as "key=value" or "key" (any value); key with '-' as '_'.
    std::optional<std::vector<std::string>> cmdline_require;
    std::optional<std::vector<std::string>> cmdline_forbid;
    std::optional<uint64_t> max_faults;       // more: WARNING (the check's severity)
    std::optional<uint64_t> faults_critical;  // more: CRITICAL
    std::optional<bool> vfio_clean;           // vfio-groups = clean (true) | any (false: not checked)
    std::optional<bool> no_mixed_groups;      // mixed-groups = none (true) | any (false: not checked)
    std::optional<uint64_t> max_swiotlb_slabs;
    std::map<std::string, CheckStatus> severity;  // check -> status of its violations (WARNING or CRITICAL)
    std::set<std::string> skip;                   // checks left out
    std::optional<std::string> baseline;          // path; the CLI reads or writes it
    // Where each key was set: "command line", "FILE:LINE", "baseline FILE",
    // "default".
    std::map<std::string, std::string> source;
    bool defaults = false;  // no check was asked for: the defaults were applied
};

// Every config key, which is also the long option of the same name, in
// documentation order.
const std::vector<std::string> &expectation_keys();
// A bad value for a key: Error(kExitUsage, "<key>: <problem>"), the two parts
// also kept apart (the CLI names the option, the config parser the line).
struct ExpectationError : Error {
    std::string key;
    std::string problem;
    ExpectationError(const std::string &key_, const std::string &problem_)
        : Error(kExitUsage, key_ + ": " + problem_), key(key_), problem(problem_) {}
};
// Sets `key` from its text (a config value or an option's argument),
// replacing what was set before; a bad value throws ExpectationError naming
// what is accepted.
void set_expectation(Expectations &e, const std::string &key, const std::string &value, const std::string &source);
// Config file text (`key = value` lines, `#` comments; docs/check.md) ->
// expectations. At most kMaxCheckConfigBytes. An unknown key, a bad value, a
// key given twice or a line that is not `key = value` throws
// Error(kExitUsage, "<name>:<line>: <what>").
inline constexpr size_t kMaxCheckConfigBytes = 64 * 1024;
Expectations parse_check_config(std::string_view text, const std::string &name);
// After the config and the command line: rejects contradictions (default-domain
// DMA-FQ with dma-policy strict, ...) with Error(kExitUsage), and when no check
// is asked for applies the defaults (max-faults 0, vfio-groups clean).
void finish_expectations(Expectations &e);

// The baseline: what `check --baseline FILE` records on the first run and
// compares with afterwards (default domain, DMA policy, IOMMU active and
// vendor, interrupt remapping).
nlohmann::json make_baseline(const HostFacts &h, const std::string &created);
// Fills, from a baseline document, the expectations the config and the command
// line leave unset (default-domain with dma-policy, iommu-active with vendor,
// irq-remapping). A document that is not a baseline throws
// Error(kExitUsage, "<name>: <what>").
inline constexpr size_t kMaxBaselineBytes = 64 * 1024;
void apply_baseline(Expectations &e, const nlohmann::json &doc, const std::string &name);
// "default domain passthrough, intel, ..." for the note when one is written.
std::string describe_baseline(const nlohmann::json &doc);

struct CheckResult {
    std::string check;      // one of check_names()
    std::string subject;    // "iommu=pt", "group 12"; "" for a host-wide check
    CheckStatus status = CheckStatus::Ok;
    std::string expected;   // "translated", "at most 0", "absent"
    std::string actual;     // what the host shows; "" when unknown
    std::string message;    // one line, may quote host strings (renderers escape it)
    std::string source;     // where the expectation came from
    bool operator==(const CheckResult &o) const = default;
};

struct CheckReport {
    CheckStatus status = CheckStatus::Ok;
    // Problems first (CRITICAL, UNKNOWN, WARNING), then OK; check order within.
    std::vector<CheckResult> results;
    bool defaults = false;
    std::string root;
    // Performance data (Nagios "| label=value;warn;crit;min").
    std::optional<uint64_t> faults;  // null when the kernel log was not read
    std::optional<uint64_t> faults_warn, faults_crit;
    int vfio_devices = 0;
    int vfio_unclean_groups = 0;
    int mixed_groups = 0;
    std::optional<uint64_t> swiotlb_used_slabs;
    std::optional<uint64_t> swiotlb_warn;
    std::vector<std::string> notes;  // "baseline FILE written: ..."
    int count(CheckStatus s) const;
};

CheckReport evaluate_checks(const HostFacts &h, const Expectations &e);

}  // namespace iommuprof
