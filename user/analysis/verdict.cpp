// The verdict (docs/verdict.md): pure function of host facts, an optional
// snapshot and thresholds.
//
// Saving estimate under iommu=pt. The snapshot has, per (point, device, cpu),
// the time of every call and, in the "total" pseudo point, the time of
// outermost calls only (each nested stack counted once). Per (device, cpu):
//   - "[vfio:*]" devices (VFIO map/unmap and everything nested in it): 0 saved;
//     VFIO domains stay translated under pt.
//   - "[flush-queue]" (the lazy-mode flush timer and what nests in it): all of
//     its outermost time is saved; there is no flush queue under pt.
//   - any other device: outermost calls are DMA-API calls (dma_map_*,
//     dma_unmap_*), whose translation-only children are the dma-iommu layer
//     (iommu_dma_map/unmap/_sg: IOVA allocation, page-table updates and
//     invalidation all nest inside it). saved = min(total, time in dma-iommu
//     points); what remains (total - saved) is the DMA API's own cost, taken
//     as the cost dma-direct would have under pt. When the dma-iommu points
//     were not timed, the largest single translation-only point stands in
//     (a lower bound: translation points nest, so they cannot be summed).
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include <fmt/core.h>

#include "iommuprof/verdict.hpp"
#include "iommuprof/units.hpp"
#include "iommuprof/strings.hpp"

namespace iommuprof {

namespace {

constexpr double kEps = 1e-12;

bool starts_with(const std::string &s, const char *p) { return s.rfind(p, 0) == 0; }
bool is_vfio_dev(const std::string &d) { return starts_with(d, "[vfio:"); }
bool is_fq_dev(const std::string &d) { return d == "[flush-queue]"; }

// "CPU 3"; "no CPU" when no cell named one (the hottest CPU is -1 then).
std::string cpu_name(int cpu) { return cpu < 0 ? std::string("no CPU") : fmt::format("CPU {}", cpu); }

struct Acc {
    double total = 0;
    double dmaiommu = 0;
    double dmaiommu_sg = 0;  // of dmaiommu: scatter-gather calls
    uint64_t sg_entries = 0; // their scatterlist entries
    std::map<std::string, double> trans;  // other translation-only points
};

// "0000:03:00.0 (vfio-pci, 8086:10fb, group 9)"
std::string describe(const HostFacts &h, const std::string &dev)
{
    const IommuGroup *g = h.group_of(dev);
    if (!g)
        return dev;
    for (auto &d : g->devices)
        if (d.name == dev) {
            std::vector<std::string> bits;
            if (!d.driver.empty())
                bits.push_back(d.driver);
            if (!d.id().empty())
                bits.push_back(d.id());
            bits.push_back("group " + std::to_string(g->id) + (g->type.empty() ? "" : " " + g->type));
            return dev + " (" + join_some(bits) + ")";
        }
    return dev;
}

// dma-direct per scatterlist entry and call, as a fraction of the calibrated
// probe pair cost. Measured in the lab (Debian 6.12, -icount, Intel lazy and
// strict, 128 KiB reads on the identity path with the entries counted;
// docs/accuracy.md): the fraction carries the host's speed from one short
// kernel path (the probe pair) to another (dma-direct's loop).
constexpr double kDirectEntryPerFentryPair = 0.044;
constexpr double kDirectEntryPerKprobePair = 0.029;

}  // namespace

std::pair<double, std::string> direct_entry_cost(const std::vector<Calibration> &calibration)
{
    const Calibration *use = nullptr;
    for (auto &c : calibration)
        if (c.pair_ns > 0 && (c.method == "fentry" || (c.method == "kprobe" && !use)))
            use = &c;
    if (!use)
        return {0.0, ""};
    double f = use->method == "fentry" ? kDirectEntryPerFentryPair : kDirectEntryPerKprobePair;
    return {f * use->pair_ns, fmt::format("{:.3f} × the {} probe pair ({})", f, use->method, units::ns(use->pair_ns))};
}

VerdictNumbers verdict_numbers(const Snapshot &s)
{
    VerdictNumbers n;
    n.measured = true;
    n.duration_s = s.duration_s;
    n.ncpus = s.ncpus;
    // Shares of all CPUs' time (ns over ncpus x duration), within [0, 1].
    const double all_ns = s.duration_s > 0 && s.ncpus > 0 ? s.duration_s * 1e9 * s.ncpus : 0;

    auto points = by_point(s);
    auto total_it = points.find(kTotalPoint);
    Hist total = total_it == points.end() ? Hist{} : total_it->second;
    n.total_ns = 0;
    for (auto &c : s.cells)
        if (c.point == kTotalPoint)
            n.total_ns += c.hist.clean_sum_ns();
    n.timed = total.sum_ns > 0;
    for (auto &p : s.points)
        if (p.timed && p.category != Category::Total && points.count(p.name) && points[p.name].sum_ns > 0)
            n.timed = true;

    // Events: outermost calls; with counts only, the DMA-API calls.
    n.events = total.count;
    if (n.events == 0)
        for (auto &p : s.points)
            if (p.category == Category::DmaApi && points.count(p.name))
                n.events = sat_add(n.events, points[p.name].count);
    n.calls_per_s = s.duration_s > 0 ? double(n.events) / s.duration_s : 0;

    CpuShare cs = cpu_share(s);
    n.total_share_all = cs.all_cpus;
    n.total_share_hottest = cs.hottest_cpu;
    n.total_hottest_cpu = cs.hottest;

    bool dmaiommu_timed = false;
    for (auto &p : s.points) {
        if (p.category == Category::DmaIommu && p.timed)
            dmaiommu_timed = true;
        if (p.category == Category::DmaApi && p.timed)
            n.dma_api_timed = true;
    }

    // The points by name, looked up once per cell (not a scan of the points).
    std::map<std::string, const PointInfo *, std::less<>> info;
    for (auto &p : s.points)
        info.emplace(p.name, &p);

    std::map<std::pair<std::string, int>, Acc> acc;
    // Interrupted calls (another context's probed calls ran inside them on their
    // CPU) carry that context's unprobed work: the estimate replaces them by the
    // mean of the uninterrupted calls (Hist::clean_sum_ns).
    for (auto &c : s.cells) {
        if (c.point == kTotalPoint) {
            acc[{c.device, c.cpu}].total += c.hist.clean_sum_ns();
            continue;
        }
        auto pit = info.find(c.point);
        if (pit == info.end())
            continue;
        const PointInfo *pi = pit->second;
        if (pi->category == Category::Fault)
            n.faults_seen = sat_add(n.faults_seen, c.hist.count);
        if (pi->category == Category::DmaIommu) {
            Acc &a = acc[{c.device, c.cpu}];
            double ns = c.hist.clean_sum_ns();
            a.dmaiommu += ns;
            if (c.point.size() > 3 && c.point.compare(c.point.size() - 3, 3, "_sg") == 0) {
                a.dmaiommu_sg += ns;
                a.sg_entries = sat_add(a.sg_entries, c.hist.entries);
            }
        }
        else if (translation_only(pi->category))
            acc[{c.device, c.cpu}].trans[c.point] += c.hist.clean_sum_ns();
    }
    std::tie(n.direct_entry_ns, n.direct_entry_model) = direct_entry_cost(s.calibration);
    std::map<int, double> saving_cpu;
    for (auto &[key, a] : acc) {
        const std::string &dev = key.first;
        double saved = 0;
        if (is_vfio_dev(dev)) {
            n.vfio_ns += a.total;
        } else if (is_fq_dev(dev)) {
            saved = a.total;
        } else {
            double t = a.dmaiommu;
            if (t <= 0) {
                for (auto &[p, ns] : a.trans)
                    t = std::max(t, ns);
                // (with the DMA API standing in for an untimed layer and nothing nested
                // timed, t is 0: a lower bound as well)
                if ((t > 0 || a.total > 0) && !dmaiommu_timed)
                    n.saving_lower_bound = true;
            }
            // What dma-direct would still do for these lists under pt.
            double direct = std::min(a.dmaiommu_sg, double(a.sg_entries) * n.direct_entry_ns);
            n.sg_entries = sat_add(n.sg_entries, a.sg_entries);
            double upto = std::min(a.total, t);
            direct = std::min(direct, upto);
            saved = upto - direct;
            n.direct_ns += direct;
            if (a.dmaiommu - direct > 0)
                n.saving_sg_ns += saved * ((a.dmaiommu_sg - direct) / (a.dmaiommu - direct));
        }
        n.saving_ns += saved;
        saving_cpu[key.second] += saved;
    }
    n.residual_ns = std::max(0.0, n.total_ns - n.saving_ns - n.vfio_ns);
    if (all_ns > 0) {
        double dur_ns = s.duration_s * 1e9;
        n.saving_share_all = clamp_share(n.saving_ns / all_ns);
        for (auto &[cpu, ns] : saving_cpu) {
            double f = clamp_share(ns / dur_ns);
            if (n.saving_hottest_cpu < 0 || f > n.saving_share_hottest) {
                n.saving_share_hottest = f;
                n.saving_hottest_cpu = cpu;
            }
        }
    }
    // Invalidation: flush points nest (cache_tag_flush_range -> qi_submit_sync),
    // so the largest one is a lower bound of the time spent flushing.
    for (auto &p : s.points)
        if (p.category == Category::Flush && points.count(p.name))
            n.flush_ns = std::max(n.flush_ns, double(points[p.name].sum_ns));
    n.flush_fraction = n.saving_ns > 0 ? std::min(1.0, n.flush_ns / n.saving_ns) : 0;

    // The sampler: share of all samples whose stack is in translation-only paths.
    if (s.samples && s.samples->sum().total > 0) {
        const SampleStats &ss = *s.samples;
        SampleCounts c = ss.sum();
        uint64_t denom = ss.denominator(s.duration_s, s.ncpus);
        n.sampled = true;
        n.sample_event = ss.event;
        n.samples = c.total;
        n.samples_translation = c.translation;
        n.samples_dma_api = c.dma_api;
        n.samples_profiler = c.profiler;
        double p = clamp_share(double(c.translation) / double(denom));
        n.sampled_share_all = p;
        n.sampled_ci95 = share_ci95(c.translation, denom);
        for (auto &[cpu, k] : ss.cpus) {
            uint64_t kd = ss.cpu_denominator(cpu, s.duration_s);
            double f = kd ? clamp_share(double(k.translation) / double(kd)) : 0;
            if (n.sampled_hottest_cpu < 0 || f > n.sampled_share_hottest) {
                n.sampled_share_hottest = f;
                n.sampled_hottest_cpu = cpu;
            }
        }
        if (!n.timed) {
            // No timed probe (--sample, or a kernel without fentry and kprobes): the
            // sampler is the estimate; DMA-path samples stand in for events.
            n.timed = true;
            n.saving_from_samples = true;
            n.saving_share_all = n.sampled_share_all;
            n.saving_share_hottest = n.sampled_share_hottest;
            n.saving_hottest_cpu = n.sampled_hottest_cpu;
            n.saving_ns = p * s.duration_s * 1e9 * std::max(1, s.ncpus);
            n.total_share_all = clamp_share(double(sat_add(c.translation, c.dma_api)) / double(denom));
            n.total_ns = n.total_share_all * s.duration_s * 1e9 * std::max(1, s.ncpus);
            n.residual_ns = std::max(0.0, n.total_ns - n.saving_ns);
            n.events = sat_add(c.translation, c.dma_api);
            n.calls_per_s = 0;
        } else {
            n.disagree = std::abs(n.saving_share_all - n.sampled_share_all) > n.sampled_ci95 + 0.002;
        }
    }
    return n;
}

namespace {

void fill_evidence(Verdict &v, const HostFacts &h, const Snapshot &s)
{
    auto points = by_point(s);
    for (auto &p : s.points) {
        if (p.category == Category::Total)
            continue;
        auto it = points.find(p.name);
        if (it == points.end() || it->second.count == 0)
            continue;
        const Hist &hh = it->second;
        PointEvidence e;
        e.point = p.name;
        e.category = p.category;
        e.timed = p.timed && hh.timed();
        e.calls = hh.count;
        e.calls_per_s = s.duration_s > 0 ? double(hh.count) / s.duration_s : 0;
        if (e.timed) {
            e.p50_ns = hh.percentile_ns(0.5);
            e.p99_ns = hh.percentile_ns(0.99);
        }
        e.time_ns = double(hh.sum_ns);
        e.errors = hh.errors;
        v.points.push_back(e);
    }

    // Devices: outermost time, and the saving estimate per device. One pass
    // over the cells for the ranking; the saving and the host facts only for
    // the devices shown (kTopDevices), so the work stays linear in the cells.
    std::map<std::string, DeviceEvidence, std::less<>> devs;
    auto add = [&](const Cell &c, bool timed) {
        auto it = devs.find(c.device);
        if (it == devs.end()) {
            it = devs.emplace(c.device, DeviceEvidence{}).first;
            it->second.device = c.device;
        }
        it->second.calls = sat_add(it->second.calls, c.hist.count);
        if (timed)
            it->second.time_ns += double(c.hist.sum_ns);
    };
    for (auto &c : s.cells)
        if (c.point == kTotalPoint)
            add(c, true);
    // When nothing is timed, rank devices by DMA-API calls instead.
    if (devs.empty()) {
        std::set<std::string, std::less<>> dma_api;
        for (auto &p : s.points)
            if (p.category == Category::DmaApi)
                dma_api.insert(p.name);
        for (auto &c : s.cells)
            if (dma_api.count(c.point))
                add(c, false);
    }
    std::vector<DeviceEvidence> list;
    list.reserve(devs.size());
    for (auto &[name, d] : devs)
        list.push_back(std::move(d));
    std::stable_sort(list.begin(), list.end(), [](auto &a, auto &b) {
        if (a.time_ns != b.time_ns)
            return a.time_ns > b.time_ns;
        return a.calls > b.calls;
    });
    if (list.size() > kTopDevices)
        list.resize(kTopDevices);
    // Per-device saving, with the same rule as verdict_numbers: each shown
    // device's cells, collected in one pass.
    std::map<std::string, Snapshot, std::less<>> one;
    for (auto &d : list) {
        Snapshot &o = one[d.device];
        o.duration_s = s.duration_s;
        o.ncpus = s.ncpus;
        o.points = s.points;
        o.calibration = s.calibration;  // dma-direct's per-entry cost
    }
    for (auto &c : s.cells)
        if (auto it = one.find(c.device); it != one.end())
            it->second.cells.push_back(c);
    std::map<std::string, NetDeviceTraffic> net;
    for (auto &t : net_by_device(s))
        net[t.device] = t;
    for (auto &d : list) {
        d.saving_ns = verdict_numbers(one[d.device]).saving_ns;
        if (auto it = net.find(d.device); it != net.end()) {
            d.packets = it->second.packets();
            d.ifaces = it->second.ifaces;
        }
        if (const IommuGroup *g = h.group_of(d.device)) {
            d.group_type = g->type;
            for (auto &gd : g->devices)
                if (gd.name == d.device) {
                    d.driver = gd.driver;
                    d.id = gd.id();
                }
        }
    }
    v.top_devices = list;
}

std::string measured_line(const VerdictNumbers &n)
{
    if (!n.measured)
        return "";
    if (n.saving_from_samples)
        return fmt::format("sampled over {} ({} samples, {}): {} in translation-only paths, {} in the DMA "
                           "API's own code, of all {} CPUs' time (no function probe: times come from samples)",
                           units::seconds(n.duration_s), n.samples, n.sample_event, n.samples_translation, n.samples_dma_api,
                           n.ncpus);
    if (n.events == 0)
        return fmt::format("measured over {}: no DMA-API calls{}", units::seconds(n.duration_s),
                           n.timed ? "" : " (counted with tracepoints only: no function probe attached)");
    if (!n.timed)
        return fmt::format("measured over {}: {} DMA-API calls ({}/s), counted only (no latency: "
                           "no function probe attached)",
                           units::seconds(n.duration_s), n.events, units::count(n.calls_per_s));
    return fmt::format("measured over {}: {} outermost calls ({}/s) took {} of all {} CPUs, {} of the "
                       "busiest ({})",
                       units::seconds(n.duration_s), n.events, units::count(n.calls_per_s), units::pct(n.total_share_all), n.ncpus,
                       units::pct(n.total_share_hottest), cpu_name(n.total_hottest_cpu));
}

void add_cautions(Verdict &v, const HostFacts &h)
{
    v.cautions.push_back("iommu=pt removes the default DMA isolation of host-owned devices: a buggy or "
                         "compromised device or driver can then read and write any memory");
    if (!h.vfio_devices.empty()) {
        std::vector<std::string> d;
        for (auto &x : h.vfio_devices)
            d.push_back(describe(h, x));
        v.cautions.push_back("devices assigned to guests through VFIO (" + join_some(d) +
                             ") stay translated, but this looks like a host that runs guests: if they belong "
                             "to different tenants, weigh losing isolation for the host's own devices");
    }
    for (auto &g : h.groups)
        if (g.vfio_shared)
            v.cautions.push_back(fmt::format("group {} mixes a VFIO device with host-owned devices: they are "
                                             "not isolated from each other",
                                             g.id));
    if (!h.external_devices.empty() || !h.thunderbolt.domains.empty()) {
        std::string what = h.external_devices.empty() ? std::string("Thunderbolt/USB4 ports")
                                                       : "external-facing devices (" + join_some(h.external_devices) + ")";
        v.cautions.push_back(
            "this host has " + what +
            ": the kernel keeps devices behind external-facing ports translated even under iommu=pt, but "
            "DMA attacks through hot-plugged devices are the threat the IOMMU is there for; check "
            "/sys/bus/thunderbolt/devices/domain*/iommu_dma_protection after the change");
    }
    if (h.fault_count > 0)
        v.cautions.push_back(fmt::format("{} IOMMU fault line(s) in the kernel log (devices: {}): under iommu=pt "
                                         "such stray DMA would go unnoticed instead of being blocked",
                                         h.fault_count,
                                         h.fault_devices().empty() ? "unknown" : join_some(h.fault_devices())));
    if (v.numbers.faults_seen > 0 && h.fault_count == 0)
        v.cautions.push_back(fmt::format("{} io_page_fault event(s) during the profile: under iommu=pt such "
                                         "stray DMA would go unnoticed",
                                         v.numbers.faults_seen));
}

}  // namespace

Verdict decide(const HostFacts &h, const Snapshot *s, const Thresholds &t, const std::string &profile_error)
{
    Verdict v;
    v.thresholds = t;
    v.vendor = h.iommu.vendor;
    v.default_domain = h.iommu.default_domain;
    v.dma_policy = h.iommu.dma_policy;
    v.profile_error = profile_error;
    if (s) {
        v.numbers = verdict_numbers(*s);
        fill_evidence(v, h, *s);
    }
    const VerdictNumbers &n = v.numbers;
    std::string measured = measured_line(n);
    // Large scatter-gather I/O: under pt, dma-direct still walks every entry
    // (docs/accuracy.md). Taken off the saving when the entries were counted
    // and the calibration gives a cost; otherwise the estimate can read high.
    std::string sg_note;
    if (n.direct_ns > 0)
        sg_note = fmt::format("scatter-gather mappings: under pt, dma-direct still walks every entry of those lists; "
                              "{} for {} entries ({} each: {}, from the lab; docs/accuracy.md) is not "
                              "counted as saved",
                              units::ns(n.direct_ns), n.sg_entries, units::ns(n.direct_entry_ns), n.direct_entry_model);
    else if (n.saving_ns > 0 && n.saving_sg_ns >= 0.5 * n.saving_ns)
        sg_note = fmt::format("{} of the translation-only time is in scatter-gather mappings: under pt, dma-direct "
                              "still walks every entry of those lists, which this estimate counts as saved ({}), "
                              "so it can read high for large scatter-gather I/O (by about 20% for 128 KiB reads "
                              "in the lab; docs/accuracy.md)",
                              units::pct(n.saving_sg_ns / n.saving_ns),
                              n.sg_entries ? "no probe calibration to price an entry" : "entries not counted");
    // Network devices: the cost and the saving per packet, the figures a network host is run by.
    std::string per_packet;
    if (n.timed) {
        std::vector<std::string> pp;
        for (auto &d : v.top_devices)
            if (d.packets)
                pp.push_back(fmt::format("{} ({}) {} in DMA-mapping paths per packet, {} of it translation-only",
                                         d.device, join_some(d.ifaces, 2, ","), units::ns(d.time_ns / double(d.packets)),
                                         units::ns(d.saving_ns / double(d.packets))));
        if (!pp.empty())
            per_packet = "per packet received or sent: " + join(pp, "; ");
    }
    std::string sampled;
    if (n.sampled && !n.saving_from_samples)
        sampled = fmt::format("the sampler ({} samples, {}) puts translation-only work at {} of all CPUs: "
                              "{} the probes' {}{}{}",
                              n.samples, n.sample_event, units::pct_ci(n.sampled_share_all, n.sampled_ci95),
                              n.disagree ? "it DISAGREES with" : "it agrees with", units::pct(n.saving_share_all),
                              n.disagree ? " beyond the sampling error" : " within the sampling error",
                              n.disagree && n.sample_event == "cpu-clock" &&
                                      n.sampled_share_all < n.saving_share_all
                                  ? " (cpu-clock does not sample hardirq handlers, where NVMe completions unmap: "
                                    "without a PMU the sampler sees less)"
                                  : "");
    else if (n.saving_from_samples)
        sampled = fmt::format("sampled estimate: {} (95% interval) of all CPUs in translation-only paths{}",
                              units::pct_ci(n.sampled_share_all, n.sampled_ci95),
                              n.sample_event == "cpu-clock"
                                  ? "; a lower bound: cpu-clock cannot fire with interrupts off, so work in "
                                    "hardirq handlers (NVMe completions unmap there) is not sampled at all"
                                  : "");

    // Groups whose type could not be read leave the host undecided.
    bool unknown_types = false;
    for (auto &g : h.groups)
        if (domain_kind(g.type) == DomainKind::Unknown)
            unknown_types = true;

    // 1. Nothing is translating DMA.
    if (!h.iommu.active || (h.iommu.default_domain == "none" && !unknown_types)) {
        v.verdict = kNoTranslation;
        v.summary = "No IOMMU is translating DMA on this host: iommu=pt changes nothing.";
        if (h.iommu.units.empty() && h.groups.empty())
            v.reasons.push_back("no IOMMU unit in /sys/class/iommu and no IOMMU groups in /sys/kernel/iommu_groups");
        else if (h.groups.empty())
            v.reasons.push_back("IOMMU units are registered (" + std::to_string(h.iommu.units.size()) +
                                ") but no device is in an IOMMU group");
        else
            v.reasons.push_back("no IOMMU group has a DMA, DMA-FQ or identity default domain");
        if (!h.kernel.disabled_by.empty())
            v.reasons.push_back("the kernel command line switches the IOMMU off: " + join_some(h.kernel.disabled_by));
        for (auto &c : h.kernel.conflicts)
            v.reasons.push_back("command line: " + c);
        if (!measured.empty())
            v.reasons.push_back(n.events ? measured + "; none of it goes through an IOMMU" : measured);
        if (n.saving_ns > 0)
            v.reasons.push_back(fmt::format("yet the profile timed {} in IOMMU translation points: were the host "
                                            "facts read from the profiled machine?",
                                            units::ns(n.saving_ns)));
        if (!profile_error.empty())
            v.reasons.push_back("profiling did not run (" + profile_error + "); the host facts alone decide this");
        v.next_steps.push_back("Nothing to gain from iommu=pt here.");
        v.next_steps.push_back("If this host should have an IOMMU: enable VT-d / AMD-Vi (IOMMU) in the firmware "
                               "and check the kernel command line (intel_iommu=on on kernels that default it off; "
                               "no iommu=off, intel_iommu=off or amd_iommu=off).");
        if (n.measured && n.timed && n.total_share_hottest > 0.05)
            v.next_steps.push_back("DMA-mapping paths still cost CPU here: look at IRQ affinity and softirq "
                                   "concentration on one CPU.");
        return v;
    }

    // 2. Faults: correctness first.
    bool faults = h.fault_count > 0 || n.faults_seen > 0;
    if (faults && !t.ignore_faults) {
        v.verdict = kFixFaultsFirst;
        v.summary = "IOMMU faults were seen: this is a correctness problem, not a tuning question.";
        std::set<std::string> kinds;
        for (auto &f : h.faults)
            kinds.insert(f.kind);
        std::vector<std::string> devs;
        for (auto &d : h.fault_devices())
            devs.push_back(describe(h, d));
        if (h.fault_count > 0)
            v.reasons.push_back(fmt::format("{} IOMMU fault line(s) in the kernel log ({}){}", h.fault_count,
                                            join_some(std::vector<std::string>(kinds.begin(), kinds.end())),
                                            devs.empty() ? "" : "; devices: " + join_some(devs)));
        if (n.faults_seen > 0) {
            std::vector<std::string> pdevs;
            if (s) {
                std::set<std::string, std::less<>> fault_points;
                for (auto &p : s->points)
                    if (p.category == Category::Fault)
                        fault_points.insert(p.name);
                for (auto &r : by_device(*s))
                    if (fault_points.count(r.point))
                        // join_some() shows the first 8: only those need the host facts' description
                        pdevs.push_back((pdevs.size() < 8 ? describe(h, r.device) : r.device) +
                                        fmt::format(": {}", r.hist.count));
            }
            v.reasons.push_back(fmt::format("{} io_page_fault event(s) during the profile{}", n.faults_seen,
                                            pdevs.empty() ? "" : " (" + join_some(pdevs) + ")"));
        }
        if (!h.faults.empty())
            v.reasons.push_back("first fault: " + h.faults.front().line);
        v.next_steps.push_back("Find out why these devices DMA to addresses they were not given: driver bug, "
                               "device reset or firmware (RMRR/IVMD) ranges; check `dmesg | grep -e DMAR -e AMD-Vi "
                               "-e smmu`, driver and firmware updates.");
        v.next_steps.push_back("iommu=pt would hide these faults (the DMA would land in memory), not fix them.");
        v.next_steps.push_back("Once understood, re-run with --ignore-faults for the tuning verdict.");
        if (!measured.empty())
            v.reasons.push_back(measured);
        return v;
    }

    // 3. Already passthrough.
    if (h.iommu.default_domain == "passthrough") {
        v.verdict = kAlreadyPassthrough;
        v.summary = "The default domain is already identity (passthrough).";
        int ident = 0;
        auto it = h.iommu.group_types.find("identity");
        if (it != h.iommu.group_types.end())
            ident = it->second;
        v.reasons.push_back(fmt::format("{} IOMMU group(s) have the identity default domain", ident));
        if (h.kernel.wants_passthrough == true) {
            for (auto &p : h.kernel.iommu_params)
                if ((p.key == "iommu" && p.value.find("pt") != std::string::npos) || p.key == "iommu.passthrough") {
                    v.reasons.push_back("set on the command line: " + p.written());
                    break;
                }
        }
        std::vector<std::string> still;
        for (auto &d : h.vfio_devices)
            still.push_back(describe(h, d) + " [VFIO]");
        for (auto &g : h.groups)
            if (domain_kind(g.type) == DomainKind::Translated)
                for (auto &d : g.devices)
                    if (!d.bridge)
                        still.push_back(describe(h, d.name) + (d.removable ? " [external]" : ""));
        if (still.empty())
            v.reasons.push_back("nothing is still translated");
        else
            v.reasons.push_back("still translated: " + join_some(still, 8, "; "));
        if (n.measured && n.timed) {
            v.reasons.push_back(fmt::format("their cost in the profile: VFIO map/unmap {} ({} of all CPUs), "
                                            "translation work {} ({} of all CPUs, {} of {})",
                                            units::ns(n.vfio_ns),
                                            units::pct(n.duration_s > 0 && n.ncpus > 0
                                                    ? clamp_share(n.vfio_ns / (n.duration_s * 1e9 * n.ncpus))
                                                    : 0),
                                            units::ns(n.saving_ns), units::pct(n.saving_share_all), units::pct(n.saving_share_hottest),
                                            cpu_name(n.saving_hottest_cpu)));
        }
        if (!measured.empty())
            v.reasons.push_back(measured);
        if (!profile_error.empty())
            v.reasons.push_back("profiling did not run (" + profile_error + "); the host facts alone decide this");
        v.next_steps.push_back("Nothing more to gain from iommu=pt.");
        if (!h.vfio_devices.empty()) {
            v.next_steps.push_back("VFIO devices stay translated whatever the default: back guest memory with "
                                   "huge pages to cut IOMMU mappings and IOTLB misses" +
                                   std::string(h.hugepages.read && h.hugepages.total == 0
                                                   ? " (HugePages_Total is 0 on this host)"
                                                   : "") +
                                   ".");
        }
        v.next_steps.push_back("If DMA-heavy I/O still costs CPU, look at IRQ affinity and softirq concentration "
                               "on one CPU.");
        if (h.fault_count > 0 || n.faults_seen > 0)
            v.cautions.push_back(fmt::format("IOMMU faults seen ({} in the log, {} in the profile)", h.fault_count,
                                             n.faults_seen));
        return v;
    }

    // 4. Translated (or mixed): the profile decides.
    std::vector<std::string> need;
    if (!s) {
        need.push_back("no profile" + (profile_error.empty() ? std::string() : ": " + profile_error));
    } else {
        if (n.duration_s + kEps < t.min_seconds)
            need.push_back(fmt::format("the profile covers {}, less than the {} needed (use a longer -d)",
                                       units::seconds(n.duration_s), units::seconds(t.min_seconds)));
        if (n.events < t.min_events)
            need.push_back(fmt::format("only {} DMA-path calls in {}, at least {} are needed: run while the "
                                       "workload does DMA-heavy I/O, or longer",
                                       n.events, units::seconds(n.duration_s), t.min_events));
        if (!n.timed && n.events >= t.min_events)
            need.push_back("the calls were only counted (tracepoints): timing needs fentry/fexit or kprobes on "
                           "this kernel");
        else if (!n.timed && n.events < t.min_events && n.events > 0)
            need.push_back("and they were only counted: timing needs fentry/fexit or kprobes");
    }
    if (!need.empty()) {
        v.verdict = kInsufficientData;
        v.summary = "The host translates DMA, but the profile is not enough to judge.";
        v.reasons.push_back(fmt::format("default domain: {}{}", h.iommu.default_domain,
                                        h.iommu.dma_policy.empty() ? "" : " (" + h.iommu.dma_policy + ")"));
        for (auto &x : need)
            v.reasons.push_back(x);
        if (!measured.empty())
            v.reasons.push_back(measured);
        v.next_steps.push_back(fmt::format("Profile at least {} with at least {} DMA-path calls while the "
                                           "real workload runs: `iommuprof verdict -d 30`, or record on the "
                                           "machine and use `iommuprof verdict --from PROFILE`.",
                                           units::seconds(std::max(t.min_seconds, 10.0)), t.min_events));
        if (!s)
            v.next_steps.push_back("Profiling needs root (or CAP_BPF + CAP_PERFMON), kernel BTF and fentry or "
                                   "kprobes; `iommuprof probes` shows what can attach.");
        return v;
    }

    bool hit_all = n.saving_share_all + kEps >= t.min_share_all;
    bool hit_hot = n.saving_share_hottest + kEps >= t.min_share_hottest;
    std::string host_mode = "default domain " + h.iommu.default_domain +
                            (h.iommu.dma_policy.empty() ? "" : " (" + h.iommu.dma_policy + ")") +
                            (h.iommu.vendor.empty() ? "" : ", " + h.iommu.vendor + " IOMMU");
    std::string shares = fmt::format("estimated translation-only work (what iommu=pt would save): {} of all {} "
                                     "CPUs and {} of the busiest CPU ({}); thresholds {} / {}",
                                     units::pct(n.saving_share_all), n.ncpus, units::pct(n.saving_share_hottest),
                                     n.saving_hottest_cpu < 0 ? std::string("none")
                                                              : std::to_string(n.saving_hottest_cpu),
                                     units::pct(t.min_share_all), units::pct(t.min_share_hottest));
    if (hit_all || hit_hot) {
        v.verdict = kWorthTrying;
        v.summary = fmt::format("iommu=pt is worth trying: it would save about {} of all CPUs ({} of {}).",
                                units::pct(n.saving_share_all), units::pct(n.saving_share_hottest), cpu_name(n.saving_hottest_cpu));
        v.reasons.push_back(host_mode);
        v.reasons.push_back(shares);
        v.reasons.push_back(measured);
        if (n.dma_api_timed)
            v.reasons.push_back(fmt::format("of {} in DMA-mapping paths, {} is translation-only work, {} is the DMA "
                                            "API's own cost that remains under pt{}",
                                            units::ns(n.total_ns), units::ns(n.saving_ns), units::ns(n.residual_ns),
                                            n.vfio_ns > 0 ? ", " + units::ns(n.vfio_ns) + " is VFIO (stays translated)"
                                                          : ""));
        else
            v.reasons.push_back(fmt::format("of {} timed in DMA-mapping paths, {} is translation-only work{}; the DMA "
                                            "API's own cost, which remains under pt, was not timed (--dma-api)",
                                            units::ns(n.total_ns), units::ns(n.saving_ns),
                                            n.vfio_ns > 0 ? ", " + units::ns(n.vfio_ns) + " is VFIO (stays translated)"
                                                          : ""));
        if (n.saving_lower_bound)
            v.reasons.push_back("the dma-iommu layer was not timed: the saving is a lower bound");
        if (!per_packet.empty())
            v.reasons.push_back(per_packet);
        if (!sg_note.empty())
            v.reasons.push_back(sg_note);
        if (!sampled.empty())
            v.reasons.push_back(sampled);
        bool flush_heavy = n.flush_fraction + kEps >= t.flush_dominates;
        if (n.flush_ns > 0)
            v.reasons.push_back(fmt::format("IOTLB invalidation: at least {} ({} of the translation-only time)",
                                            units::ns(n.flush_ns), units::pct(n.flush_fraction)));
        if (h.iommu.dma_policy == "strict" && flush_heavy) {
            if (h.iommu.strict_forced)
                v.reasons.push_back("invalidation dominates, but the kernel forces strict mode on this (virtual) "
                                    "IOMMU, so iommu.strict=0 would not help");
            else
                v.next_steps.push_back(fmt::format(
                    "Try iommu.strict=0 first (lazy invalidation: flushes are batched, isolation is kept): "
                    "invalidation is {} of the translation-only time here.",
                    units::pct(n.flush_fraction)));
        }
        v.next_steps.push_back("Try a test boot with iommu=pt (x86; iommu.passthrough=1 on other architectures), "
                               "then compare throughput and CPU under the same workload, and run `iommuprof "
                               "verdict` again (it should say already-passthrough).");
        if (h.iommu.default_domain == "mixed")
            v.next_steps.push_back("Some groups are already identity; per group, "
                                   "/sys/kernel/iommu_groups/N/type can be set to identity (with the driver "
                                   "unbound) to test one device first.");
        add_cautions(v, h);
        return v;
    }

    v.verdict = kNotWorthIt;
    v.summary = fmt::format("Not worth it: the IOMMU translation paths cost only about {} of all CPUs ({} of the "
                            "busiest).",
                            units::pct(n.saving_share_all), units::pct(n.saving_share_hottest));
    v.reasons.push_back(host_mode);
    v.reasons.push_back(shares);
    v.reasons.push_back(measured);
    v.reasons.push_back(fmt::format("at most {} of CPU time per second would come back under iommu=pt",
                                    units::ns(n.duration_s > 0 ? n.saving_ns / n.duration_s : 0)));
    if (!per_packet.empty())
        v.reasons.push_back(per_packet);
    if (n.saving_lower_bound)
        v.reasons.push_back("the dma-iommu layer was not timed: the saving is a lower bound");
    if (!sg_note.empty())
        v.reasons.push_back(sg_note);
    if (!sampled.empty())
        v.reasons.push_back(sampled);
    v.next_steps.push_back("Keep the IOMMU translating: isolation costs little here.");
    v.next_steps.push_back("If I/O is CPU-bound, the usual culprits are elsewhere: IRQ affinity (are the device's "
                           "queue interrupts spread over CPUs? see /proc/interrupts), softirq work piling up on one "
                           "CPU (mpstat -P ALL %soft, /proc/softirqs), RPS/RFS and queue counts for NICs.");
    if (n.total_share_hottest > 2 * n.total_share_all && n.total_hottest_cpu >= 0 && n.ncpus > 1)
        v.next_steps.push_back(fmt::format("DMA-mapping work concentrates on CPU {} ({} of it vs {} on average): "
                                           "check that CPU's interrupt and softirq load.",
                                           n.total_hottest_cpu, units::pct(n.total_share_hottest),
                                           units::pct(n.total_share_all)));
    return v;
}

}  // namespace iommuprof
