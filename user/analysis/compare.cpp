// Before/after comparison of two profiles: pure, no I/O. docs/compare.md.
#include "iommuprof/compare.hpp"
#include "iommuprof/units.hpp"
#include "iommuprof/strings.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include <fmt/core.h>

namespace iommuprof {

// ----------------------------------------------------------------- mode ----

std::string iommu_mode(const HostFacts &h)
{
    const std::string &d = h.iommu.default_domain;
    const std::string &pol = h.iommu.dma_policy;
    if (d == "translated")
        return pol.empty() ? "translated" : fmt::format("translated ({})", pol);
    if (d == "passthrough")
        return "passthrough";
    if (d == "mixed")
        return pol.empty() ? "mixed" : fmt::format("mixed ({})", pol);
    if (d == "none" || d.empty())
        return h.iommu.active ? "unknown" : "no IOMMU";
    return "unknown";
}

// ----------------------------------------------------------- comparison ----

namespace {

constexpr Category kAllCategories[] = {Category::DmaApi, Category::DmaIommu, Category::IommuCore,
                                       Category::Iova,   Category::Flush,    Category::FlushQueue,
                                       Category::Vfio,   Category::Fault,    Category::Bounce,
                                       Category::Total};

double rel_change(double before, double after)
{
    if (before > 0)
        return after / before - 1;
    return after > 0 ? NAN : 0.0;
}

double per_s(uint64_t v, double dur) { return dur > 0 ? double(v) / dur : 0.0; }

double share_of(const Hist &h, const Snapshot &s)
{
    double denom = double(s.ncpus) * s.duration_s * 1e9;
    return denom > 0 ? clamp_share(double(h.sum_ns) / denom) : 0.0;
}

// What the rows need to know about a profile's points, looked up once: a row
// per (point, device) must not scan the plan or the cells again.
struct PointIndex {
    const Profile &p;
    std::map<std::string, const PointInfo *, std::less<>> info;
    std::map<std::string, bool, std::less<>> planned;  // point -> some plan line attached
    std::map<std::string, CpuShare> shares;           // cpu_share() of every point with cells

    explicit PointIndex(const Profile &prof) : p(prof), shares(cpu_share_by_point(prof.snap))
    {
        for (const auto &pi : p.snap.points)
            info.emplace(pi.name, &pi);
        for (const auto &a : p.plan)
            planned[a.point] = planned[a.point] || a.attached;
    }
    const PointInfo *point(const std::string &name) const
    {
        auto it = info.find(name);
        return it == info.end() ? nullptr : it->second;
    }
    // A point is attached when some plan line for it attached. Points without
    // any plan line (the "total" pseudo point, plan-less synthetic profiles)
    // count as attached when the snapshot lists them.
    bool attached(const std::string &name) const
    {
        auto it = planned.find(name);
        return it != planned.end() ? it->second : point(name) != nullptr;
    }
    double share_all(const std::string &name) const
    {
        auto it = shares.find(name);
        return it == shares.end() ? 0.0 : it->second.all_cpus;
    }
};

CompareSide side_of(const PointIndex &x, const std::string &point, const Hist &h, bool point_row)
{
    CompareSide s;
    const PointInfo *pi = x.point(point);
    s.attached = x.attached(point);
    s.timed = pi && pi->timed && s.attached;
    double dur = x.p.snap.duration_s;
    s.calls_per_s = per_s(h.count, dur);
    s.bytes_per_s = per_s(h.bytes, dur);
    s.errors_per_s = per_s(h.errors, dur);
    if (s.timed && h.timed()) {
        s.p50_ns = h.percentile_ns(0.50);
        s.p99_ns = h.percentile_ns(0.99);
        s.cpu_share = point_row ? x.share_all(point) : share_of(h, x.p.snap);
    }
    s.hist = h;
    return s;
}

void fill_changes(CompareRow &r)
{
    r.calls_change = rel_change(r.before.calls_per_s, r.after.calls_per_s);
    r.p99_change = (r.before.timed && r.after.timed) ? rel_change(r.before.p99_ns, r.after.p99_ns) : 0.0;
    r.cpu_share_change = r.after.cpu_share - r.before.cpu_share;
}

uint64_t anomalies(const Counters &c)
{
    uint64_t n = 0;
    for (uint64_t v : {c.hist_full, c.devname_full, c.ctx_full, c.depth_overflow, c.unmatched_exit, c.dropped_frames,
                       c.recursion_misses})
        n = sat_add(n, v);
    return n;
}

ProfileSummary summarize(const Profile &p)
{
    ProfileSummary s;
    s.label = p.label;
    s.created = p.created;
    s.kernel = p.host.kernel.release;
    s.mode = iommu_mode(p.host);
    for (const auto &kv : p.host.kernel.iommu_params)
        s.iommu_params.push_back(kv.written());
    s.duration_s = p.snap.duration_s;
    s.ncpus = p.snap.ncpus;
    const PointInfo *total = p.snap.point(kTotalPoint);
    if (total && total->timed)
        s.cpu = cpu_share(p.snap, kTotalPoint);
    double tr = 0;
    for (Category c : kAllCategories)
        if (translation_only(c))
            tr += per_s(sum_category(p.snap, c).count, p.snap.duration_s);
    s.translation_calls_per_s = tr;
    s.anomalies = anomalies(p.snap.counters);
    return s;
}

bool has_category(const Snapshot &s, Category c)
{
    for (const auto &pi : s.points)
        if (pi.category == c)
            return true;
    return false;
}

// Busiest timed DMA-API point of the before profile whose name matches
// `want_unmap`; "" when none.
const CompareRow *busiest_dma(const std::vector<CompareRow> &rows, bool want_unmap)
{
    const CompareRow *best = nullptr;
    for (const auto &r : rows) {
        if (!r.device.empty() || r.category != Category::DmaApi)
            continue;
        bool unmap = r.point.find("unmap") != std::string::npos;
        bool map = !unmap && r.point.find("map") != std::string::npos;
        if (want_unmap ? !unmap : !map)
            continue;
        if (!r.before.timed || !r.after.timed || r.before.p99_ns <= 0 || r.after.p99_ns <= 0)
            continue;
        if (!best || r.before.calls_per_s > best->before.calls_per_s)
            best = &r;
    }
    return best;
}

const char *moved(double before, double after)
{
    if (after < before)
        return "fell";
    if (after > before)
        return "rose";
    return "stayed";
}

std::string from_to(double before, double after, const std::string &b, const std::string &a)
{
    if (before == after || b == a)
        return fmt::format("stayed at {}", b);
    return fmt::format("{} from {} to {}", moved(before, after), b, a);
}

}  // namespace

Comparison compare_profiles(const Profile &bp, const Profile &ap)
{
    Comparison c;
    c.before = summarize(bp);
    c.after = summarize(ap);

    // ---- mode ----
    c.mode_known = c.before.mode != "unknown" && c.after.mode != "unknown";
    c.mode_changed = c.mode_known && c.before.mode != c.after.mode;

    // ---- workload: DMA-API calls per second (they remain under iommu=pt) ----
    Hist bdma = sum_category(bp.snap, Category::DmaApi);
    Hist adma = sum_category(ap.snap, Category::DmaApi);
    std::string measure = "DMA-API calls";
    if (bdma.count == 0 || adma.count == 0) {
        // No DMA-API probes on one side (the default plan times the dma-iommu
        // layer only where a group translates, the DMA API after a pt reboot):
        // outermost calls on both, one per map and one per unmap either way.
        bdma = by_point(bp.snap)[kTotalPoint];
        adma = by_point(ap.snap)[kTotalPoint];
        measure = "outermost profiled calls";
    }
    c.before.dma_calls_per_s = per_s(bdma.count, bp.snap.duration_s);
    c.after.dma_calls_per_s = per_s(adma.count, ap.snap.duration_s);
    c.before.workload_measure = c.after.workload_measure = measure;
    for (auto [sum, prof, hist] : {std::tuple{&c.before, &bp, &bdma}, std::tuple{&c.after, &ap, &adma}}) {
        const PointInfo *tp = prof->snap.point(kTotalPoint);
        if (tp && tp->timed && hist->count)
            sum->ns_per_call = double(by_point(prof->snap)[kTotalPoint].sum_ns) / double(hist->count);
    }
    c.workload_ratio = c.before.dma_calls_per_s > 0 ? c.after.dma_calls_per_s / c.before.dma_calls_per_s : NAN;
    c.workload_differs = std::isnan(c.workload_ratio) || c.workload_ratio > kWorkloadTolerance ||
                         c.workload_ratio < 1.0 / kWorkloadTolerance;

    // ---- categories ----
    for (Category cat : kAllCategories) {
        Hist hb = sum_category(bp.snap, cat), ha = sum_category(ap.snap, cat);
        if (!has_category(bp.snap, cat) && !has_category(ap.snap, cat) && hb.count == 0 && ha.count == 0)
            continue;
        CategoryRow r;
        r.category = cat;
        r.translation_only = translation_only(cat);
        r.before_calls_per_s = per_s(hb.count, bp.snap.duration_s);
        r.after_calls_per_s = per_s(ha.count, ap.snap.duration_s);
        r.before_cpu_share = share_of(hb, bp.snap);
        r.after_cpu_share = share_of(ha, ap.snap);
        r.calls_change = rel_change(r.before_calls_per_s, r.after_calls_per_s);
        c.categories.push_back(r);
    }

    // ---- rows: union of points, catalog order (before's, then after's new ones) ----
    std::vector<PointInfo> points;
    std::set<std::string> seen;
    for (const auto *snap : {&bp.snap, &ap.snap})
        for (const auto &pi : snap->points)
            if (seen.insert(pi.name).second)
                points.push_back(pi);
    // Points that only occur in cells (a plan-less synthetic snapshot).
    for (const auto *snap : {&bp.snap, &ap.snap})
        for (const auto &cell : snap->cells)
            if (seen.insert(cell.point).second)
                points.push_back({cell.point, Category::DmaApi, false});

    auto bpt = by_point(bp.snap), apt = by_point(ap.snap);
    const PointIndex bx(bp), ax(ap);
    std::map<std::string, std::map<std::string, std::pair<Hist, Hist>>> devs;
    for (const auto &pd : by_device(bp.snap))
        devs[pd.point][pd.device].first += pd.hist;
    for (const auto &pd : by_device(ap.snap))
        devs[pd.point][pd.device].second += pd.hist;

    for (const auto &pi : points) {
        CompareRow r;
        r.point = pi.name;
        r.category = pi.category;
        r.before = side_of(bx, pi.name, bpt[pi.name], true);
        r.after = side_of(ax, pi.name, apt[pi.name], true);
        fill_changes(r);
        c.rows.push_back(r);
        std::vector<CompareRow> drows;
        for (const auto &[dev, hh] : devs[pi.name]) {
            CompareRow d;
            d.point = pi.name;
            d.category = pi.category;
            d.device = dev;
            d.before = side_of(bx, pi.name, hh.first, false);
            d.after = side_of(ax, pi.name, hh.second, false);
            fill_changes(d);
            drows.push_back(d);
        }
        std::stable_sort(drows.begin(), drows.end(), [](const CompareRow &x, const CompareRow &y) {
            return std::max(x.before.calls_per_s, x.after.calls_per_s) >
                   std::max(y.before.calls_per_s, y.after.calls_per_s);
        });
        c.rows.insert(c.rows.end(), drows.begin(), drows.end());
    }

    // ---- network devices: per packet ----
    std::map<std::string, NetCompareRow> nets;
    for (auto [snap, after] : {std::pair{&bp.snap, false}, std::pair{&ap.snap, true}})
        for (const auto &t : net_by_device(*snap)) {
            NetCompareRow &r = nets[t.device];
            r.device = t.device;
            for (const auto &i : t.ifaces)
                if (std::find(r.ifaces.begin(), r.ifaces.end(), i) == r.ifaces.end())
                    r.ifaces.push_back(i);
            NetCompareSide &s = after ? r.after : r.before;
            s = {true, t.packets(), t.packets_per_s, t.maps_per_packet, t.cpu_ns_per_packet};
        }
    for (auto &[dev, r] : nets) {
        if (r.before.packets == 0 && r.after.packets == 0)
            continue;
        if (r.before.cpu_ns_per_packet > 0 && std::isfinite(r.after.cpu_ns_per_packet))
            r.cpu_per_packet_change = rel_change(r.before.cpu_ns_per_packet, r.after.cpu_ns_per_packet);
        c.net.push_back(r);
    }
    std::stable_sort(c.net.begin(), c.net.end(), [](const NetCompareRow &x, const NetCompareRow &y) {
        return std::pair{x.before.packets, x.after.packets} > std::pair{y.before.packets, y.after.packets};
    });

    // ---- warnings: loud ones first ----
    if (!c.mode_known) {
        c.warnings.push_back(fmt::format(
            "THE IOMMU MODE IS UNKNOWN for {}: cannot confirm that the mode changed between the two profiles.",
            c.before.mode == "unknown" && c.after.mode == "unknown" ? "both profiles"
            : c.before.mode == "unknown"                             ? "BEFORE"
                                                                     : "AFTER"));
    } else if (!c.mode_changed) {
        c.warnings.push_back(fmt::format(
            "THE IOMMU MODE DID NOT CHANGE: both profiles ran under '{}'. This comparison shows run-to-run "
            "variation, not the effect of iommu=pt; boot the AFTER run with iommu=pt (or another mode) and record "
            "again.",
            c.before.mode));
    }
    if (std::isnan(c.workload_ratio)) {
        c.warnings.push_back(fmt::format("BEFORE saw no {}: there is no workload to compare against.", measure));
    } else if (c.workload_differs) {
        c.warnings.push_back(fmt::format(
            "THE WORKLOADS DIFFER A LOT: {} {}/s before vs {}/s after ({}). Rates and CPU shares do not "
            "compare; per-call latencies still do. Run the same benchmark for both profiles.",
            measure, units::count(c.before.dma_calls_per_s), units::count(c.after.dma_calls_per_s),
            units::factor(c.workload_ratio)));
    }
    c.loud_warnings = c.warnings.size();
    if (!c.before.kernel.empty() && !c.after.kernel.empty() && c.before.kernel != c.after.kernel)
        c.warnings.push_back(fmt::format("Different kernels: {} before, {} after.", c.before.kernel, c.after.kernel));
    if (c.before.ncpus != c.after.ncpus)
        c.warnings.push_back(
            fmt::format("Different CPU counts: {} before, {} after; CPU shares are per CPU of each host.",
                        c.before.ncpus, c.after.ncpus));
    for (const auto &[name, s] : {std::pair{"BEFORE", &c.before}, std::pair{"AFTER", &c.after}}) {
        if (s->duration_s < 1)
            c.warnings.push_back(fmt::format("{} covers only {}: too short to be representative.", name,
                                             units::seconds(s->duration_s)));
        if (s->anomalies)
            c.warnings.push_back(fmt::format(
                "{}: {} events were not recorded (kernel-side table overflow or unmatched calls); its figures "
                "are lower bounds.",
                name, s->anomalies));
    }
    std::vector<std::string> only_b, only_a;
    for (const auto &pi : points) {
        bool ab = bx.attached(pi.name), aa = ax.attached(pi.name);
        if (ab && !aa)
            only_b.push_back(pi.name);
        if (aa && !ab)
            only_a.push_back(pi.name);
    }
    if (!only_b.empty())
        c.warnings.push_back(fmt::format("Attached only in BEFORE (no data after): {}.", join(only_b)));
    if (!only_a.empty())
        c.warnings.push_back(fmt::format("Attached only in AFTER (no data before): {}.", join(only_a)));

    // ---- conclusion ----
    std::vector<std::string> parts;
    if (c.mode_changed)
        parts.push_back(fmt::format("The IOMMU mode changed from {} to {}", c.before.mode, c.after.mode));
    else if (c.mode_known)
        parts.push_back(fmt::format("The IOMMU mode did not change ({} in both)", c.before.mode));
    else
        parts.push_back(fmt::format("The IOMMU mode is unknown ({} before, {} after)", c.before.mode, c.after.mode));
    const PointInfo *bt = bp.snap.point(kTotalPoint), *at = ap.snap.point(kTotalPoint);
    if (bt && at && bt->timed && at->timed)
        parts.push_back(fmt::format("IOMMU/DMA-mapping CPU share {}",
                                    from_to(c.before.cpu.all_cpus, c.after.cpu.all_cpus,
                                            units::pct(c.before.cpu.all_cpus), units::pct(c.after.cpu.all_cpus))));
    else
        parts.push_back("no CPU share (count-only probes: no timing)");
    if (c.before.ns_per_call > 0 && c.after.ns_per_call > 0)
        parts.push_back(fmt::format("CPU time per {} {}", measure == "DMA-API calls" ? "DMA-API call" : "call",
                                    from_to(c.before.ns_per_call, c.after.ns_per_call, units::ns(c.before.ns_per_call),
                                            units::ns(c.after.ns_per_call))));
    for (bool unmap : {false, true})
        if (const CompareRow *r = busiest_dma(c.rows, unmap))
            parts.push_back(fmt::format("p99 {} {}", r->point,
                                        from_to(r->before.p99_ns, r->after.p99_ns, units::ns(r->before.p99_ns),
                                                units::ns(r->after.p99_ns))));
    bool any_translation = false;
    for (const auto &cr : c.categories)
        any_translation |= cr.translation_only;
    if (any_translation) {
        double b = c.before.translation_calls_per_s, a = c.after.translation_calls_per_s;
        std::string s = fmt::format("translation work (iommu_map/unmap, IOVA, IOTLB invalidation) {} calls/s",
                                    from_to(b, a, units::count(b), units::count(a)));
        if (b > 0 && a != b)
            s += fmt::format(" ({})", units::change(rel_change(b, a)));
        parts.push_back(s);
    }
    // The network devices that moved packets on both sides: CPU time and maps per packet.
    std::vector<std::string> per_packet;
    for (const auto &r : c.net) {
        if (!(r.before.packets && r.after.packets && std::isfinite(r.before.cpu_ns_per_packet) &&
              std::isfinite(r.after.cpu_ns_per_packet)))
            continue;
        per_packet.push_back(fmt::format(
            "{} ({}) {} ({} maps per packet before, {} after)", r.device, join_some(r.ifaces, 2, ","),
            from_to(r.before.cpu_ns_per_packet, r.after.cpu_ns_per_packet, units::ns(r.before.cpu_ns_per_packet),
                    units::ns(r.after.cpu_ns_per_packet)),
            units::ratio(r.before.maps_per_packet), units::ratio(r.after.maps_per_packet)));
        if (per_packet.size() == 2)
            break;
    }
    if (!per_packet.empty())
        parts.push_back("CPU time per packet on " + join(per_packet, " and on "));
    if (!std::isnan(c.workload_ratio))
        parts.push_back(fmt::format("{}/s {} ({})", measure,
                                    from_to(c.before.dma_calls_per_s, c.after.dma_calls_per_s,
                                            units::count(c.before.dma_calls_per_s),
                                            units::count(c.after.dma_calls_per_s)),
                                    c.workload_differs ? "NOT the same workload" : "comparable workloads"));
    std::string text = join(parts, "; ") + ".";
    if (!c.mode_known || !c.mode_changed || c.workload_differs) {
        std::vector<std::string> why;
        if (!c.mode_known)
            why.push_back("the mode of a profile is unknown");
        else if (!c.mode_changed)
            why.push_back("the mode did not change");
        if (c.workload_differs)
            why.push_back("the workloads differ");
        if (why.size() == 1 && c.workload_differs)
            text += " Because the workloads differ, the rates and CPU shares prove nothing about iommu=pt; only "
                    "the per-call costs and latencies compare (unless the faster mode itself raised the rate of a "
                    "fixed amount of work).";
        else
            text += fmt::format(" Because {}, this comparison proves nothing about iommu=pt.",
                                why.size() == 2 ? why[0] + " and " + why[1] : why[0]);
    }
    c.conclusion = text;
    return c;
}

}  // namespace iommuprof
