// Sums of u64 counters saturate instead of wrapping, and shares stay within
// [0, 100 %]: two cells of 2^64-1 must not turn into a small number, a
// falling OpenMetrics histogram or a CPU share of 4.4e10 %.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "iommuprof/compare.hpp"
#include "iommuprof/render.hpp"
#include "iommuprof/hostfacts.hpp"
#include "fixture_host.hpp"
#include "iommuprof/openmetrics.hpp"
#include "iommuprof/profile.hpp"
#include "iommuprof/verdict.hpp"

using namespace iommuprof;

namespace {

constexpr uint64_t kMax = UINT64_MAX;

// A cell at the limit of u64: 2^64-1 calls of 2^64-1 ns in all.
Hist huge()
{
    Hist h;
    h.count = kMax;
    h.sum_ns = kMax;
    h.bytes = kMax;
    h.errors = kMax;
    h.max_ns = kMax;
    h.buckets[0] = kMax;
    h.buckets[1] = kMax;
    return h;
}

Snapshot two_huge_cells()
{
    Snapshot s;
    s.duration_s = 10;
    s.ncpus = 2;
    s.points = {{"dma_map", Category::DmaApi, true},
                {"iommu_dma_map", Category::DmaIommu, true},
                {kTotalPoint, Category::Total, true}};
    for (const char *p : {"dma_map", "iommu_dma_map", kTotalPoint}) {
        s.cells.push_back({p, "0000:00:04.0", 0, huge()});
        s.cells.push_back({p, "0000:00:05.0", 0, huge()});
    }
    return s;
}

bool is_share(double f) { return std::isfinite(f) && f >= 0 && f <= 1; }


// The values of every `name{...}` sample with `labels` in its label set, in
// order, as exact u64 (the writer prints integers for counts).
std::vector<uint64_t> samples_of(const std::string &text, const std::string &name)
{
    std::vector<uint64_t> v;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(name + "{", 0) != 0)
            continue;
        v.push_back(std::stoull(line.substr(line.rfind(' ') + 1)));
    }
    return v;
}

}  // namespace

TEST(Saturation, SatAdd)
{
    EXPECT_EQ(sat_add(1, 2), 3u);
    EXPECT_EQ(sat_add(kMax, 1), kMax);
    EXPECT_EQ(sat_add(kMax, kMax), kMax);
    EXPECT_EQ(sat_add(kMax - 1, 1), kMax);
    EXPECT_EQ(sat_add(0, kMax), kMax);
    EXPECT_EQ(clamp_share(NAN), 0.0);
    EXPECT_EQ(clamp_share(-0.5), 0.0);
    EXPECT_EQ(clamp_share(INFINITY), 1.0);
    EXPECT_EQ(clamp_share(0.25), 0.25);
}

TEST(Saturation, HistSumsStopAtTheTop)
{
    Hist h = huge();
    h += huge();
    EXPECT_EQ(h.count, kMax);
    EXPECT_EQ(h.sum_ns, kMax);
    EXPECT_EQ(h.bytes, kMax);
    EXPECT_EQ(h.errors, kMax);
    EXPECT_EQ(h.buckets[0], kMax);
    EXPECT_EQ(h.bucket_total(), kMax);
    h.comp_ns = 5;
    EXPECT_EQ(h.raw_sum_ns(), kMax);
    double p50 = h.percentile_ns(0.5), p99 = h.percentile_ns(0.99);
    EXPECT_TRUE(std::isfinite(p50) && p50 >= 0 && p50 <= 4) << p50;
    EXPECT_TRUE(std::isfinite(p99) && p99 >= 0 && p99 <= 4) << p99;
    EXPECT_TRUE(std::isfinite(h.mean_ns()));

    Snapshot s = two_huge_cells();
    auto points = by_point(s);
    EXPECT_EQ(points[kTotalPoint].count, kMax);
    EXPECT_EQ(points[kTotalPoint].sum_ns, kMax);
    for (auto &r : by_cpu(s))
        EXPECT_EQ(r.hist.count, kMax) << r.point;
    EXPECT_EQ(sum_category(s, Category::DmaApi).count, kMax);
}

TEST(Saturation, TwoU64MaxCellsGiveAMonotonicOpenMetricsHistogram)
{
    HostFacts h;
    OpenMetricsOptions o;
    o.per_cpu = false;  // the two devices' cells are separate series; sum CPUs of one device
    Snapshot s;
    s.duration_s = 10;
    s.ncpus = 2;
    s.points = {{"dma_map", Category::DmaApi, true}};
    s.cells = {{"dma_map", "0000:00:04.0", 0, huge()}, {"dma_map", "0000:00:04.0", 1, huge()}};
    std::string text = render_openmetrics(s, h, o);
    std::vector<uint64_t> buckets = samples_of(text, "iommuprof_latency_seconds_bucket");
    ASSERT_EQ(buckets.size(), size_t(kBuckets));
    for (size_t i = 1; i < buckets.size(); i++)
        EXPECT_GE(buckets[i], buckets[i - 1]) << "bucket " << i << " falls:\n" << text;
    EXPECT_EQ(buckets.back(), kMax);
    EXPECT_EQ(samples_of(text, "iommuprof_latency_seconds_count"), std::vector<uint64_t>{kMax});
    EXPECT_EQ(samples_of(text, "iommuprof_calls_total"), std::vector<uint64_t>{kMax});

    // One cell whose own buckets add up past 2^64: the cumulative count must
    // not wrap either.
    o.per_cpu = true;
    Hist one;
    one.count = kMax;
    one.buckets[3] = kMax;
    one.buckets[7] = 2;
    s.cells = {{"dma_map", "0000:00:04.0", 0, one}};
    text = render_openmetrics(s, h, o);
    buckets = samples_of(text, "iommuprof_latency_seconds_bucket");
    ASSERT_EQ(buckets.size(), size_t(kBuckets));
    for (size_t i = 1; i < buckets.size(); i++)
        EXPECT_GE(buckets[i], buckets[i - 1]) << "bucket " << i << " falls:\n" << text;
    EXPECT_EQ(samples_of(text, "iommuprof_latency_seconds_count"), std::vector<uint64_t>{kMax});
}

TEST(Saturation, CpuSharesOfTwoU64MaxCellsStayWithinAllOfTheCpus)
{
    Snapshot s = two_huge_cells();
    CpuShare cs = cpu_share(s);
    EXPECT_TRUE(is_share(cs.all_cpus)) << cs.all_cpus;
    EXPECT_TRUE(is_share(cs.hottest_cpu)) << cs.hottest_cpu;
    EXPECT_EQ(cs.all_cpus, 1.0);  // saturated: all of the CPUs, not a wrapped small share
    EXPECT_EQ(cs.hottest, 0);
    for (auto &[point, c] : cpu_share_by_point(s)) {
        EXPECT_TRUE(is_share(c.all_cpus)) << point;
        EXPECT_TRUE(is_share(c.hottest_cpu)) << point;
    }

    VerdictNumbers n = verdict_numbers(s);
    for (double f : {n.total_share_all, n.total_share_hottest, n.saving_share_all, n.saving_share_hottest})
        EXPECT_TRUE(is_share(f)) << f;
    EXPECT_EQ(n.events, kMax);

    // The verdict's text: no percentage beyond 100, nothing infinite.
    Verdict v = decide(test::fixture_host("intel-lazy"), &s, Thresholds{});
    std::string text = render_verdict_text(v);
    EXPECT_FALSE(std::regex_search(text, std::regex(R"(\b(inf|nan)\b)", std::regex::icase))) << text;
    std::regex pct(R"(([0-9]+(\.[0-9]+)?) ?%)");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), pct); it != std::sregex_iterator(); ++it)
        EXPECT_LE(std::stod((*it)[1].str()), 100.0) << (*it)[0].str() << " in\n" << text;

    // compare: every share of either profile is a share.
    Profile a, b;
    a.snap = s;
    b.snap = s;
    b.snap.cells.resize(2);
    Comparison c = compare_profiles(a, b);
    EXPECT_TRUE(is_share(c.before.cpu.all_cpus));
    EXPECT_TRUE(is_share(c.before.cpu.hottest_cpu));
    for (auto &r : c.rows) {
        EXPECT_TRUE(is_share(r.before.cpu_share)) << r.point << " " << r.device;
        EXPECT_TRUE(is_share(r.after.cpu_share)) << r.point << " " << r.device;
    }
    for (auto &r : c.categories) {
        EXPECT_TRUE(is_share(r.before_cpu_share)) << to_string(r.category);
        EXPECT_TRUE(is_share(r.after_cpu_share)) << to_string(r.category);
    }
    EXPECT_EQ(c.before.anomalies, 0u);
    a.snap.counters.hist_full = kMax;
    a.snap.counters.ctx_full = kMax;
    EXPECT_EQ(compare_profiles(a, b).before.anomalies, kMax);
}

TEST(Saturation, NoCpuNamedIsNotCpuMinusOne)
{
    // Timed calls but no outermost total: no hottest CPU to name (the
    // verdict's own sentences; the evidence block is the renderer's).
    Snapshot s;
    s.duration_s = 10;
    s.ncpus = 2;
    s.points = {{"dma_map", Category::DmaApi, true}, {kTotalPoint, Category::Total, true}};
    Hist h;
    h.count = 1000;
    h.sum_ns = 1000000;
    h.max_ns = 2000;
    h.buckets[10] = 1000;
    s.cells = {{"dma_map", "0000:00:04.0", 0, h}};
    Verdict v = decide(test::fixture_host("intel-lazy"), &s, Thresholds{});
    std::string text = v.summary;
    for (auto *part : {&v.reasons, &v.next_steps, &v.cautions})
        for (auto &line : *part)
            text += "\n" + line;
    EXPECT_EQ(text.find("CPU -1"), std::string::npos) << text;
    EXPECT_EQ(text.find("(-1)"), std::string::npos) << text;
    EXPECT_NE(text.find("0% of the busiest (no CPU)"), std::string::npos) << text;
}
