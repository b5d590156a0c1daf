// JSON summary of a snapshot (docs/json.md) and of the attach plan.
#include <algorithm>
#include <cmath>

#include "iommuprof/json.hpp"
#include "iommuprof/render.hpp"

namespace iommuprof {

nlohmann::json plan_json(const std::vector<Attachment> &plan)
{
    auto a = nlohmann::json::array();
    for (auto &e : plan)
        a.push_back({{"point", e.point},
                     {"category", to_string(e.category)},
                     {"symbol", e.symbol},
                     {"method", to_string(e.method)},
                     {"attached", e.attached},
                     {"reason", e.reason}});
    return a;
}

namespace {
nlohmann::json stats(const Hist &h, double dur, int ncpus)
{
    nlohmann::json j{{"calls", h.count},
                     {"calls_per_s", dur > 0 ? h.count / dur : 0.0},
                     {"bytes", h.bytes},
                     {"bytes_per_s", dur > 0 ? h.bytes / dur : 0.0},
                     {"errors", h.errors}};
    if (h.entries) {  // scatter-gather points: the lists' sizes
        j["entries"] = h.entries;
        j["entries_per_call"] = h.count ? double(h.entries) / double(h.count) : 0.0;
    }
    if (h.timed()) {
        j["sum_ns"] = h.sum_ns;
        j["raw_sum_ns"] = h.raw_sum_ns();
        j["nested_calls"] = h.nested;
        j["mean_ns"] = h.mean_ns();
        j["p50_ns"] = h.percentile_ns(0.5);
        j["p90_ns"] = h.percentile_ns(0.9);
        j["p99_ns"] = h.percentile_ns(0.99);
        j["max_ns"] = h.max_ns;
        j["cpu_share"] = dur > 0 ? h.sum_ns / (dur * 1e9 * std::max(1, ncpus)) : 0.0;
    }
    return j;
}
nlohmann::json buckets(const Hist &h)
{
    auto a = nlohmann::json::array();
    for (int i = 0; i < kBuckets; i++)
        if (h.buckets[i])
            a.push_back({{"lo_ns", bucket_lo(i)}, {"hi_ns", i == kBuckets - 1 ? 0 : bucket_hi(i)},
                         {"count", h.buckets[i]}});
    return a;
}
}  // namespace

nlohmann::json summary_json(const Snapshot &s)
{
    nlohmann::json j;
    j["duration_s"] = s.duration_s;
    j["ncpus"] = s.ncpus;
    j["calibration"] = s.calibration;
    auto per_point = by_point(s);
    auto pts = nlohmann::json::array();
    for (auto &p : s.points) {
        Hist h = per_point.count(p.name) ? per_point[p.name] : Hist{};
        auto e = stats(h, s.duration_s, s.ncpus);
        e["point"] = p.name;
        e["category"] = to_string(p.category);
        e["timed"] = p.timed;
        e["histogram"] = buckets(h);
        pts.push_back(std::move(e));
    }
    j["points"] = pts;
    auto devs = nlohmann::json::array();
    for (auto &r : by_device(s)) {
        auto e = stats(r.hist, s.duration_s, s.ncpus);
        e["point"] = r.point;
        e["device"] = r.device;
        devs.push_back(std::move(e));
    }
    j["devices"] = devs;
    auto cpus = nlohmann::json::array();
    for (auto &r : by_cpu(s)) {
        auto e = stats(r.hist, s.duration_s, 1);
        e["point"] = r.point;
        e["cpu"] = r.cpu;
        cpus.push_back(std::move(e));
    }
    j["cpus"] = cpus;
    CpuShare sh = cpu_share(s);
    j["total"] = {{"cpu_share_all", sh.all_cpus}, {"cpu_share_hottest", sh.hottest_cpu}, {"hottest_cpu", sh.hottest}};
    j["counters"] = s.counters;  // the profile file's own mapping (json.hpp)
    auto net = nlohmann::json::array();
    for (auto &t : net_by_device(s)) {
        auto fin = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
        net.push_back({{"device", t.device},
                       {"interfaces", t.ifaces},
                       {"rx_packets", t.rx_packets},
                       {"tx_packets", t.tx_packets},
                       {"rx_bytes", t.rx_bytes},
                       {"tx_bytes", t.tx_bytes},
                       {"packets_per_s", t.packets_per_s},
                       {"dma_maps", t.maps},
                       {"dma_unmaps", t.unmaps},
                       {"cpu_ns", t.cpu_ns},
                       {"maps_per_packet", fin(t.maps_per_packet)},
                       {"cpu_ns_per_packet", fin(t.cpu_ns_per_packet)}});
    }
    j["network"] = net;  // empty: the profile has no packet counters (or no interface on a device)
    return j;
}

nlohmann::json summary_document(const Snapshot &s, const std::vector<Attachment> &plan, const SummaryMeta &m)
{
    nlohmann::json j = summary_json(s);
    j["kind"] = m.kind;
    j["tool_version"] = m.tool_version;
    j["kernel"] = m.kernel;
    if (m.mode)
        j["mode"] = *m.mode;
    if (m.label)
        j["label"] = *m.label;
    j["plan"] = plan_json(plan);
    return j;
}

}  // namespace iommuprof
