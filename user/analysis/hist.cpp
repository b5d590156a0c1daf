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
            sub(migrated, e.migrated)};
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

}  // namespace iommuprof
