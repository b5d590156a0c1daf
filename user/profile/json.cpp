// JSON mapping of the data model; see include/iommuprof/json.hpp.
#include "iommuprof/json.hpp"

#include <cmath>
#include <limits>
#include <set>

#include <fmt/core.h>

namespace iommuprof {

using nlohmann::json;

using namespace json_detail;

namespace {
template <class T>
void read_array(const json &obj, const char *key, std::vector<T> &out)
{
    const json &arr = get_array(obj, key);
    out.clear();
    out.reserve(arr.size());
    for (size_t i = 0; i < arr.size(); i++)
        with_path(fmt::format("{}[{}]", key, i), [&] { out.push_back(arr[i].get<T>()); });
}

template <class T>
T read_sub(const json &obj, const char *key)
{
    const json &sub = get_object(obj, key);
    T v{};
    with_path(key, [&] { v = sub.get<T>(); });
    return v;
}
template <class E>
E read_enum(const json &obj, const char *key)
{
    const json &v = field(obj, key);
    E e{};
    with_path(key, [&] { e = v.get<E>(); });
    return e;
}
}  // namespace

// ---- enums ----

void to_json(json &j, Category c) { j = to_string(c); }
void from_json(const json &j, Category &c)
{
    if (!j.is_string())
        fail("", fmt::format("expected a category name, got {}", j.type_name()));
    auto v = category_from_string(j.get<std::string>());
    if (!v)
        fail("", fmt::format("unknown category '{}'", j.get<std::string>()));
    c = *v;
}

void to_json(json &j, Method m) { j = to_string(m); }
void from_json(const json &j, Method &m)
{
    if (!j.is_string())
        fail("", fmt::format("expected a method name, got {}", j.type_name()));
    auto v = method_from_string(j.get<std::string>());
    if (!v)
        fail("", fmt::format("unknown method '{}'", j.get<std::string>()));
    m = *v;
}

// ---- Hist ----

void to_json(json &j, const Hist &h)
{
    j = json{{"count", h.count},   {"sum_ns", h.sum_ns}, {"bytes", h.bytes},
             {"errors", h.errors}, {"max_ns", h.max_ns}, {"buckets", h.buckets}};
    if (h.comp_ns || h.nested) {
        j["comp_ns"] = h.comp_ns;
        j["nested"] = h.nested;
    }
    if (h.intr_count) {
        j["intr_count"] = h.intr_count;
        j["intr_sum_ns"] = h.intr_sum_ns;
    }
    if (h.entries)
        j["entries"] = h.entries;
}

void from_json(const json &j, Hist &h)
{
    Hist r;
    r.count = get_u64(j, "count");
    r.sum_ns = get_u64(j, "sum_ns");
    r.bytes = get_u64(j, "bytes");
    r.errors = get_u64(j, "errors");
    r.max_ns = get_u64(j, "max_ns");
    // optional (profiles before the probe-effect compensation have neither)
    if (j.contains("comp_ns"))
        r.comp_ns = get_u64(j, "comp_ns");
    if (j.contains("nested"))
        r.nested = get_u64(j, "nested");
    if (j.contains("entries"))  // optional: scatter-gather points only
        r.entries = get_u64(j, "entries");
    if (j.contains("intr_count")) {
        r.intr_count = get_u64(j, "intr_count");
        r.intr_sum_ns = get_u64(j, "intr_sum_ns");
        if (r.intr_count > r.count)
            fail("intr_count", fmt::format("more interrupted calls ({}) than calls ({})", r.intr_count, r.count));
        if (r.intr_sum_ns > r.sum_ns)
            fail("intr_sum_ns", fmt::format("more time in interrupted calls ({} ns) than in all calls ({} ns)",
                                            r.intr_sum_ns, r.sum_ns));
    }
    const json &b = get_array(j, "buckets");
    if (b.size() != static_cast<size_t>(kBuckets))
        fail("buckets", fmt::format("expected {} entries, got {}", kBuckets, b.size()));
    for (int i = 0; i < kBuckets; i++) {
        if (!is_u64(b[i]))
            fail(fmt::format("buckets[{}]", i), "expected an unsigned integer");
        r.buckets[i] = b[i].get<uint64_t>();
    }
    h = r;
}

// ---- Cell ----

void to_json(json &j, const Cell &c)
{
    j = json{{"point", c.point}, {"device", c.device}, {"cpu", c.cpu}, {"hist", c.hist}};
}

void from_json(const json &j, Cell &c)
{
    Cell r;
    r.point = get_string(j, "point");
    r.device = get_string(j, "device");
    int64_t cpu = get_i64(j, "cpu");
    if (cpu < 0 || cpu > std::numeric_limits<int>::max())
        fail("cpu", fmt::format("CPU number {} out of range", cpu));
    r.cpu = static_cast<int>(cpu);
    r.hist = read_sub<Hist>(j, "hist");
    c = std::move(r);
}

// ---- PointInfo ----

void to_json(json &j, const PointInfo &p)
{
    j = json{{"name", p.name}, {"category", p.category}, {"timed", p.timed}};
}

void from_json(const json &j, PointInfo &p)
{
    PointInfo r;
    r.name = get_string(j, "name");
    r.category = read_enum<Category>(j, "category");
    r.timed = get_bool(j, "timed");
    p = std::move(r);
}

// ---- Counters ----

void to_json(json &j, const Counters &c)
{
    j = json{{"hist_full", c.hist_full},           {"devname_full", c.devname_full},
             {"ctx_full", c.ctx_full},             {"depth_overflow", c.depth_overflow},
             {"unmatched_exit", c.unmatched_exit}, {"dropped_frames", c.dropped_frames},
             {"migrated", c.migrated},             {"recursion_misses", c.recursion_misses},
             {"softirq_nested", c.softirq_nested}, {"softirq_nested_calls", c.softirq_nested_calls},
             {"task_ctx_fallback", c.task_ctx_fallback}};
}

void from_json(const json &j, Counters &c)
{
    Counters r;
    r.hist_full = get_u64(j, "hist_full");
    r.devname_full = get_u64(j, "devname_full");
    r.ctx_full = get_u64(j, "ctx_full");
    r.depth_overflow = get_u64(j, "depth_overflow");
    r.unmatched_exit = get_u64(j, "unmatched_exit");
    r.dropped_frames = get_u64(j, "dropped_frames");
    r.migrated = get_u64(j, "migrated");
    // added later: absent in older profiles (0)
    auto optional = [&](const char *k) { return j.is_object() && j.contains(k) ? get_u64(j, k) : 0; };
    r.recursion_misses = optional("recursion_misses");
    r.softirq_nested = optional("softirq_nested");
    r.softirq_nested_calls = optional("softirq_nested_calls");
    r.task_ctx_fallback = optional("task_ctx_fallback");
    c = r;
}

// ---- Calibration ----

void to_json(json &j, const Calibration &c)
{
    j = json{{"method", c.method},     {"inner_ns", c.inner_ns}, {"pair_ns", c.pair_ns},
             {"outer_ns", c.outer_ns}, {"repeats", c.repeats},   {"calls", c.calls},
             {"functions", c.functions}};
    if (c.reused)
        j["reused"] = true;
}

void from_json(const json &j, Calibration &c)
{
    Calibration r;
    r.method = get_string(j, "method");
    r.inner_ns = get_double(j, "inner_ns");
    r.pair_ns = get_double(j, "pair_ns");
    r.outer_ns = get_double(j, "outer_ns");
    for (double v : {r.inner_ns, r.pair_ns, r.outer_ns})
        if (!(v >= 0 && v < 1e9))
            fail("inner_ns", fmt::format("{} is not a plausible probe cost", v));
    int64_t rep = get_i64(j, "repeats");
    if (rep < 0 || rep > 1000000)
        fail("repeats", fmt::format("{} out of range", rep));
    r.repeats = int(rep);
    r.calls = get_u64(j, "calls");
    r.functions = get_string(j, "functions");
    if (j.contains("reused"))  // optional: absent in profiles before it
        r.reused = get_bool(j, "reused");
    c = std::move(r);
}

// ---- Samples ----

void to_json(json &j, const SampleCounts &c)
{
    j = json{{"total", c.total},     {"translation", c.translation}, {"dma_api", c.dma_api},
             {"profiler", c.profiler}, {"vfio", c.vfio},             {"idle", c.idle}};
}

void from_json(const json &j, SampleCounts &c)
{
    SampleCounts r;
    r.total = get_u64(j, "total");
    r.translation = get_u64(j, "translation");
    r.dma_api = get_u64(j, "dma_api");
    r.profiler = get_u64(j, "profiler");
    r.vfio = get_u64(j, "vfio");
    r.idle = get_u64(j, "idle");
    // (saturating: five counters near 2^64 must not wrap to a small sum)
    uint64_t classes = 0;
    for (uint64_t v : {r.translation, r.dma_api, r.profiler, r.vfio, r.idle})
        classes = sat_add(classes, v);
    if (classes > r.total)
        fail("total", "fewer samples in all than in its classes");
    c = r;
}

void to_json(json &j, const SampleStats &s)
{
    json cpus = json::array();
    for (auto &[cpu, c] : s.cpus) {
        json e = c;
        e["cpu"] = cpu;
        cpus.push_back(std::move(e));
    }
    json folded = json::array();
    for (auto &[stack, n] : s.folded)
        folded.push_back(json{{"stack", stack}, {"samples", n}});
    j = json{{"event", s.event}, {"freq_hz", s.freq_hz}, {"lost", s.lost}, {"cpus", cpus}, {"folded", folded}};
}

void from_json(const json &j, SampleStats &s)
{
    SampleStats r;
    r.event = get_string(j, "event");
    r.freq_hz = get_double(j, "freq_hz");
    if (!(r.freq_hz > 0 && r.freq_hz < 1e6))
        fail("freq_hz", fmt::format("{} is not a plausible sampling rate", r.freq_hz));
    r.lost = get_u64(j, "lost");
    const json &cpus = get_array(j, "cpus");
    for (size_t i = 0; i < cpus.size(); i++)
        with_path(fmt::format("cpus[{}]", i), [&] {
            SampleCounts c = cpus[i].get<SampleCounts>();
            int64_t cpu = get_i64(cpus[i], "cpu");
            if (cpu < 0 || cpu > 65535 || r.cpus.count(int(cpu)))
                fail("cpu", fmt::format("CPU {} out of range or repeated", cpu));
            r.cpus[int(cpu)] = c;
        });
    const json &f = get_array(j, "folded");
    for (size_t i = 0; i < f.size(); i++)
        with_path(fmt::format("folded[{}]", i), [&] {
            uint64_t &n = r.folded[get_string(f[i], "stack")];
            n = sat_add(n, get_u64(f[i], "samples"));
        });
    s = std::move(r);
}

// ---- NetIface ----

void to_json(json &j, const NetIface &n)
{
    j = json{{"device", n.device},         {"name", n.name},         {"netns", n.netns},
             {"rx_packets", n.rx_packets}, {"tx_packets", n.tx_packets}, {"rx_bytes", n.rx_bytes},
             {"tx_bytes", n.tx_bytes}};
}

void from_json(const json &j, NetIface &n)
{
    NetIface r;
    r.device = get_string(j, "device");
    r.name = get_string(j, "name");
    r.netns = get_string(j, "netns");
    if (r.device.empty() || r.name.empty())
        fail(r.device.empty() ? "device" : "name", "empty");
    r.rx_packets = get_u64(j, "rx_packets");
    r.tx_packets = get_u64(j, "tx_packets");
    r.rx_bytes = get_u64(j, "rx_bytes");
    r.tx_bytes = get_u64(j, "tx_bytes");
    n = std::move(r);
}

// ---- Snapshot ----

void to_json(json &j, const Snapshot &s)
{
    j = json{{"duration_s", s.duration_s}, {"ncpus", s.ncpus},          {"points", s.points},
             {"cells", s.cells},           {"counters", s.counters}};
    if (!s.calibration.empty())
        j["calibration"] = s.calibration;
    if (s.samples)
        j["samples"] = *s.samples;
    if (!s.net.empty())
        j["net"] = s.net;
}

void from_json(const json &j, Snapshot &s)
{
    Snapshot r;
    r.duration_s = get_double(j, "duration_s");
    int64_t ncpus = get_i64(j, "ncpus");
    if (ncpus < 0 || ncpus > std::numeric_limits<int>::max())
        fail("ncpus", fmt::format("CPU count {} out of range", ncpus));
    r.ncpus = static_cast<int>(ncpus);
    read_array(j, "points", r.points);
    read_array(j, "cells", r.cells);
    r.counters = read_sub<Counters>(j, "counters");
    if (j.contains("calibration"))
        read_array(j, "calibration", r.calibration);
    if (j.contains("samples"))
        r.samples = read_sub<SampleStats>(j, "samples");
    if (j.contains("net")) {  // added later: absent in older profiles
        read_array(j, "net", r.net);
        if (r.net.size() > 1024)
            fail("net", fmt::format("{} interfaces: more than the 1024 a profile records", r.net.size()));
        std::set<std::pair<std::string, std::string>> seen;
        for (auto &n : r.net)
            if (!seen.insert({n.netns, n.name}).second)
                fail("net", fmt::format("interface {} of namespace '{}' is listed twice", n.name, n.netns));
    }
    s = std::move(r);
}

// ---- Attachment ----

void to_json(json &j, const Attachment &a)
{
    j = json{{"point", a.point},   {"category", a.category}, {"symbol", a.symbol},
             {"method", a.method}, {"reason", a.reason},     {"attached", a.attached}};
}

void from_json(const json &j, Attachment &a)
{
    Attachment r;
    r.point = get_string(j, "point");
    r.category = read_enum<Category>(j, "category");
    r.symbol = get_string(j, "symbol");
    r.method = read_enum<Method>(j, "method");
    r.reason = get_string(j, "reason");
    r.attached = get_bool(j, "attached");
    a = std::move(r);
}

}  // namespace iommuprof
