// Histogram math: buckets, percentiles, differences, aggregation.
#include <gtest/gtest.h>

#include "iommuprof/aggregate.hpp"

using namespace iommuprof;

namespace {

Hist from_samples(std::initializer_list<uint64_t> ns)
{
    Hist h;
    for (auto v : ns) {
        int b = 0;
        while (b < kBuckets - 1 && v >= bucket_hi(b))
            b++;
        h.buckets[b]++;
        h.count++;
        h.sum_ns += v;
        h.max_ns = std::max(h.max_ns, v);
    }
    return h;
}

TEST(Buckets, BoundsAreLog2)
{
    EXPECT_EQ(bucket_lo(0), 0u);
    EXPECT_EQ(bucket_hi(0), 2u);
    EXPECT_EQ(bucket_lo(10), 1024u);
    EXPECT_EQ(bucket_hi(10), 2048u);
    EXPECT_EQ(bucket_hi(kBuckets - 1), UINT64_MAX);
}

TEST(Percentile, InterpolatesWithinTheBucket)
{
    // 100 samples in [1024, 2048): p50 lands mid-bucket.
    Hist h;
    h.buckets[10] = 100;
    h.count = 100;
    h.max_ns = 2000;
    EXPECT_NEAR(h.percentile_ns(0.5), 1024 + (2001 - 1024) * 0.5, 1.0);
    EXPECT_LE(h.percentile_ns(1.0), 2001.0) << "never beyond the max seen";
    EXPECT_GE(h.percentile_ns(0.0), 1024.0);
}

TEST(Percentile, PicksTheRightBucket)
{
    Hist h = from_samples({100, 100, 100, 100, 100, 100, 100, 100, 100, 100000});
    EXPECT_LT(h.percentile_ns(0.5), 128.0);
    EXPECT_GE(h.percentile_ns(0.5), 64.0);
    EXPECT_GE(h.percentile_ns(0.99), 65536.0);
    EXPECT_LE(h.percentile_ns(0.99), 100001.0);
    EXPECT_DOUBLE_EQ(h.mean_ns(), (9 * 100 + 100000) / 10.0);
}

TEST(Percentile, EmptyAndCountOnly)
{
    Hist h;
    EXPECT_EQ(h.percentile_ns(0.5), 0.0);
    h.count = 5;  // count-only (tracepoint): no buckets
    EXPECT_FALSE(h.timed());
    EXPECT_EQ(h.percentile_ns(0.99), 0.0);
}

TEST(Hist, SinceSubtractsAndAddAccumulates)
{
    Hist a = from_samples({10, 20, 5000});
    Hist b = a;
    b += from_samples({40, 70000});
    Hist d = b.since(a);
    EXPECT_EQ(d.count, 2u);
    EXPECT_EQ(d.sum_ns, 70040u);
    EXPECT_EQ(d.buckets[5], 1u);
    EXPECT_EQ(d.buckets[16], 1u);
    EXPECT_EQ(a.since(b).count, 0u) << "never negative";
    // Scatterlist entries add up and difference like the other counters.
    Hist e = a, f = a;
    e.entries = 32;
    f.entries = 32 + 29;
    f += Hist{};
    EXPECT_EQ(f.since(e).entries, 29u);
    e += f;
    EXPECT_EQ(e.entries, 32u + 61u);
}

Snapshot two_cpus()
{
    Snapshot s;
    s.duration_s = 2.0;
    s.ncpus = 2;
    s.points = {{"dma_map", Category::DmaApi, true},
                {"iommu_map", Category::IommuCore, true},
                {kTotalPoint, Category::Total, true}};
    auto cell = [&](const char *p, const char *d, int cpu, uint64_t n, uint64_t ns) {
        Hist h;
        h.count = n;
        h.sum_ns = ns;
        h.buckets[12] = n;
        s.cells.push_back({p, d, cpu, h});
    };
    cell("dma_map", "0000:00:03.0", 0, 100, 400000000);
    cell("dma_map", "0000:00:03.0", 1, 50, 100000000);
    cell("dma_map", "0000:00:04.0", 1, 10, 20000000);
    cell("iommu_map", "0000:00:03.0", 0, 100, 200000000);
    cell(kTotalPoint, "0000:00:03.0", 0, 100, 400000000);
    cell(kTotalPoint, "0000:00:03.0", 1, 50, 100000000);
    cell(kTotalPoint, "0000:00:04.0", 1, 10, 20000000);
    return s;
}

TEST(Aggregate, PerCpuAndPerDeviceTotalsAgree)
{
    Snapshot s = two_cpus();
    uint64_t dev_calls = 0, cpu_calls = 0;
    for (auto &r : by_device(s))
        if (r.point == "dma_map")
            dev_calls += r.hist.count;
    for (auto &r : by_cpu(s))
        if (r.point == "dma_map")
            cpu_calls += r.hist.count;
    EXPECT_EQ(dev_calls, 160u);
    EXPECT_EQ(cpu_calls, 160u);
    EXPECT_EQ(by_point(s)["dma_map"].count, 160u);
    auto rows = by_device(s);
    ASSERT_FALSE(rows.empty());
    EXPECT_EQ(rows.front().point, "dma_map") << "catalog order";
    EXPECT_EQ(sum_category(s, Category::IommuCore).count, 100u);
}

TEST(Aggregate, CpuShareOfAllCpusAndOfTheHottest)
{
    Snapshot s = two_cpus();
    CpuShare c = cpu_share(s);
    // 520 ms of outermost time over 2 s x 2 CPUs = 13 %; CPU 0 has 400 ms of 2 s.
    EXPECT_NEAR(c.all_cpus, 0.13, 1e-9);
    EXPECT_EQ(c.hottest, 0);
    EXPECT_NEAR(c.hottest_cpu, 0.20, 1e-9);
}

TEST(Snapshot, SinceGivesTheWindow)
{
    Snapshot a = two_cpus(), b = two_cpus();
    b.duration_s = 3.0;
    b.cells[0].hist.count += 7;
    b.cells[0].hist.buckets[12] += 7;
    Snapshot w = b.since(a);
    EXPECT_DOUBLE_EQ(w.duration_s, 1.0);
    ASSERT_EQ(w.cells.size(), 1u);
    EXPECT_EQ(w.cells[0].hist.count, 7u);
}

}  // namespace
