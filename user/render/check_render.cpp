// `iommuprof check` output: the Nagios plugin text and JSON (docs/check.md).
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "iommuprof/check.hpp"
#include "iommuprof/render.hpp"
#include "iommuprof/strings.hpp"

namespace iommuprof {

namespace {

constexpr size_t kMaxSummaryBytes = 300;  // the status line stays short for pagers and NRPE

// esc(), and '|' shown as \x7c: in Nagios output a '|' starts the performance
// data, so one in a host string (a driver name, a log line) must not.
std::string nag(std::string_view s)
{
    std::string out = esc(s);
    for (size_t i = 0; (i = out.find('|', i)) != std::string::npos; i += 4)
        out.replace(i, 1, "\\x7c");
    return out;
}

std::string label(const CheckResult &r) { return r.subject.empty() ? r.check : r.check + " " + r.subject; }

// "3 checks passed", "2 violations, 1 unknown: default-domain: ...; faults: ..."
std::string summary(const CheckReport &r)
{
    if (r.results.empty())
        return "nothing to check (every check is skipped)";
    int viol = r.count(CheckStatus::Warning) + r.count(CheckStatus::Critical);
    int unknown = r.count(CheckStatus::Unknown);
    if (viol == 0 && unknown == 0) {
        int n = int(r.results.size());
        return fmt::format("{} check{} passed{}", n, n == 1 ? "" : "s",
                           r.defaults ? " (defaults: no check key configured)" : "");
    }
    std::string s;
    if (viol)
        s = fmt::format("{} violation{}", viol, viol == 1 ? "" : "s");
    if (unknown)
        s += fmt::format("{}{} unknown", s.empty() ? "" : ", ", unknown);
    std::vector<std::string> bad;
    for (auto &x : r.results)
        if (x.status != CheckStatus::Ok)
            bad.push_back(nag(label(x)) + ": " + nag(x.message));
    std::string items = join(bad, "; ");
    if (items.size() > kMaxSummaryBytes) {
        size_t cut = kMaxSummaryBytes;
        while (cut > 0 && (static_cast<unsigned char>(items[cut]) & 0xc0) == 0x80)
            cut--;  // not inside a UTF-8 sequence
        items = items.substr(0, cut) + "...";
    }
    return s + ": " + items;
}

// Nagios performance data: label=value;warn;crit;min
std::string perfdata(const CheckReport &r)
{
    auto opt = [](const std::optional<uint64_t> &v) { return v ? std::to_string(*v) : std::string(); };
    std::string p;
    if (r.faults)
        p += fmt::format("faults={};{};{};0 ", *r.faults, opt(r.faults_warn), opt(r.faults_crit));
    p += fmt::format("vfio_devices={};;;0 vfio_unclean_groups={};;;0 mixed_groups={};;;0", r.vfio_devices,
                     r.vfio_unclean_groups, r.mixed_groups);
    if (r.swiotlb_used_slabs)
        p += fmt::format(" swiotlb_used_slabs={};{};;0", *r.swiotlb_used_slabs, opt(r.swiotlb_warn));
    return p;
}

nlohmann::json opt_u64(const std::optional<uint64_t> &v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }
nlohmann::json str_or_null(const std::string &s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); }

}  // namespace

std::string render_check_text(const CheckReport &r)
{
    std::string out = fmt::format("IOMMU {} - {} | {}\n", status_name(r.status), summary(r), perfdata(r));
    for (auto &x : r.results) {
        out += fmt::format("{} {}: {}", status_name(x.status), nag(label(x)), nag(x.message));
        if (!x.source.empty())
            out += " [" + nag(x.source) + "]";
        out += "\n";
    }
    for (auto &n : r.notes)
        out += "note: " + nag(n) + "\n";
    return out;
}

nlohmann::json check_json(const CheckReport &r)
{
    nlohmann::json checks = nlohmann::json::array();
    for (auto &x : r.results)
        checks.push_back({{"check", x.check},
                          {"subject", str_or_null(x.subject)},
                          {"status", status_name(x.status)},
                          {"expected", x.expected},
                          {"actual", str_or_null(x.actual)},
                          {"message", x.message},
                          {"source", str_or_null(x.source)}});
    return {
        {"schema", 1},
        {"status", status_name(r.status)},
        {"exit_code", int(r.status)},
        {"summary", summary(r)},
        {"root", r.root},
        {"defaults", r.defaults},
        {"counts",
         {{"ok", r.count(CheckStatus::Ok)},
          {"warning", r.count(CheckStatus::Warning)},
          {"critical", r.count(CheckStatus::Critical)},
          {"unknown", r.count(CheckStatus::Unknown)}}},
        {"checks", checks},
        {"perfdata",
         {{"faults", opt_u64(r.faults)},
          {"vfio_devices", r.vfio_devices},
          {"vfio_unclean_groups", r.vfio_unclean_groups},
          {"mixed_groups", r.mixed_groups},
          {"swiotlb_used_slabs", opt_u64(r.swiotlb_used_slabs)}}},
        {"notes", r.notes},
        {"error", nullptr},
    };
}

std::string render_check_error_text(const std::string &why) { return "IOMMU UNKNOWN - " + nag(why) + "\n"; }

nlohmann::json check_error_json(const std::string &why)
{
    return {
        {"schema", 1},
        {"status", status_name(CheckStatus::Unknown)},
        {"exit_code", int(CheckStatus::Unknown)},
        {"summary", why},
        {"root", nullptr},
        {"defaults", false},
        {"counts", {{"ok", 0}, {"warning", 0}, {"critical", 0}, {"unknown", 0}}},
        {"checks", nlohmann::json::array()},
        {"perfdata", nullptr},
        {"notes", nlohmann::json::array()},
        {"error", why},
    };
}

}  // namespace iommuprof
