// `iommuprof verdict` output: text and JSON (docs/verdict.md).
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "iommuprof/json.hpp"
#include "iommuprof/render.hpp"
#include "iommuprof/verdict.hpp"
#include "iommuprof/units.hpp"

namespace iommuprof {

namespace {

nlohmann::json null_if_neg(int v) { return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v); }
nlohmann::json str_or_null(const std::string &s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); }

}  // namespace

std::string render_verdict_text(const Verdict &v)
{
    std::string out;
    // Reasons, cautions and steps quote device names, drivers and log lines: one line each.
    out += fmt::format("Verdict: {}\n  {}\n", v.verdict, esc(v.summary));
    if (!v.reasons.empty()) {
        out += "\nWhy:\n";
        for (auto &r : v.reasons)
            out += "  - " + esc(r) + "\n";
    }
    const auto &n = v.numbers;
    if (n.measured) {
        out += "\nEvidence";
        out += v.profile_source.empty() ? ":\n" : " (" + esc(v.profile_source) + "):\n";
        if (n.saving_from_samples)
            out += fmt::format("  profile          {} on {} CPUs, {} samples in DMA paths (no function probe)\n",
                               units::seconds(n.duration_s), n.ncpus, n.events);
        else
            out += fmt::format("  profile          {} on {} CPUs, {} {} ({}/s)\n", units::seconds(n.duration_s), n.ncpus, n.events,
                               n.timed ? "outermost calls" : "DMA-API calls (counted)", units::count(n.calls_per_s));
        if (n.timed && !n.saving_from_samples) {
            auto cpu = [](int c) { return c < 0 ? std::string("no CPU") : fmt::format("CPU {}", c); };
            out += fmt::format("  in DMA paths     {} of all CPUs, {} of the busiest ({})\n",
                               units::pct(n.total_share_all), units::pct(n.total_share_hottest), cpu(n.total_hottest_cpu));
            out += fmt::format("  saving under pt  {} of all CPUs, {} of the busiest ({}){}\n",
                               units::pct(n.saving_share_all), units::pct(n.saving_share_hottest), cpu(n.saving_hottest_cpu),
                               n.saving_lower_bound ? "  (lower bound)" : "");
            out += fmt::format("  split            translation-only {}, DMA API (remains) {}, VFIO {}\n",
                               units::ns(n.saving_ns),
                               n.dma_api_timed ? units::ns(n.residual_ns) : std::string("not timed (--dma-api)"),
                               units::ns(n.vfio_ns));
            if (n.flush_ns > 0)
                out += fmt::format("  invalidation     >= {} ({} of translation-only)\n", units::ns(n.flush_ns),
                                   units::pct(n.flush_fraction));
        }
        if (n.sampled)
            out += fmt::format("  sampled          {} of all CPUs in translation-only paths ({} samples, {}; "
                               "{} in the DMA API, {} in the profiler's probes){}\n",
                               units::pct_ci(n.sampled_share_all, n.sampled_ci95), n.samples, esc(n.sample_event),
                               n.samples_dma_api, n.samples_profiler,
                               n.disagree ? "  DISAGREES with the probes" : "");
        if (n.faults_seen)
            out += fmt::format("  faults           {} io_page_fault events\n", n.faults_seen);
        if (!v.points.empty()) {
            out += fmt::format("\n  {:<26} {:<12} {:>10} {:>10} {:>8} {:>8} {:>9}\n", "POINT", "CATEGORY", "CALLS",
                               "CALLS/s", "P50", "P99", "TIME");
            for (auto &p : v.points)
                out += fmt::format("  {:<26} {:<12} {:>10} {:>10} {:>8} {:>8} {:>9}\n", esc(p.point),
                                   to_string(p.category), p.calls, units::count(p.calls_per_s),
                                   p.timed ? units::ns(p.p50_ns) : "-", p.timed ? units::ns(p.p99_ns) : "-",
                                   p.timed ? units::ns(p.time_ns) : "-");
        }
        if (!v.top_devices.empty()) {
            out += fmt::format("\n  {:<20} {:>10} {:>9} {:>11}  {}\n", "DEVICE", "CALLS", "TIME", "EST.SAVING",
                               "DRIVER / ID / GROUP TYPE");
            for (auto &d : v.top_devices) {
                std::string who = d.driver.empty() && d.id.empty() && d.group_type.empty()
                                      ? "-"
                                      : fmt::format("{} {} {}", d.driver.empty() ? "-" : esc(d.driver),
                                                    d.id.empty() ? "-" : esc(d.id),
                                                    d.group_type.empty() ? "-" : esc(d.group_type));
                out += fmt::format("  {:<20} {:>10} {:>9} {:>11}  {}\n", esc(d.device), d.calls,
                                   n.timed ? units::ns(d.time_ns) : "-", n.timed ? units::ns(d.saving_ns) : "-", who);
            }
        }
    } else if (!v.profile_error.empty()) {
        out += "\nEvidence: no profile (" + esc(v.profile_error) + ")\n";
    }
    if (!v.next_steps.empty()) {
        out += "\nNext steps:\n";
        for (size_t i = 0; i < v.next_steps.size(); i++)
            out += fmt::format("  {}. {}\n", i + 1, esc(v.next_steps[i]));
    }
    if (!v.cautions.empty()) {
        out += "\nCautions:\n";
        for (auto &c : v.cautions)
            out += "  ! " + esc(c) + "\n";
    }
    return out;
}

nlohmann::json verdict_json(const Verdict &v)
{
    using nlohmann::json;
    const auto &n = v.numbers;
    json j;
    j["verdict"] = v.verdict;
    j["summary"] = v.summary;
    j["reasons"] = v.reasons;
    j["next_steps"] = v.next_steps;
    j["cautions"] = v.cautions;
    j["host"] = {{"vendor", str_or_null(v.vendor)},
                 {"default_domain", v.default_domain},
                 {"dma_policy", str_or_null(v.dma_policy)}};
    j["profile"] = {{"source", str_or_null(v.profile_source)}, {"error", str_or_null(v.profile_error)}};
    j["numbers"] = {
        {"measured", n.measured},
        {"timed", n.timed},
        {"duration_s", n.duration_s},
        {"ncpus", n.ncpus},
        {"events", n.events},
        {"calls_per_s", n.calls_per_s},
        {"total_ns", n.total_ns},
        {"total_share_all", n.total_share_all},
        {"total_share_hottest", n.total_share_hottest},
        {"total_hottest_cpu", null_if_neg(n.total_hottest_cpu)},
        {"saving_ns", n.saving_ns},
        {"saving_share_all", n.saving_share_all},
        {"saving_share_hottest", n.saving_share_hottest},
        {"saving_hottest_cpu", null_if_neg(n.saving_hottest_cpu)},
        {"saving_lower_bound", n.saving_lower_bound},
        {"saving_sg_ns", n.saving_sg_ns},
        {"sg_entries", n.sg_entries},
        {"direct_entry_ns", n.direct_entry_ns},
        {"direct_ns", n.direct_ns},
        {"residual_ns", n.residual_ns},
        {"dma_api_timed", n.dma_api_timed},
        {"vfio_ns", n.vfio_ns},
        {"flush_ns", n.flush_ns},
        {"flush_fraction", n.flush_fraction},
        {"faults_seen", n.faults_seen},
        {"sampled", n.sampled},
        {"sample_event", str_or_null(n.sample_event)},
        {"samples", n.samples},
        {"samples_translation", n.samples_translation},
        {"samples_dma_api", n.samples_dma_api},
        {"samples_profiler", n.samples_profiler},
        {"sampled_share_all", n.sampled_share_all},
        {"sampled_ci95", n.sampled_ci95},
        {"sampled_share_hottest", n.sampled_share_hottest},
        {"sampled_hottest_cpu", null_if_neg(n.sampled_hottest_cpu)},
        {"saving_from_samples", n.saving_from_samples},
        {"disagree", n.disagree},
    };
    json pts = json::array();
    for (auto &p : v.points)
        pts.push_back({{"point", p.point},
                       {"category", to_string(p.category)},
                       {"timed", p.timed},
                       {"calls", p.calls},
                       {"calls_per_s", p.calls_per_s},
                       {"p50_ns", p.timed ? json(p.p50_ns) : json(nullptr)},
                       {"p99_ns", p.timed ? json(p.p99_ns) : json(nullptr)},
                       {"time_ns", p.timed ? json(p.time_ns) : json(nullptr)},
                       {"errors", p.errors}});
    j["points"] = pts;
    json devs = json::array();
    for (auto &d : v.top_devices)
        devs.push_back({{"device", d.device},
                        {"calls", d.calls},
                        {"time_ns", d.time_ns},
                        {"saving_ns", d.saving_ns},
                        {"driver", str_or_null(d.driver)},
                        {"id", str_or_null(d.id)},
                        {"group_type", str_or_null(d.group_type)},
                        {"packets", d.packets ? json(d.packets) : json(nullptr)},
                        {"interfaces", d.ifaces}});
    j["top_devices"] = devs;
    const auto &t = v.thresholds;
    j["thresholds"] = {{"min_share_all", t.min_share_all},
                       {"min_share_hottest", t.min_share_hottest},
                       {"min_events", t.min_events},
                       {"min_seconds", t.min_seconds},
                       {"flush_dominates", t.flush_dominates},
                       {"ignore_faults", t.ignore_faults}};
    return j;
}

}  // namespace iommuprof
