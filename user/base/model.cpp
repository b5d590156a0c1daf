// Histogram math on log2 buckets and the enum/string tables of the model.
#include <algorithm>
#include <cmath>
#include <limits>

#include "iommuprof/model.hpp"

namespace iommuprof {

uint64_t bucket_lo(int i) { return i <= 0 ? 0 : (uint64_t{1} << i); }
uint64_t bucket_hi(int i)
{
    return i >= kBuckets - 1 ? std::numeric_limits<uint64_t>::max() : (uint64_t{1} << (i + 1));
}

Hist &Hist::operator+=(const Hist &o)
{
    count = sat_add(count, o.count);
    sum_ns = sat_add(sum_ns, o.sum_ns);
    bytes = sat_add(bytes, o.bytes);
    errors = sat_add(errors, o.errors);
    max_ns = std::max(max_ns, o.max_ns);
    comp_ns = sat_add(comp_ns, o.comp_ns);
    nested = sat_add(nested, o.nested);
    intr_count = sat_add(intr_count, o.intr_count);
    intr_sum_ns = sat_add(intr_sum_ns, o.intr_sum_ns);
    entries = sat_add(entries, o.entries);
    for (int i = 0; i < kBuckets; i++)
        buckets[i] = sat_add(buckets[i], o.buckets[i]);
    return *this;
}

uint64_t Hist::bucket_total() const
{
    uint64_t n = 0;
    for (auto b : buckets)
        n = sat_add(n, b);
    return n;
}

uint64_t Hist::raw_sum_ns() const { return sat_add(sum_ns, comp_ns); }

static constexpr auto sub = sat_sub;

Hist Hist::since(const Hist &e) const
{
    Hist d;
    d.count = sub(count, e.count);
    d.sum_ns = sub(sum_ns, e.sum_ns);
    d.bytes = sub(bytes, e.bytes);
    d.errors = sub(errors, e.errors);
    d.max_ns = d.count ? max_ns : 0;
    d.comp_ns = sub(comp_ns, e.comp_ns);
    d.nested = sub(nested, e.nested);
    d.intr_count = sub(intr_count, e.intr_count);
    d.intr_sum_ns = sub(intr_sum_ns, e.intr_sum_ns);
    d.entries = sub(entries, e.entries);
    for (int i = 0; i < kBuckets; i++)
        d.buckets[i] = sub(buckets[i], e.buckets[i]);
    return d;
}

double Hist::clean_sum_ns() const
{
    uint64_t n = bucket_total();
    if (!intr_count || intr_count >= n || intr_sum_ns > sum_ns)
        return double(sum_ns);
    return double(sum_ns - intr_sum_ns) / double(n - intr_count) * double(n);
}

bool Hist::timed() const
{
    for (auto b : buckets)
        if (b)
            return true;
    return false;
}

double Hist::mean_ns() const
{
    uint64_t n = bucket_total();
    return n ? double(sum_ns) / double(n) : 0.0;
}

double Hist::percentile_ns(double q) const
{
    uint64_t n = bucket_total();
    if (n == 0)
        return 0.0;
    q = std::clamp(q, 0.0, 1.0);
    // Rank of the q-th sample, 1-based (nearest-rank), then interpolate
    // linearly within the bucket that holds it.
    double rank = std::max(1.0, std::ceil(q * double(n)));
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; i++) {
        if (!buckets[i])
            continue;
        if (double(sat_add(seen, buckets[i])) >= rank) {
            double lo = double(bucket_lo(i));
            double hi = i == kBuckets - 1 ? std::max(lo * 2, double(max_ns)) : double(bucket_hi(i));
            if (max_ns)
                hi = std::min(hi, double(max_ns) + 1);  // the bucket cannot extend past the max seen
            hi = std::max(hi, lo);
            double frac = std::min(1.0, (rank - double(seen)) / double(buckets[i]));
            return lo + (hi - lo) * frac;
        }
        seen = sat_add(seen, buckets[i]);
    }
    return double(max_ns);
}

Counters Counters::since(const Counters &e) const
{
    return {sub(hist_full, e.hist_full),       sub(devname_full, e.devname_full),
            sub(ctx_full, e.ctx_full),         sub(depth_overflow, e.depth_overflow),
            sub(unmatched_exit, e.unmatched_exit), sub(dropped_frames, e.dropped_frames),
            sub(migrated, e.migrated),         sub(recursion_misses, e.recursion_misses),
            sub(softirq_nested, e.softirq_nested), sub(softirq_nested_calls, e.softirq_nested_calls),
            sub(task_ctx_fallback, e.task_ctx_fallback)};
}

namespace {
struct CatName {
    Category c;
    const char *name;
};
constexpr CatName kCats[] = {
    {Category::DmaApi, "dma-api"},         {Category::DmaIommu, "dma-iommu"},
    {Category::IommuCore, "iommu-core"},   {Category::Iova, "iova"},
    {Category::Flush, "flush"},            {Category::FlushQueue, "flush-queue"},
    {Category::Vfio, "vfio"},              {Category::Fault, "fault"},
    {Category::Bounce, "bounce"},          {Category::Total, "total"},
};
struct MethodName {
    Method m;
    const char *name;
};
constexpr MethodName kMethods[] = {
    {Method::Fentry, "fentry"},
    {Method::Kprobe, "kprobe"},
    {Method::Tracepoint, "tracepoint"},
    {Method::Unavailable, "unavailable"},
};
}  // namespace

const char *to_string(Category c)
{
    for (auto &e : kCats)
        if (e.c == c)
            return e.name;
    return "?";
}
std::optional<Category> category_from_string(const std::string &s)
{
    for (auto &e : kCats)
        if (s == e.name)
            return e.c;
    return std::nullopt;
}
bool translation_only(Category c)
{
    switch (c) {
    case Category::DmaIommu:
    case Category::IommuCore:
    case Category::Iova:
    case Category::Flush:
    case Category::FlushQueue:
        return true;
    default:
        return false;
    }
}
const char *to_string(Method m)
{
    for (auto &e : kMethods)
        if (e.m == m)
            return e.name;
    return "?";
}
std::optional<Method> method_from_string(const std::string &s)
{
    for (auto &e : kMethods)
        if (s == e.name)
            return e.m;
    return std::nullopt;
}

// ---- samples ----

SampleCounts &SampleCounts::operator+=(const SampleCounts &o)
{
    total = sat_add(total, o.total);
    translation = sat_add(translation, o.translation);
    dma_api = sat_add(dma_api, o.dma_api);
    profiler = sat_add(profiler, o.profiler);
    vfio = sat_add(vfio, o.vfio);
    idle = sat_add(idle, o.idle);
    return *this;
}

SampleCounts SampleStats::sum() const
{
    SampleCounts c;
    for (auto &[cpu, n] : cpus)
        c += n;
    return c;
}

double share_ci95(uint64_t k, uint64_t n)
{
    if (!n)
        return 0;
    double p = double(k) / double(n);
    return 1.96 * std::sqrt(std::max(p * (1 - p), 1.0 / double(n)) / double(n));
}

uint64_t SampleStats::cpu_denominator(int cpu, double duration_s) const
{
    auto it = cpus.find(cpu);
    uint64_t have = it == cpus.end() ? 0 : it->second.total;
    double expected = freq_hz > 0 && duration_s > 0 ? freq_hz * duration_s : 0;
    // (a double at or beyond 2^64 does not convert to uint64_t)
    uint64_t want = expected < 18446744073709549568.0 ? uint64_t(expected) : UINT64_MAX;
    return std::max(have, want);
}

uint64_t SampleStats::denominator(double duration_s, int ncpus) const
{
    uint64_t d = 0;
    int seen = 0;
    for (auto &[cpu, c] : cpus) {
        d = sat_add(d, cpu_denominator(cpu, duration_s));
        seen++;
    }
    for (; seen < ncpus; seen++)
        d = sat_add(d, cpu_denominator(-1, duration_s));
    return d;
}

SampleStats SampleStats::since(const SampleStats &e) const
{
    SampleStats d;
    d.event = event;
    d.freq_hz = freq_hz;
    d.lost = sat_sub(lost, e.lost);
    for (auto &[cpu, n] : cpus) {
        auto it = e.cpus.find(cpu);
        SampleCounts o = it == e.cpus.end() ? SampleCounts{} : it->second;
        d.cpus[cpu] = {sat_sub(n.total, o.total),       sat_sub(n.translation, o.translation),
                       sat_sub(n.dma_api, o.dma_api),   sat_sub(n.profiler, o.profiler),
                       sat_sub(n.vfio, o.vfio),         sat_sub(n.idle, o.idle)};
    }
    for (auto &[stack, n] : folded) {
        auto it = e.folded.find(stack);
        uint64_t v = sat_sub(n, it == e.folded.end() ? 0 : it->second);
        if (v)
            d.folded[stack] = v;
    }
    return d;
}

// ---- snapshots ----

const PointInfo *Snapshot::point(const std::string &name) const
{
    for (auto &p : points)
        if (p.name == name)
            return &p;
    return nullptr;
}

std::vector<NetIface> net_since(const std::vector<NetIface> &later, const std::vector<NetIface> &earlier)
{
    std::map<std::pair<std::string, std::string>, const NetIface *> old;
    for (auto &n : earlier)
        old[{n.netns, n.name}] = &n;
    std::vector<NetIface> d;
    for (auto &n : later) {
        auto it = old.find({n.netns, n.name});
        if (it == old.end() || it->second->device != n.device)
            continue;
        const NetIface &e = *it->second;
        d.push_back({n.device, n.name, n.netns, sat_sub(n.rx_packets, e.rx_packets), sat_sub(n.tx_packets, e.tx_packets),
                     sat_sub(n.rx_bytes, e.rx_bytes), sat_sub(n.tx_bytes, e.tx_bytes)});
    }
    return d;
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
    d.net = net_since(net, earlier.net);
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

}  // namespace iommuprof
