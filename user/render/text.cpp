// Text renderers: the top table, histograms, the attach plan.
#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "iommuprof/render.hpp"
#include "iommuprof/units.hpp"
#include "iommuprof/strings.hpp"

namespace iommuprof {

std::string render_counter_warnings(const Counters &c)
{
    std::string out;
    auto warn = [&](uint64_t n, const char *what) {
        if (n)
            out += fmt::format("warning: {} {}\n", n, what);
    };
    warn(c.hist_full, "events not recorded: histogram map full (too many devices x points)");
    warn(c.devname_full, "device names not recorded: name map full");
    warn(c.ctx_full, "calls not timed: in-flight context map full");
    warn(c.depth_overflow, "calls not timed: nesting deeper than the in-flight stack");
    warn(c.dropped_frames, "in-flight calls dropped (their return was never seen)");
    warn(c.recursion_misses, "probe runs skipped by the kernel's recursion guard (an interrupt entered a probed "
                             "function while its probe ran on that CPU): those calls are missing or untimed");
    return out;
}

std::string render_compensation_note(const Snapshot &s)
{
    uint64_t comp = 0;
    bool timed = false;
    for (auto &c : s.cells) {
        comp += c.hist.comp_ns;
        timed |= c.hist.timed();
    }
    if (!timed)
        return "";
    if (s.calibration.empty())
        return comp ? "" : "note: times are raw: they include the profiler's own probe cost (not compensated)\n";
    std::vector<std::string> parts;
    for (auto &c : s.calibration)
        parts.push_back(fmt::format("{} {} per probed call, {} of it inside the call's own time{}", esc(c.method),
                                    units::ns(c.pair_ns), units::ns(c.inner_ns),
                                    c.reused ? " (measured by an earlier start of the same boot)" : ""));
    return fmt::format("note: times exclude the profiler's own probe cost ({}; measured on {}); --raw shows them "
                       "as measured\n",
                       join(parts, "; "), esc(s.calibration.front().functions));
}

std::string render_samples_line(const Snapshot &s)
{
    if (!s.samples)
        return "";
    SampleCounts c = s.samples->sum();
    if (!c.total)
        return "sampled: no samples\n";
    uint64_t denom = s.samples->denominator(s.duration_s, s.ncpus);
    auto share = [&](uint64_t n) {
        return units::pct_ci(double(n) / double(denom), share_ci95(n, denom));
    };
    return fmt::format("sampled ({} samples, {} at {:g} Hz per CPU): translation-only paths {} of all CPUs, DMA API "
                       "{}, the profiler's probes {}{}\n",
                       c.total, esc(s.samples->event), s.samples->freq_hz, share(c.translation), share(c.dma_api),
                       share(c.profiler),
                       s.samples->lost ? fmt::format("; {} samples lost (maps full)", s.samples->lost) : "");
}

std::string render_folded(const SampleStats &s)
{
    std::string out;
    for (auto &[stack, n] : s.folded)
        out += fmt::format("{} {}\n", esc(stack), n);
    return out;
}

std::string render_table(const Snapshot &s, const TableOptions &o)
{
    std::string out;
    double dur = s.duration_s > 0 ? s.duration_s : 1;
    CpuShare share = cpu_share(s);
    auto tot = by_point(s);
    uint64_t total_calls = tot.count(kTotalPoint) ? tot[kTotalPoint].count : 0;
    out += fmt::format("IOMMU/DMA paths: {} of {} CPUs", units::pct(share.all_cpus), s.ncpus);
    if (share.hottest >= 0)
        out += fmt::format(", {} of CPU {} (hottest)", units::pct(share.hottest_cpu), share.hottest);
    out += fmt::format("; {} outermost calls/s over {}\n", units::count(total_calls / dur), units::seconds(dur));

    auto rows = by_device(s);
    // Devices ordered by their outermost-call time, busiest first.
    std::map<std::string, uint64_t> dev_time;
    for (auto &r : rows)
        if (r.point == kTotalPoint)
            dev_time[r.device] += r.hist.sum_ns;
    for (auto &r : rows)
        dev_time.try_emplace(r.device, 0);
    std::stable_sort(rows.begin(), rows.end(), [&](auto &a, auto &b) {
        if (a.device != b.device) {
            auto ta = dev_time[a.device], tb = dev_time[b.device];
            return ta != tb ? ta > tb : a.device < b.device;
        }
        return false;
    });
    out += fmt::format("{:<22} {:<26} {:>9} {:>10} {:>9} {:>9} {:>9} {:>7}\n", "DEVICE", "POINT", "CALLS/s", "BYTES/s",
                       "P50", "P99", "MAX", "CPU");
    size_t n = 0;
    for (auto &r : rows) {
        if (o.max_rows && n >= o.max_rows)
            break;
        const PointInfo *pi = s.point(r.point);
        bool timed = r.hist.timed();
        std::string p50 = timed ? units::ns(r.hist.percentile_ns(0.5)) : "-";
        std::string p99 = timed ? units::ns(r.hist.percentile_ns(0.99)) : "-";
        std::string mx = timed ? units::ns(double(r.hist.max_ns)) : "-";
        std::string cpu = timed ? units::pct(clamp_share(r.hist.sum_ns / (dur * 1e9 * std::max(1, s.ncpus)))) : "-";
        std::string name = r.point == kTotalPoint ? "= total (outermost)" : esc(r.point);
        if (pi && !pi->timed && r.point != kTotalPoint)
            name += " (count)";
        std::string bytes = r.hist.bytes ? units::bytes(r.hist.bytes / dur) : "-";
        out += fmt::format("{:<22} {:<26} {:>9} {:>10} {:>9} {:>9} {:>9} {:>7}", esc(r.device).substr(0, 22),
                           name.substr(0, 26), units::count(r.hist.count / dur), bytes, p50, p99, mx, cpu);
        if (r.hist.errors)
            out += fmt::format("  errors={}", r.hist.errors);
        if (r.hist.entries && r.hist.count)
            out += fmt::format("  entries/call={}", units::count(double(r.hist.entries) / double(r.hist.count)));
        out += "\n";
        n++;
    }
    if (rows.empty())
        out += "(no events)\n";
    out += render_network(s);
    out += render_counter_warnings(s.counters);
    return out;
}

std::string render_network(const Snapshot &s)
{
    std::string out;
    auto net = net_by_device(s);
    std::erase_if(net, [](const NetDeviceTraffic &t) { return t.packets() == 0 && t.maps == 0; });
    if (!net.empty()) {
        double pps = 0;
        for (auto &t : net)
            pps += t.packets_per_s;
        out += fmt::format("network: {} packets/s on {} device{}; per packet, the DMA-API maps and unmaps and the "
                           "CPU time in IOMMU/DMA paths\n",
                           units::count(pps), net.size(), net.size() == 1 ? "" : "s");
        out += fmt::format("{:<22} {:<26} {:>9} {:>9} {:>9} {:>9} {:>9}\n", "DEVICE", "INTERFACES", "PACKETS/s", "RX/s",
                           "MAPS/PKT", "UNMAP/PKT", "CPU/PKT");
        double dur = s.duration_s > 0 ? s.duration_s : 1;
        for (auto &t : net) {
            double pk = double(t.packets());
            out += fmt::format("{:<22} {:<26} {:>9} {:>9} {:>9} {:>9} {:>9}\n", esc(t.device).substr(0, 22),
                               esc(join_some(t.ifaces, 2, ",")).substr(0, 26), units::count(t.packets_per_s),
                               units::count(t.rx_packets / dur), units::ratio(t.maps_per_packet),
                               units::ratio(pk > 0 ? t.unmaps / pk : std::nan("")),
                               pk > 0 ? units::ns(t.cpu_ns_per_packet) : "-");
        }
    }
    const Counters &c = s.counters;
    if (c.softirq_nested)
        out += fmt::format("nesting: {} softirqs completed {} probed calls inside a task's own probed call on their "
                           "CPU (counted once, for the softirq's device)\n",
                           c.softirq_nested, c.softirq_nested_calls);
    return out;
}

namespace {
void hist_block(std::string &out, const Hist &h)
{
    int lo = -1, hi = -1;
    uint64_t mx = 0;
    for (int i = 0; i < kBuckets; i++)
        if (h.buckets[i]) {
            if (lo < 0)
                lo = i;
            hi = i;
            mx = std::max(mx, h.buckets[i]);
        }
    if (lo < 0) {
        out += fmt::format("     (count only: {} calls, no latency)\n", h.count);
        return;
    }
    out += fmt::format("{:>20}{:<18}: {:<9}{}\n", "nsecs", "", "count", "distribution");
    const int width = 40;
    for (int i = lo; i <= hi; i++) {
        uint64_t c = h.buckets[i];
        int stars = mx ? int((c * width + mx - 1) / mx) : 0;
        if (c == 0)
            stars = 0;
        std::string hi_s = i == kBuckets - 1 ? "inf" : std::to_string(bucket_hi(i) - 1);
        out += fmt::format("{:>20} -> {:<14}: {:<9}|{:<{}}|\n", bucket_lo(i), hi_s, c, std::string(stars, '*'),
                           width);
    }
    out += fmt::format("     count {}  avg {}  p50 {}  p99 {}  max {}\n", h.count, units::ns(h.mean_ns()),
                       units::ns(h.percentile_ns(0.5)), units::ns(h.percentile_ns(0.99)), units::ns(double(h.max_ns)));
}
}  // namespace

std::string render_histograms(const Snapshot &s, bool per_cpu)
{
    std::string out;
    if (per_cpu) {
        for (auto &r : by_cpu(s)) {
            out += fmt::format("\npoint = {}  cpu = {}\n", esc(r.point), r.cpu);
            hist_block(out, r.hist);
        }
    } else {
        for (auto &r : by_device(s)) {
            out += fmt::format("\npoint = {}  device = {}\n", esc(r.point), esc(r.device));
            hist_block(out, r.hist);
        }
    }
    if (out.empty())
        out = "(no events)\n";
    out += render_counter_warnings(s.counters);
    return out;
}

std::string render_plan_text(const std::vector<Attachment> &plan, const std::string &kernel)
{
    std::string out = fmt::format("attach plan for kernel {}\n", esc(kernel));
    out += fmt::format("{:<28} {:<12} {:<34} {:<11} {}\n", "POINT", "CATEGORY", "SYMBOL", "METHOD", "REASON");
    int n = 0, timed = 0;
    for (auto &a : plan) {
        std::string method = to_string(a.method);
        if (a.method != Method::Unavailable && !a.attached)
            method += "?";
        out += fmt::format("{:<28} {:<12} {:<34} {:<11} {}\n", esc(a.point), to_string(a.category),
                           a.symbol.empty() ? "-" : esc(a.symbol), method, esc(a.reason));
        n += a.attached;
        timed += a.attached && (a.method == Method::Fentry || a.method == Method::Kprobe);
    }
    out += fmt::format("{} attached ({} with latency), {} entries\n", n, timed, plan.size());
    return out;
}

}  // namespace iommuprof
