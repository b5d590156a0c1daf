// Aggregations over a Snapshot's (point, device, cpu) cells.
#include <algorithm>
#include <array>
#include <string_view>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "iommuprof/aggregate.hpp"

namespace iommuprof {

namespace {
// Position of a point in the snapshot's catalog order (unknown points last).
std::map<std::string, size_t> point_order(const Snapshot &s)
{
    std::map<std::string, size_t> order;
    for (size_t i = 0; i < s.points.size(); i++)
        order.emplace(s.points[i].name, i);
    return order;
}
size_t rank(const std::map<std::string, size_t> &order, const std::string &p)
{
    auto it = order.find(p);
    return it == order.end() ? order.size() : it->second;
}

// The rows of `acc` (keyed by point name, then K) in the catalog order of their
// point, then by K. Each point's rank is looked up once per row, not per
// comparison; the sort is stable, so rows keep the map's (name, K) order within
// a rank (points outside the catalog stay in name order).
template <class Row, class K>
std::vector<Row> ranked_rows(const Snapshot &s, const std::map<std::pair<std::string, K>, Hist> &acc)
{
    auto order = point_order(s);
    std::vector<std::pair<size_t, Row>> ranked;
    ranked.reserve(acc.size());
    for (auto &[k, h] : acc)
        ranked.push_back({rank(order, k.first), Row{k.first, k.second, h}});
    std::stable_sort(ranked.begin(), ranked.end(), [](auto &a, auto &b) { return a.first < b.first; });
    std::vector<Row> out;
    out.reserve(ranked.size());
    for (auto &r : ranked)
        out.push_back(std::move(r.second));
    return out;
}
}  // namespace

Snapshot raw_times(const Snapshot &s)
{
    Snapshot r = s;
    for (auto &c : r.cells) {
        c.hist.sum_ns = c.hist.raw_sum_ns();
        c.hist.comp_ns = 0;
    }
    r.calibration.clear();
    return r;
}

Snapshot raw_times_judged(const Snapshot &s)
{
    Snapshot r = raw_times(s);
    r.calibration = s.calibration;
    return r;
}

std::vector<PointDevice> by_device(const Snapshot &s)
{
    std::map<std::pair<std::string, std::string>, Hist> acc;
    for (auto &c : s.cells)
        acc[{c.point, c.device}] += c.hist;
    return ranked_rows<PointDevice>(s, acc);
}

std::vector<PointCpu> by_cpu(const Snapshot &s)
{
    std::map<std::pair<std::string, int>, Hist> acc;
    for (auto &c : s.cells)
        acc[{c.point, c.cpu}] += c.hist;
    return ranked_rows<PointCpu>(s, acc);
}

std::map<std::string, Hist> by_point(const Snapshot &s)
{
    std::map<std::string, Hist> acc;
    for (auto &c : s.cells)
        acc[c.point] += c.hist;
    return acc;
}

Hist sum_category(const Snapshot &s, Category cat)
{
    // The points of that category, looked up once (not a scan of the points per cell).
    std::set<std::string, std::less<>> names;
    for (auto &p : s.points)
        if (p.category == cat)
            names.insert(p.name);
    Hist h;
    if (names.empty())
        return h;
    for (auto &c : s.cells)
        if (names.count(c.point))
            h += c.hist;
    return h;
}

namespace {
// Share figures from the per-CPU time of one point (saturated sums).
CpuShare share_of(const std::map<int, uint64_t> &per_cpu, uint64_t total, double dur_ns, int ncpus)
{
    CpuShare r;
    r.all_cpus = clamp_share(double(total) / (dur_ns * ncpus));
    for (auto &[cpu, ns] : per_cpu) {
        double f = clamp_share(double(ns) / dur_ns);
        if (r.hottest < 0 || f > r.hottest_cpu) {
            r.hottest_cpu = f;
            r.hottest = cpu;
        }
    }
    return r;
}
}  // namespace

CpuShare cpu_share(const Snapshot &s, const std::string &point)
{
    if (!(s.duration_s > 0) || s.ncpus <= 0)
        return {};
    std::map<int, uint64_t> per_cpu;
    uint64_t total = 0;
    for (auto &c : s.cells) {
        if (c.point != point)
            continue;
        uint64_t &ns = per_cpu[c.cpu];
        ns = sat_add(ns, c.hist.sum_ns);
        total = sat_add(total, c.hist.sum_ns);
    }
    return share_of(per_cpu, total, s.duration_s * 1e9, s.ncpus);
}

std::map<std::string, CpuShare> cpu_share_by_point(const Snapshot &s)
{
    std::map<std::string, CpuShare> out;
    if (!(s.duration_s > 0) || s.ncpus <= 0)
        return out;
    struct Acc {
        std::map<int, uint64_t> per_cpu;
        uint64_t total = 0;
    };
    std::map<std::string, Acc> acc;
    for (auto &c : s.cells) {
        Acc &a = acc[c.point];
        uint64_t &ns = a.per_cpu[c.cpu];
        ns = sat_add(ns, c.hist.sum_ns);
        a.total = sat_add(a.total, c.hist.sum_ns);
    }
    for (auto &[point, a] : acc)
        out.emplace(point, share_of(a.per_cpu, a.total, s.duration_s * 1e9, s.ncpus));
    return out;
}

std::vector<NetDeviceTraffic> net_by_device(const Snapshot &s)
{
    std::map<std::string, NetDeviceTraffic> acc;
    for (auto &n : s.net) {
        NetDeviceTraffic &t = acc[n.device];
        t.device = n.device;
        t.ifaces.push_back(n.netns.empty() ? n.name : n.netns + "/" + n.name);
        t.rx_packets = sat_add(t.rx_packets, n.rx_packets);
        t.tx_packets = sat_add(t.tx_packets, n.tx_packets);
        t.rx_bytes = sat_add(t.rx_bytes, n.rx_bytes);
        t.tx_bytes = sat_add(t.tx_bytes, n.tx_bytes);
    }
    if (acc.empty())
        return {};
    // Maps and unmaps: the DMA API's calls (what a driver calls per buffer); where the DMA API
    // was not probed (the default plan times the dma-iommu layer of a translated group), the
    // dma-iommu layer's, one per DMA-API call on that path.
    struct Role {
        bool api;  // DMA API (else dma-iommu)
        int kind;  // 1 map, 2 unmap
    };
    std::map<std::string, Role, std::less<>> role;
    for (auto &p : s.points) {
        std::string_view n = p.name;
        if (p.category == Category::DmaApi && n.starts_with("dma_"))
            n.remove_prefix(4);
        else if (p.category == Category::DmaIommu && n.starts_with("iommu_dma_"))
            n.remove_prefix(10);
        else
            continue;
        int kind = n.starts_with("map") ? 1 : n.starts_with("unmap") ? 2 : 0;
        if (kind)
            role[p.name] = {p.category == Category::DmaApi, kind};
    }
    std::map<std::string, std::array<uint64_t, 4>> calls;  // device: api maps, api unmaps, layer maps, layer unmaps
    for (auto &c : s.cells) {
        auto it = acc.find(c.device);
        if (it == acc.end())
            continue;
        if (c.point == kTotalPoint) {
            it->second.cpu_ns = sat_add(it->second.cpu_ns, c.hist.sum_ns);
            continue;
        }
        auto r = role.find(c.point);
        if (r == role.end())
            continue;
        uint64_t &n = calls[c.device][(r->second.api ? 0 : 2) + (r->second.kind - 1)];
        n = sat_add(n, c.hist.count);
    }
    for (auto &[dev, n] : calls) {
        bool api = n[0] || n[1];
        acc[dev].maps = api ? n[0] : n[2];
        acc[dev].unmaps = api ? n[1] : n[3];
    }
    std::vector<NetDeviceTraffic> out;
    for (auto &[dev, t] : acc) {
        double pk = double(t.packets());
        t.packets_per_s = s.duration_s > 0 ? pk / s.duration_s : 0;
        t.maps_per_packet = pk > 0 ? double(t.maps) / pk : std::nan("");
        t.cpu_ns_per_packet = pk > 0 ? double(t.cpu_ns) / pk : std::nan("");
        out.push_back(std::move(t));
    }
    return out;
}

}  // namespace iommuprof
