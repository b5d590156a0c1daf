// Text and JSON rendering of a Comparison (docs/compare.md).
#include <algorithm>
#include <cmath>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "iommuprof/compare.hpp"
#include "iommuprof/json.hpp"
#include "iommuprof/render.hpp"
#include "iommuprof/units.hpp"
#include "iommuprof/strings.hpp"

namespace iommuprof {

using nlohmann::json;

std::string mini_histogram(const Hist &h, int lo, int hi)
{
    static const char *kBlocks[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
    lo = std::clamp(lo, 0, kBuckets - 1);
    hi = std::clamp(hi, 0, kBuckets - 1);
    uint64_t peak = 0;
    for (int i = lo; i <= hi; i++)
        peak = std::max(peak, h.buckets[i]);
    if (peak == 0)
        return "";
    std::string s;
    for (int i = lo; i <= hi; i++) {
        uint64_t b = h.buckets[i];
        if (b == 0) {
            s += ' ';
            continue;
        }
        // 1..8 blocks, at least one for any non-empty bucket.
        int level = static_cast<int>(std::ceil(8.0 * double(b) / double(peak)));
        s += kBlocks[std::clamp(level, 1, 8) - 1];
    }
    return s;
}

namespace {

// The units of units.hpp that follow their number after a space, with trailing punctuation.
bool is_unit(std::string w)
{
    while (!w.empty() && (w.back() == ';' || w.back() == ',' || w.back() == '.' || w.back() == ')'))
        w.pop_back();
    return w == "ns" || w == "µs" || w == "ms" || w == "s" || w == "B" || w == "KiB" || w == "MiB" ||
           w == "GiB" || w == "TiB";
}

// Greedy word wrap with a prefix on every line; a number is never separated
// from its unit ("30.7 %").
std::string wrap(const std::string &raw, size_t width, const std::string &prefix)
{
    // Warnings quote labels and device names from the profiles.
    const std::string text = esc(raw);
    std::vector<std::string> words;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t sp = text.find(' ', pos);
        std::string word = text.substr(pos, sp == std::string::npos ? std::string::npos : sp - pos);
        pos = sp == std::string::npos ? text.size() : sp + 1;
        if (word.empty())
            continue;
        // A unit stays with its number, and "± x" with the share before it.
        if (!words.empty() && (is_unit(word) || word == "±" || words.back().ends_with(" ±")))
            words.back() += " " + word;
        else
            words.push_back(word);
    }
    std::string out, line;
    auto cols = [](const std::string &s) {
        size_t n = 0;
        for (unsigned char ch : s)
            n += (ch & 0xC0) != 0x80;
        return n;
    };
    for (const auto &word : words) {
        if (!line.empty() && cols(prefix) + cols(line) + 1 + cols(word) > width) {
            out += prefix + line + "\n";
            line.clear();
        }
        line += (line.empty() ? "" : " ") + word;
    }
    if (!line.empty())
        out += prefix + line + "\n";
    return out;
}

std::string rtrim(std::string s)
{
    while (!s.empty() && (s.back() == ' ' || s.back() == '\n'))
        s.pop_back();
    return s;
}

std::string bucket_label(int i) { return units::ns(static_cast<double>(bucket_lo(i))); }

bool row_visible(const CompareRow &r)
{
    return r.before.attached || r.after.attached || r.before.calls_per_s > 0 || r.after.calls_per_s > 0;
}

std::string lat(const CompareSide &s, double v)
{
    if (!s.attached)
        return "n/a";
    if (!s.timed)
        return "-";
    return s.hist.count ? units::ns(v) : "-";
}

std::string calls(const CompareSide &s) { return s.attached ? units::count(s.calls_per_s) : "n/a"; }

std::string bytes(const CompareSide &s)
{
    if (!s.attached)
        return "n/a";
    return s.bytes_per_s > 0 ? units::bytes(s.bytes_per_s) : "-";
}

std::string share(const CompareSide &s)
{
    if (!s.attached)
        return "n/a";
    return s.timed ? units::pct(s.cpu_share) : "-";
}

std::string side_change(const CompareRow &r)
{
    if (!r.before.attached || !r.after.attached)
        return "";
    if (r.before.calls_per_s == 0 && r.after.calls_per_s == 0)
        return "";
    return units::change(r.calls_change);
}

constexpr int kMaxDeviceRows = 6;

}  // namespace

std::string render_compare_text(const Comparison &c, const CompareTextOptions &o)
{
    std::string out;
    size_t width = static_cast<size_t>(std::max(o.width, 60));
    const ProfileSummary &b = c.before, &a = c.after;

    // ---- header: the two profiles side by side ----
    auto hdr = [&](const char *what, const std::string &x, const std::string &y) {
        out += fmt::format("{:<17} {:<34} {}\n", what, esc(x), esc(y));
    };
    auto params = [](const std::vector<std::string> &v) {
        return v.empty() ? std::string("(none)") : join(v, " ");
    };
    auto share_line = [](const ProfileSummary &s) {
        if (s.cpu.hottest < 0)
            return units::pct(s.cpu.all_cpus);
        return fmt::format("{} (CPU {}: {})", units::pct(s.cpu.all_cpus), s.cpu.hottest,
                           units::pct(s.cpu.hottest_cpu));
    };
    hdr("", "BEFORE", "AFTER");
    if (!b.label.empty() || !a.label.empty())
        hdr("label", b.label, a.label);
    hdr("created", b.created, a.created);
    hdr("kernel", b.kernel, a.kernel);
    hdr("IOMMU mode", b.mode, a.mode + (c.mode_changed ? "   (changed)" : c.mode_known ? "   (SAME)" : ""));
    hdr("iommu params", params(b.iommu_params), params(a.iommu_params));
    hdr("duration", fmt::format("{} on {} CPUs", units::seconds(b.duration_s), b.ncpus),
        fmt::format("{} on {} CPUs", units::seconds(a.duration_s), a.ncpus));
    hdr((b.workload_measure == "DMA-API calls" ? "DMA-API calls/s" : "calls/s"), units::count(b.dma_calls_per_s),
        units::count(a.dma_calls_per_s) +
            (std::isnan(c.workload_ratio) ? "" : "   (" + units::factor(c.workload_ratio) + ")"));
    hdr("CPU share", share_line(b), share_line(a));
    if (b.ns_per_call > 0 || a.ns_per_call > 0)
        hdr("CPU time / call", units::ns(b.ns_per_call), units::ns(a.ns_per_call));
    out += "\n";

    // ---- loud warnings ----
    for (size_t i = 0; i < c.loud_warnings && i < c.warnings.size(); i++)
        out += wrap(c.warnings[i], width, "!! ");
    if (c.loud_warnings)
        out += "\n";

    // ---- categories ----
    if (!c.categories.empty()) {
        out += rtrim(fmt::format("{:<14} {:>9} {:>9} {:>8}   {:>9}", "CATEGORY", "calls/s", "", "", "CPU share")) +
               "\n";
        out += fmt::format("{:<14} {:>9} {:>9} {:>8}   {:>9} {:>9}\n", "", "before", "after", "change", "before",
                           "after");
        for (const auto &r : c.categories) {
            std::string name = to_string(r.category);
            if (r.translation_only)
                name += " *";
            out += fmt::format("{:<14} {:>9} {:>9} {:>8}   {:>9} {:>9}\n", name, units::count(r.before_calls_per_s),
                               units::count(r.after_calls_per_s),
                               r.before_calls_per_s == 0 && r.after_calls_per_s == 0 ? ""
                                                                                       : units::change(r.calls_change),
                               units::pct(r.before_cpu_share), units::pct(r.after_cpu_share));
        }
        out += "  * translation only: this work disappears under iommu=pt\n\n";
    }

    // ---- per point and device ----
    static constexpr char row_fmt[] = "{:<22} {:>7} {:>7} {:>6}  {:>9} {:>9}  {:>7} {:>7}  {:>7} {:>7}  {:>7} {:>7}\n";
    out += rtrim(fmt::format(row_fmt, "POINT / DEVICE", "calls/s", "", "", "bytes/s", "", "p50", "", "p99", "", "CPU",
                             "")) +
           "\n";
    out += fmt::format(row_fmt, "", "before", "after", "change", "before", "after", "before", "after", "before",
                       "after", "before", "after");
    int device_rows = 0;
    size_t hidden = 0;
    for (const auto &r : c.rows) {
        if (!row_visible(r))
            continue;
        std::string name;
        if (r.device.empty()) {
            if (hidden)
                out += fmt::format("  ... {} more devices\n", hidden);
            hidden = 0;
            device_rows = 0;
            name = esc(r.point);
        } else {
            if (!o.devices)
                continue;
            if (++device_rows > kMaxDeviceRows) {
                hidden++;
                continue;
            }
            name = "  " + esc(r.device);
        }
        if (name.size() > 22)
            name = name.substr(0, 21) + "~";
        out += fmt::format(row_fmt, name, calls(r.before), calls(r.after), side_change(r), bytes(r.before),
                           bytes(r.after), lat(r.before, r.before.p50_ns), lat(r.after, r.after.p50_ns),
                           lat(r.before, r.before.p99_ns), lat(r.after, r.after.p99_ns), share(r.before),
                           share(r.after));
    }
    if (hidden)
        out += fmt::format("  ... {} more devices\n", hidden);
    out += "  n/a: not attached in that profile; -: no timing (count-only) or no calls\n";

    // ---- network devices: per packet ----
    if (!c.net.empty()) {
        static constexpr char net_fmt[] = "{:<22} {:>9} {:>9}  {:>7} {:>7}  {:>9} {:>9} {:>6}\n";
        out += "\n" + rtrim(fmt::format(net_fmt, "NETWORK DEVICE", "packets/s", "", "maps/pkt", "", "CPU/packet", "",
                                        "")) +
               "\n";
        out += fmt::format(net_fmt, "", "before", "after", "before", "after", "before", "after", "change");
        auto pkt = [](const NetCompareSide &s, auto f) { return s.present && s.packets ? f(s) : std::string("-"); };
        for (const auto &r : c.net) {
            std::string name = esc(r.device) + " " + esc(join_some(r.ifaces, 2, ","));
            if (name.size() > 22)
                name = name.substr(0, 21) + "~";
            auto pps = [](const NetCompareSide &s) { return units::count(s.packets_per_s); };
            auto mpp = [](const NetCompareSide &s) { return units::ratio(s.maps_per_packet); };
            auto cpp = [](const NetCompareSide &s) { return units::ns(s.cpu_ns_per_packet); };
            out += fmt::format(net_fmt, name, pkt(r.before, pps), pkt(r.after, pps), pkt(r.before, mpp),
                               pkt(r.after, mpp), pkt(r.before, cpp), pkt(r.after, cpp),
                               std::isfinite(r.cpu_per_packet_change) ? units::change(r.cpu_per_packet_change) : "");
        }
        out += "  per packet: DMA-API maps, and CPU time in IOMMU/DMA paths for the device (received and sent "
               "packets)\n";
    }

    // ---- mini histograms ----
    if (o.histograms) {
        bool title = false;
        for (const auto &r : c.rows) {
            if (!r.device.empty() || !(r.before.timed || r.after.timed))
                continue;
            int lo = kBuckets, hi = -1;
            for (const Hist *h : {&r.before.hist, &r.after.hist})
                for (int i = 0; i < kBuckets; i++)
                    if (h->buckets[i]) {
                        lo = std::min(lo, i);
                        hi = std::max(hi, i);
                    }
            if (hi < 0)
                continue;
            if (!title) {
                out += "\nLATENCY HISTOGRAMS (log2 buckets; each line scaled to its own peak)\n";
                title = true;
            }
            std::string axis = fmt::format("{} .. {}", bucket_label(lo), units::ns(double(bucket_hi(hi))));
            auto line = [&](const char *tag, const CompareSide &s) {
                std::string bars = s.timed ? mini_histogram(s.hist, lo, hi) : "";
                if (bars.empty())
                    bars = s.attached ? "(no calls)" : "(not attached)";
                std::string stats = s.timed && s.hist.count ? fmt::format("p50 {}  p99 {}", units::ns(s.p50_ns),
                                                                          units::ns(s.p99_ns))
                                                            : "";
                std::string name = esc(r.point);
                if (name.size() > 22)
                    name = name.substr(0, 21) + "~";
                out += rtrim(fmt::format("  {:<22} {:<6} |{:<{}}|  {}", tag == std::string("before") ? name : "",
                                         tag, bars, hi - lo + 1, stats)) +
                       "\n";
            };
            line("before", r.before);
            line("after", r.after);
            out += fmt::format("  {:<22} {:<6}  {}\n", "", "", axis);
        }
    }

    // ---- conclusion and lesser notes ----
    out += "\nCONCLUSION\n";
    out += wrap(c.conclusion, width, "  ");
    for (size_t i = c.loud_warnings; i < c.warnings.size(); i++) {
        if (i == c.loud_warnings)
            out += "\nNOTES\n";
        out += wrap(c.warnings[i], width, "  - ");
    }
    return out;
}

namespace {

json side_json(const CompareSide &s)
{
    json j{{"attached", s.attached},         {"timed", s.timed},       {"calls_per_s", s.calls_per_s},
           {"bytes_per_s", s.bytes_per_s},   {"errors_per_s", s.errors_per_s}, {"cpu_share", s.cpu_share}};
    // Latencies only where they mean something.
    j["p50_ns"] = s.timed && s.hist.count ? json(s.p50_ns) : json(nullptr);
    j["p99_ns"] = s.timed && s.hist.count ? json(s.p99_ns) : json(nullptr);
    return j;
}

json num_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json summary_json(const ProfileSummary &s)
{
    return json{{"label", s.label},
                {"created", s.created},
                {"kernel", s.kernel},
                {"mode", s.mode},
                {"iommu_params", s.iommu_params},
                {"duration_s", s.duration_s},
                {"ncpus", s.ncpus},
                {"dma_calls_per_s", s.dma_calls_per_s},
                {"workload_measure", s.workload_measure},
                {"cpu_share", s.cpu.all_cpus},
                {"hottest_cpu", s.cpu.hottest >= 0 ? json(s.cpu.hottest) : json(nullptr)},
                {"hottest_cpu_share", s.cpu.hottest_cpu},
                {"translation_calls_per_s", s.translation_calls_per_s},
                {"ns_per_call", s.ns_per_call},
                {"anomalies", s.anomalies}};
}

}  // namespace

json compare_to_json(const Comparison &c)
{
    json j;
    j["before"] = summary_json(c.before);
    j["after"] = summary_json(c.after);
    j["mode_known"] = c.mode_known;
    j["mode_changed"] = c.mode_changed;
    j["workload_ratio"] = num_or_null(c.workload_ratio);
    j["workload_differs"] = c.workload_differs;
    j["categories"] = json::array();
    for (const auto &r : c.categories)
        j["categories"].push_back({{"category", r.category},
                                   {"translation_only", r.translation_only},
                                   {"before_calls_per_s", r.before_calls_per_s},
                                   {"after_calls_per_s", r.after_calls_per_s},
                                   {"calls_change", num_or_null(r.calls_change)},
                                   {"before_cpu_share", r.before_cpu_share},
                                   {"after_cpu_share", r.after_cpu_share}});
    j["rows"] = json::array();
    for (const auto &r : c.rows)
        j["rows"].push_back({{"point", r.point},
                             {"category", r.category},
                             {"device", r.device.empty() ? json(nullptr) : json(r.device)},
                             {"before", side_json(r.before)},
                             {"after", side_json(r.after)},
                             {"calls_change", num_or_null(r.calls_change)},
                             {"p99_change", num_or_null(r.p99_change)},
                             {"cpu_share_change", r.cpu_share_change}});
    j["network"] = json::array();
    auto net_side = [](const NetCompareSide &s) {
        return json{{"present", s.present},
                    {"packets", s.packets},
                    {"packets_per_s", s.packets_per_s},
                    {"maps_per_packet", num_or_null(s.maps_per_packet)},
                    {"cpu_ns_per_packet", num_or_null(s.cpu_ns_per_packet)}};
    };
    for (const auto &r : c.net)
        j["network"].push_back({{"device", r.device},
                                {"interfaces", r.ifaces},
                                {"before", net_side(r.before)},
                                {"after", net_side(r.after)},
                                {"cpu_per_packet_change", num_or_null(r.cpu_per_packet_change)}});
    j["warnings"] = c.warnings;
    j["loud_warnings"] = c.loud_warnings;
    j["conclusion"] = c.conclusion;
    return j;
}

}  // namespace iommuprof
