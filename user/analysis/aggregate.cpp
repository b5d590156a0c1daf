// Aggregations over a Snapshot's (point, device, cpu) cells.
#include <algorithm>
#include <map>
#include <tuple>

#include "iommuprof/model.hpp"

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
}  // namespace

const PointInfo *Snapshot::point(const std::string &name) const
{
    for (auto &p : points)
        if (p.name == name)
            return &p;
    return nullptr;
}

Snapshot Snapshot::since(const Snapshot &earlier) const
{
    Snapshot d;
    d.duration_s = std::max(0.0, duration_s - earlier.duration_s);
    d.ncpus = ncpus;
    d.points = points;
    d.counters = counters.since(earlier.counters);
    d.calibration = calibration;
    if (samples)
        d.samples = earlier.samples ? samples->since(*earlier.samples) : *samples;
    std::map<std::tuple<std::string, std::string, int>, const Hist *> old;
    for (auto &c : earlier.cells)
        old[{c.point, c.device, c.cpu}] = &c.hist;
    for (auto &c : cells) {
        auto it = old.find({c.point, c.device, c.cpu});
        Hist h = it == old.end() ? c.hist : c.hist.since(*it->second);
        if (h.count)
            d.cells.push_back({c.point, c.device, c.cpu, h});
    }
    return d;
}

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

std::vector<PointDevice> by_device(const Snapshot &s)
{
    std::map<std::pair<std::string, std::string>, Hist> acc;
    for (auto &c : s.cells)
        acc[{c.point, c.device}] += c.hist;
    auto order = point_order(s);
    std::vector<PointDevice> out;
    for (auto &[k, h] : acc)
        out.push_back({k.first, k.second, h});
    std::stable_sort(out.begin(), out.end(), [&](auto &a, auto &b) {
        auto ra = rank(order, a.point), rb = rank(order, b.point);
        if (ra != rb)
            return ra < rb;
        return a.device < b.device;
    });
    return out;
}

std::vector<PointCpu> by_cpu(const Snapshot &s)
{
    std::map<std::pair<std::string, int>, Hist> acc;
    for (auto &c : s.cells)
        acc[{c.point, c.cpu}] += c.hist;
    auto order = point_order(s);
    std::vector<PointCpu> out;
    for (auto &[k, h] : acc)
        out.push_back({k.first, k.second, h});
    std::stable_sort(out.begin(), out.end(), [&](auto &a, auto &b) {
        auto ra = rank(order, a.point), rb = rank(order, b.point);
        if (ra != rb)
            return ra < rb;
        return a.cpu < b.cpu;
    });
    return out;
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
    Hist h;
    for (auto &c : s.cells) {
        auto *p = s.point(c.point);
        if (p && p->category == cat)
            h += c.hist;
    }
    return h;
}

CpuShare cpu_share(const Snapshot &s, const std::string &point)
{
    CpuShare r;
    if (s.duration_s <= 0 || s.ncpus <= 0)
        return r;
    std::map<int, uint64_t> per_cpu;
    uint64_t total = 0;
    for (auto &c : s.cells) {
        if (c.point != point)
            continue;
        per_cpu[c.cpu] += c.hist.sum_ns;
        total += c.hist.sum_ns;
    }
    double dur_ns = s.duration_s * 1e9;
    r.all_cpus = double(total) / (dur_ns * s.ncpus);
    for (auto &[cpu, ns] : per_cpu) {
        double f = double(ns) / dur_ns;
        if (r.hottest < 0 || f > r.hottest_cpu) {
            r.hottest_cpu = f;
            r.hottest = cpu;
        }
    }
    return r;
}

}  // namespace iommuprof
