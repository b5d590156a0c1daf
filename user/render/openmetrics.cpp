// Prometheus text format / OpenMetrics export; see include/iommuprof/openmetrics.hpp
// and docs/openmetrics.md.
#include "iommuprof/openmetrics.hpp"
#include "iommuprof/render.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include <fmt/core.h>

#include "iommuprof/profile.hpp"

namespace iommuprof {

namespace {


// Double in the shortest form that reads back exactly; integers stay integers.
std::string num(double v)
{
    if (std::isnan(v))
        return "NaN";
    if (std::isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", v);
}

class Writer {
public:
    std::string out;

    void family(const char *name, const char *type, const char *help)
    {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    }
    // labels: pairs of name, value
    void sample(const std::string &name, const std::vector<std::pair<const char *, std::string>> &labels,
                const std::string &value)
    {
        out += name;
        if (!labels.empty()) {
            out += '{';
            bool first = true;
            for (auto &[k, v] : labels) {
                if (!first)
                    out += ',';
                first = false;
                out += k;
                out += "=\"";
                out += om_escape_label(v);
                out += '"';
            }
            out += '}';
        }
        out += ' ';
        out += value;
        out += '\n';
    }
    void sample(const std::string &name, const std::vector<std::pair<const char *, std::string>> &labels,
                uint64_t value)
    {
        sample(name, labels, std::to_string(value));
    }
};

struct Series {
    std::string point;
    Category category;
    bool timed;
    std::string device;
    int cpu;  // -1: summed over CPUs
    Hist hist;
};

std::vector<Series> collect(const Snapshot &snap, bool per_cpu)
{
    std::map<std::string, size_t> order;
    for (size_t i = 0; i < snap.points.size(); i++)
        order.emplace(snap.points[i].name, i);
    std::map<std::tuple<size_t, std::string, int>, Series> m;
    for (const Cell &c : snap.cells) {
        auto it = order.find(c.point);
        size_t idx = it == order.end() ? snap.points.size() : it->second;
        int cpu = per_cpu ? c.cpu : -1;
        auto [pos, fresh] = m.try_emplace({idx, c.device, cpu});
        Series &s = pos->second;
        if (fresh) {
            const PointInfo *pi = snap.point(c.point);
            s.point = c.point;
            s.category = pi ? pi->category : Category::DmaApi;
            s.timed = pi ? pi->timed : false;
            s.device = c.device;
            s.cpu = cpu;
        }
        s.hist += c.hist;
    }
    std::vector<Series> v;
    v.reserve(m.size());
    for (auto &[k, s] : m)
        v.push_back(std::move(s));
    return v;
}

std::vector<std::pair<const char *, std::string>> labels_of(const Series &s)
{
    std::vector<std::pair<const char *, std::string>> l{
        {"point", s.point}, {"category", to_string(s.category)}, {"device", s.device}};
    if (s.cpu >= 0)
        l.emplace_back("cpu", std::to_string(s.cpu));
    return l;
}

const char *tri(const std::optional<bool> &b)
{
    if (!b)
        return "unknown";
    return *b ? "true" : "false";
}

// The labels of iommuprof_host_info (top, report) and iommuprof_facts_info (inspect).
std::vector<std::pair<const char *, std::string>> setup_labels(const HostFacts &h)
{
    return {{"kernel", h.kernel.release},
            {"vendor", h.iommu.vendor},
            {"default_domain", h.iommu.default_domain},
            {"dma_policy", h.iommu.dma_policy},
            {"passthrough_requested", tri(h.kernel.wants_passthrough)},
            {"strict_requested", tri(h.kernel.wants_strict)}};
}

}  // namespace

std::string om_escape_label(const std::string &v)
{
    std::string out;
    out.reserve(v.size());
    for (size_t i = 0; i < v.size();) {
        size_t n = utf8_seq_len(v, i);
        if (n == 0) {
            out += '?';
            i++;
            continue;
        }
        char c = v[i];
        if (n == 1 && c == '\\')
            out += "\\\\";
        else if (n == 1 && c == '"')
            out += "\\\"";
        else if (n == 1 && c == '\n')
            out += "\\n";
        else if ((n == 1 && (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)) ||
                 (n == 2 && static_cast<unsigned char>(c) == 0xc2 && static_cast<unsigned char>(v[i + 1]) < 0xa0))
            out += '?';  // no control character reaches a textfile (or the terminal of report --openmetrics)
        else
            out.append(v, i, n);
        i += n;
    }
    return out;
}

std::string om_bucket_le(int i)
{
    if (i >= kBuckets - 1)
        return "+Inf";
    // Bucket i holds [2^i, 2^(i+1)) ns: its upper bound in seconds.
    return num(static_cast<double>(bucket_hi(i)) / 1e9);
}

std::string render_openmetrics(const Snapshot &snap, const HostFacts &host, const OpenMetricsOptions &opts)
{
    Writer w;
    std::vector<Series> series = collect(snap, opts.per_cpu);

    w.family("iommuprof_calls_total", "counter",
             "Calls of a DMA-mapping or IOMMU kernel function (point) per device and CPU. "
             "point=\"total\" counts outermost calls only.");
    for (auto &s : series)
        w.sample("iommuprof_calls_total", labels_of(s), s.hist.count);

    w.family("iommuprof_errors_total", "counter", "Calls that returned an error.");
    for (auto &s : series)
        w.sample("iommuprof_errors_total", labels_of(s), s.hist.errors);

    w.family("iommuprof_bytes_total", "counter", "Bytes mapped or unmapped, where the point carries a size.");
    for (auto &s : series)
        w.sample("iommuprof_bytes_total", labels_of(s), s.hist.bytes);

    w.family("iommuprof_latency_seconds", "histogram",
             "Time spent in one call (timed points only; log2 buckets). "
             "rate(_sum) / iommuprof_cpus with point=\"total\" is the CPU share.");
    for (auto &s : series) {
        if (!s.timed)
            continue;
        auto l = labels_of(s);
        l.emplace_back("le", "");
        uint64_t cum = 0;
        for (int i = 0; i < kBuckets; i++) {
            // Saturating (like the Hist sums): cumulative buckets never decrease.
            cum = sat_add(cum, s.hist.buckets[i]);
            // Empty low buckets below the first sample add nothing; the
            // full set is kept so every series has the same le values.
            l.back().second = om_bucket_le(i);
            w.sample("iommuprof_latency_seconds_bucket", l, cum);
        }
        l.pop_back();
        // _count is the bucket total so that it equals the +Inf bucket even
        // if a counter read raced with an update.
        w.sample("iommuprof_latency_seconds_sum", l, num(static_cast<double>(s.hist.sum_ns) / 1e9));
        w.sample("iommuprof_latency_seconds_count", l, cum);
    }

    w.family("iommuprof_latency_max_seconds", "gauge", "Longest single call seen (timed points only).");
    for (auto &s : series)
        if (s.timed)
            w.sample("iommuprof_latency_max_seconds", labels_of(s), num(static_cast<double>(s.hist.max_ns) / 1e9));

    w.family("iommuprof_probe_anomalies_total", "counter",
             "Kernel-side overflow and anomaly counters: non-zero means some events were not recorded.");
    const std::pair<const char *, uint64_t> anomalies[] = {
        {"hist_full", snap.counters.hist_full},
        {"devname_full", snap.counters.devname_full},
        {"ctx_full", snap.counters.ctx_full},
        {"depth_overflow", snap.counters.depth_overflow},
        {"unmatched_exit", snap.counters.unmatched_exit},
        {"dropped_frames", snap.counters.dropped_frames},
        {"migrated", snap.counters.migrated},
        {"recursion_misses", snap.counters.recursion_misses},
    };
    for (auto &[kind, v] : anomalies)
        w.sample("iommuprof_probe_anomalies_total", {{"kind", kind}}, v);

    w.family("iommuprof_softirq_nested_total", "counter",
             "Softirqs that completed probed calls inside a task's own probed call on their CPU.");
    w.sample("iommuprof_softirq_nested_total", {}, snap.counters.softirq_nested);
    w.family("iommuprof_softirq_nested_calls_total", "counter", "The probed calls those softirqs completed.");
    w.sample("iommuprof_softirq_nested_calls_total", {}, snap.counters.softirq_nested_calls);
    if (!snap.net.empty()) {
        w.family("iommuprof_network_packets_total", "counter",
                 "Packets of the network interfaces that sit on a device, by direction: divide a device's "
                 "iommuprof_calls_total or CPU seconds by them for the cost per packet.");
        for (const NetIface &n : snap.net)
            for (auto [dir, v] : {std::pair{"rx", n.rx_packets}, std::pair{"tx", n.tx_packets}})
                w.sample("iommuprof_network_packets_total",
                         {{"device", n.device}, {"interface", n.name}, {"netns", n.netns}, {"direction", dir}}, v);
    }

    if (opts.plan) {
        w.family("iommuprof_probe_attached", "gauge", "1 when the probe point is attached, 0 when unavailable.");
        for (const Attachment &a : *opts.plan)
            w.sample("iommuprof_probe_attached",
                     {{"point", a.point}, {"category", to_string(a.category)}, {"method", to_string(a.method)}},
                     a.attached ? 1 : 0);
    }

    w.family("iommuprof_profile_duration_seconds", "gauge", "Wall time covered by these counters.");
    w.sample("iommuprof_profile_duration_seconds", {}, num(snap.duration_s));
    w.family("iommuprof_cpus", "gauge", "Online CPUs during the profile.");
    w.sample("iommuprof_cpus", {}, static_cast<uint64_t>(std::max(snap.ncpus, 0)));

    w.family("iommuprof_host_info", "gauge", "IOMMU setup of the host; the value is always 1.");
    w.sample("iommuprof_host_info", setup_labels(host), 1);
    w.family("iommuprof_vfio_devices", "gauge", "Devices bound to vfio-pci.");
    w.sample("iommuprof_vfio_devices", {}, static_cast<uint64_t>(host.vfio_devices.size()));

    if (!opts.label.empty()) {
        w.family("iommuprof_profile_info", "gauge", "Label of the saved profile; the value is always 1.");
        w.sample("iommuprof_profile_info", {{"label", opts.label}}, 1);
    }
    w.out += "# EOF\n";
    return std::move(w.out);
}

std::string render_host_openmetrics(const HostFacts &h)
{
    Writer w;
    auto b = [](bool v) -> uint64_t { return v ? 1 : 0; };
    w.family("iommuprof_facts_info", "gauge", "IOMMU setup of the host (iommuprof inspect); the value is always 1.");
    auto info = setup_labels(h);
    info.emplace_back("strict_forced", h.iommu.strict_forced ? "true" : "false");
    w.sample("iommuprof_facts_info", info, 1);
    // State sets: every state is always present, 1 for the current one, so
    // that a change is a change of value (changes(), == 0) and not a series
    // appearing.
    w.family("iommuprof_facts_default_domain", "gauge",
             "1 for the host's default domain (translated, passthrough, mixed, none), 0 for the others.");
    for (const char *d : {"translated", "passthrough", "mixed", "none"})
        w.sample("iommuprof_facts_default_domain", {{"domain", d}}, b(h.iommu.default_domain == d));
    w.family("iommuprof_facts_dma_policy", "gauge",
             "1 for the invalidation policy of the translated groups (strict, lazy; none: nothing translated or groups differ), 0 for the others.");
    for (const char *p : {"strict", "lazy", "none"})
        w.sample("iommuprof_facts_dma_policy", {{"policy", p}},
                 b(h.iommu.dma_policy == p || (h.iommu.dma_policy.empty() && std::string(p) == "none")));
    w.family("iommuprof_facts_cmdline_param", "gauge",
             "An IOMMU-related kernel command-line parameter as written; the value is always 1.");
    // A parameter given twice (two GRUB variables both adding intel_iommu=on)
    // is one series: node_exporter drops duplicated series.
    std::set<std::pair<std::string, std::string>> params;
    for (auto &p : h.kernel.iommu_params)
        if (params.emplace(p.key, p.value).second)
            w.sample("iommuprof_facts_cmdline_param", {{"key", p.key}, {"value", p.value}}, 1);
    w.family("iommuprof_facts_iommu_active", "gauge", "1 when an IOMMU unit is registered and groups have a default domain.");
    w.sample("iommuprof_facts_iommu_active", {}, b(h.iommu.active));
    std::map<std::string, uint64_t> units;
    for (auto &u : h.iommu.units)
        units[u.vendor]++;
    w.family("iommuprof_facts_iommu_units", "gauge", "IOMMU units in /sys/class/iommu, by vendor.");
    for (auto &[v, n] : units)
        w.sample("iommuprof_facts_iommu_units", {{"vendor", v}}, n);
    w.family("iommuprof_facts_groups", "gauge", "IOMMU groups by default-domain type (DMA, DMA-FQ, identity, ...).");
    for (auto &[t, n] : h.iommu.group_types)
        w.sample("iommuprof_facts_groups", {{"type", t}}, static_cast<uint64_t>(std::max(n, 0)));
    uint64_t mixed = 0, shared = 0;
    for (auto &g : h.groups) {
        mixed += b(g.mixed);
        shared += b(g.vfio_shared);
    }
    w.family("iommuprof_facts_mixed_groups", "gauge", "Groups whose devices cannot be isolated from each other.");
    w.sample("iommuprof_facts_mixed_groups", {}, mixed);
    w.family("iommuprof_facts_vfio_devices", "gauge", "Devices bound to vfio-pci.");
    w.sample("iommuprof_facts_vfio_devices", {}, static_cast<uint64_t>(h.vfio_devices.size()));
    w.family("iommuprof_facts_vfio_shared_groups", "gauge",
             "Groups where a vfio-pci device shares the group with a device bound to a host driver (not viable).");
    w.sample("iommuprof_facts_vfio_shared_groups", {}, shared);
    w.family("iommuprof_facts_external_devices", "gauge", "PCI devices behind external-facing (removable) ports.");
    w.sample("iommuprof_facts_external_devices", {}, static_cast<uint64_t>(h.external_devices.size()));
    // Unknown facts are left out rather than given a made-up value.
    w.family("iommuprof_facts_irq_remapping", "gauge", "1 when interrupt remapping is enabled, 0 when not (absent: unknown).");
    if (h.irq_remapping.enabled)
        w.sample("iommuprof_facts_irq_remapping", {}, b(*h.irq_remapping.enabled));
    w.family("iommuprof_facts_swiotlb_present", "gauge", "1 when a swiotlb bounce-buffer pool exists (absent: unknown).");
    if (h.swiotlb.present)
        w.sample("iommuprof_facts_swiotlb_present", {}, b(*h.swiotlb.present));
    w.family("iommuprof_facts_swiotlb_size_bytes", "gauge", "Size of the default swiotlb pool.");
    if (h.swiotlb.size_bytes)
        w.sample("iommuprof_facts_swiotlb_size_bytes", {}, *h.swiotlb.size_bytes);
    w.family("iommuprof_facts_swiotlb_used_slabs", "gauge", "swiotlb slabs in use (debugfs io_tlb_used).");
    if (h.swiotlb.used_slabs)
        w.sample("iommuprof_facts_swiotlb_used_slabs", {}, *h.swiotlb.used_slabs);
    w.family("iommuprof_facts_swiotlb_slabs", "gauge", "swiotlb slabs in all (debugfs io_tlb_nslabs).");
    if (h.swiotlb.total_slabs)
        w.sample("iommuprof_facts_swiotlb_slabs", {}, *h.swiotlb.total_slabs);
    w.family("iommuprof_facts_thunderbolt_dma_protection", "gauge",
             "1 when the Thunderbolt/USB4 domains rely on the IOMMU for DMA protection (absent: no domain or unknown).");
    if (h.thunderbolt.iommu_dma_protection)
        w.sample("iommuprof_facts_thunderbolt_dma_protection", {}, b(*h.thunderbolt.iommu_dma_protection));
    bool log_read = !h.log.source.empty();
    w.family("iommuprof_facts_kernel_log_read", "gauge",
             "1 when the kernel log was read; without it the fault counts are absent.");
    w.sample("iommuprof_facts_kernel_log_read", {}, b(log_read));
    w.family("iommuprof_facts_faults", "gauge", "IOMMU fault messages in the kernel log (since boot, as far as the log reaches).");
    if (log_read)
        w.sample("iommuprof_facts_faults", {}, h.fault_count);
    w.family("iommuprof_facts_device_faults", "gauge",
             "IOMMU fault messages in the kernel log per device ([unknown]: no device named; [other]: beyond 256 devices).");
    if (log_read)
        for (auto &[dev, n] : h.fault_counts)
            w.sample("iommuprof_facts_device_faults", {{"device", dev.empty() ? "[unknown]" : dev}}, n);
    w.family("iommuprof_facts_warnings", "gauge", "Facts that could not be read (iommuprof inspect lists them).");
    w.sample("iommuprof_facts_warnings", {}, static_cast<uint64_t>(h.warnings.size()));
    w.out += "# EOF\n";
    return std::move(w.out);
}

void write_openmetrics_file(const std::string &path, const Snapshot &snap, const HostFacts &host,
                            const OpenMetricsOptions &opts)
{
    write_file_atomic(path, render_openmetrics(snap, host, opts));
}

}  // namespace iommuprof
