// The verdict from synthetic profiles and fixture host facts: every verdict
// value, the saving estimate, and the thresholds' edges.
#include <cmath>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "iommuprof/hostfacts.hpp"
#include "iommuprof/render.hpp"
#include "iommuprof/verdict.hpp"
#include "fixture_host.hpp"

using namespace iommuprof;

namespace {

HostFacts host(const std::string &name, const std::string &dmesg = "dmesg.txt")
{
    return test::fixture_host(name, dmesg);
}

bool contains(const std::vector<std::string> &v, const std::string &needle)
{
    for (auto &s : v)
        if (s.find(needle) != std::string::npos)
            return true;
    return false;
}

Hist mk(uint64_t count, uint64_t sum_ns, bool timed = true)
{
    Hist h;
    h.count = count;
    if (!timed)
        return h;
    h.sum_ns = sum_ns;
    uint64_t mean = count ? sum_ns / count : 0;
    int b = 0;
    while (b + 1 < kBuckets && (2ull << b) <= mean)
        b++;
    h.buckets[size_t(b)] = count;
    h.max_ns = mean;
    return h;
}

// A profile with the catalog's main points (a subset is enough).
struct Prof {
    Snapshot s;
    Prof(double dur, int ncpus)
    {
        s.duration_s = dur;
        s.ncpus = ncpus;
        s.points = {
            {"dma_map", Category::DmaApi, true},          {"dma_unmap", Category::DmaApi, true},
            {"iommu_dma_map", Category::DmaIommu, true},  {"iommu_dma_unmap", Category::DmaIommu, true},
            {"dma_map_sg", Category::DmaApi, true},       {"iommu_dma_map_sg", Category::DmaIommu, true},
            {"iommu_map", Category::IommuCore, true},     {"iova_alloc", Category::Iova, true},
            {"cache_tag_flush_range", Category::Flush, true}, {"qi_submit_sync", Category::Flush, true},
            {"fq_flush_timeout", Category::FlushQueue, true}, {"vfio_dma_map", Category::Vfio, true},
            {"io_page_fault", Category::Fault, false},    {kTotalPoint, Category::Total, true},
        };
    }
    Prof &cell(const std::string &point, const std::string &dev, int cpu, uint64_t count, uint64_t sum_ns)
    {
        const PointInfo *pi = s.point(point);
        s.cells.push_back({point, dev, cpu, mk(count, sum_ns, pi && pi->timed)});
        return *this;
    }
    // n map calls on dev/cpu of `api` ns each, `xlate` of which in dma-iommu,
    // `flush` of that in invalidation (nested points overlap).
    Prof &maps(const std::string &dev, int cpu, uint64_t n, uint64_t api, uint64_t xlate, uint64_t flush = 0)
    {
        cell(kTotalPoint, dev, cpu, n, n * api);
        cell("dma_map", dev, cpu, n, n * api);
        if (xlate) {
            cell("iommu_dma_map", dev, cpu, n, n * xlate);
            cell("iommu_map", dev, cpu, n, n * (xlate - flush) / 2);
            cell("iova_alloc", dev, cpu, n, n * (xlate - flush) / 4);
        }
        if (flush) {
            cell("cache_tag_flush_range", dev, cpu, n, n * flush);
            cell("qi_submit_sync", dev, cpu, n, n * flush * 3 / 4);  // nested in the one above
        }
        return *this;
    }
    const Snapshot *operator->() const { return &s; }
};

Thresholds defaults() { return Thresholds{}; }

}  // namespace

// ---- the saving estimate ----

TEST(VerdictNumbers, SavingIsDmaIommuTimeWithinOutermostCalls)
{
    Prof p(10, 2);
    p.maps("0000:41:00.0", 0, 1000, 10000, 6000, 2000);  // 10 ms total, 6 ms translation
    auto n = verdict_numbers(p.s);
    EXPECT_TRUE(n.measured);
    EXPECT_TRUE(n.timed);
    EXPECT_EQ(n.events, 1000u);
    EXPECT_DOUBLE_EQ(n.calls_per_s, 100);
    EXPECT_DOUBLE_EQ(n.total_ns, 10e6);
    EXPECT_DOUBLE_EQ(n.saving_ns, 6e6);
    EXPECT_DOUBLE_EQ(n.residual_ns, 4e6);
    EXPECT_DOUBLE_EQ(n.saving_share_all, 6e6 / 20e9);
    EXPECT_DOUBLE_EQ(n.saving_share_hottest, 6e6 / 10e9);
    EXPECT_EQ(n.saving_hottest_cpu, 0);
    EXPECT_DOUBLE_EQ(n.total_share_all, 10e6 / 20e9);
    EXPECT_EQ(n.total_hottest_cpu, 0);
    // Largest flush point (not the sum of nested ones).
    EXPECT_DOUBLE_EQ(n.flush_ns, 2e6);
    EXPECT_DOUBLE_EQ(n.flush_fraction, 2.0 / 6.0);
    EXPECT_FALSE(n.saving_lower_bound);
}

TEST(VerdictNumbers, VfioStaysFlushQueueGoes)
{
    Prof p(10, 2);
    p.maps("0000:41:00.0", 1, 100, 10000, 5000);
    p.cell(kTotalPoint, "[vfio:qemu]", 0, 10, 3'000'000);
    p.cell("vfio_dma_map", "[vfio:qemu]", 0, 10, 3'000'000);
    p.cell("iommu_map", "[vfio:qemu]", 0, 10, 2'000'000);
    p.cell(kTotalPoint, "[flush-queue]", 0, 5, 400'000);
    p.cell("fq_flush_timeout", "[flush-queue]", 0, 5, 400'000);
    auto n = verdict_numbers(p.s);
    EXPECT_DOUBLE_EQ(n.vfio_ns, 3e6);
    EXPECT_DOUBLE_EQ(n.saving_ns, 500'000 + 400'000);
    EXPECT_DOUBLE_EQ(n.residual_ns, 1e6 + 3e6 + 400'000 - 900'000 - 3e6);
    // CPU 1 saves 0.5 ms, CPU 0 (flush queue) 0.4 ms.
    EXPECT_EQ(n.saving_hottest_cpu, 1);
}

TEST(VerdictNumbers, SavingNeverExceedsOutermostTime)
{
    Prof p(10, 1);
    p.cell(kTotalPoint, "d", 0, 10, 1000);
    p.cell("iommu_dma_map", "d", 0, 10, 5000);  // interrupt time inside: more than "own" outermost time
    EXPECT_DOUBLE_EQ(verdict_numbers(p.s).saving_ns, 1000);
}

TEST(VerdictNumbers, LowerBoundWhenDmaIommuNotTimed)
{
    Prof p(10, 1);
    for (auto &pt : p.s.points)
        if (pt.category == Category::DmaIommu)
            pt.timed = false;
    p.cell(kTotalPoint, "d", 0, 10, 10000);
    p.cell("iommu_map", "d", 0, 10, 3000);
    p.cell("cache_tag_flush_range", "d", 0, 10, 4000);
    auto n = verdict_numbers(p.s);
    EXPECT_DOUBLE_EQ(n.saving_ns, 4000);  // the largest, not 7000
    EXPECT_TRUE(n.saving_lower_bound);
}

TEST(VerdictNumbers, CountOnlyProfile)
{
    Prof p(10, 2);
    for (auto &pt : p.s.points)
        pt.timed = false;
    p.cell("dma_map", "0000:00:03.0", 0, 300, 0);
    p.cell("dma_unmap", "0000:00:03.0", 1, 300, 0);
    p.cell("io_page_fault", "0000:00:03.0", 1, 2, 0);
    auto n = verdict_numbers(p.s);
    EXPECT_FALSE(n.timed);
    EXPECT_EQ(n.events, 600u);
    EXPECT_EQ(n.faults_seen, 2u);
}

// ---- every verdict value ----

TEST(Verdict, NoTranslationWithoutProfile)
{
    auto v = decide(host("no-iommu"), nullptr, defaults(), "no kprobe PMU");
    EXPECT_EQ(v.verdict, kNoTranslation);
    EXPECT_TRUE(contains(v.reasons, "no IOMMU unit"));
    EXPECT_TRUE(contains(v.reasons, "no kprobe PMU"));
    EXPECT_FALSE(v.numbers.measured);
    EXPECT_TRUE(v.cautions.empty());
}

TEST(Verdict, NoTranslationReportsWhatWasMeasured)
{
    Prof p(3, 2);
    p.maps("0000:00:02.0", 0, 500, 2000, 0);
    auto v = decide(host("no-iommu"), p.operator->(), defaults());
    EXPECT_EQ(v.verdict, kNoTranslation);
    EXPECT_TRUE(contains(v.reasons, "500 outermost calls"));
    ASSERT_EQ(v.points.size(), 1u);
    EXPECT_EQ(v.points[0].point, "dma_map");
}

TEST(Verdict, NoTranslationWhenCmdlineSwitchesItOff)
{
    auto v = decide(host("conflicting-cmdline"), nullptr, defaults());
    EXPECT_EQ(v.verdict, kNoTranslation);
    EXPECT_TRUE(contains(v.reasons, "intel_iommu=off"));
    EXPECT_TRUE(contains(v.reasons, "command line: iommu=pt and iommu.passthrough=0 contradict"));
}

TEST(Verdict, AlreadyPassthroughListsWhatIsStillTranslated)
{
    Prof p(10, 4);
    p.maps("0000:01:00.0", 0, 5000, 1000, 0);
    p.cell(kTotalPoint, "[vfio:qemu]", 2, 10, 40'000'000);
    p.cell("vfio_dma_map", "[vfio:qemu]", 2, 10, 40'000'000);
    auto v = decide(host("intel-pt-vfio"), p.operator->(), defaults());
    EXPECT_EQ(v.verdict, kAlreadyPassthrough);
    EXPECT_TRUE(contains(v.reasons, "0000:03:00.0 (vfio-pci, 8086:10fb, group 9 identity) [VFIO]"));
    EXPECT_TRUE(contains(v.reasons, "0000:05:00.0 (igc, 8086:15f2, group 12 DMA) [external]"));
    EXPECT_TRUE(contains(v.reasons, "VFIO map/unmap 40.0 ms (0.10% of all CPUs)"));
    EXPECT_TRUE(contains(v.reasons, "iommu=pt"));
    // Facts alone decide: no profile needed.
    EXPECT_EQ(decide(host("intel-pt-vfio"), nullptr, defaults(), "x").verdict, kAlreadyPassthrough);
}

TEST(Verdict, FixFaultsFirstFromLog)
{
    Prof p(10, 2);
    p.maps("0000:41:00.0", 0, 100000, 10000, 9000);  // would be worth trying
    auto v = decide(host("amd-strict", "dmesg-faults.txt"), p.operator->(), defaults());
    EXPECT_EQ(v.verdict, kFixFaultsFirst);
    EXPECT_TRUE(contains(v.reasons, "3 IOMMU fault line(s) in the kernel log (amd-vi)"));
    EXPECT_TRUE(contains(v.reasons, "0000:41:00.0 (nvme, 144d:a80a, group 20 DMA)"));
    EXPECT_TRUE(contains(v.reasons, "0000:42:00.1 (tg3, 14e4:165f, group 21 DMA)"));
    EXPECT_TRUE(contains(v.next_steps, "--ignore-faults"));
    // Without a profile too: the log is enough.
    EXPECT_EQ(decide(host("amd-strict", "dmesg-faults.txt"), nullptr, defaults()).verdict, kFixFaultsFirst);
}

TEST(Verdict, FixFaultsFirstFromProfile)
{
    Prof p(10, 2);
    p.maps("0000:41:00.0", 0, 100000, 10000, 9000);
    p.cell("io_page_fault", "0000:42:00.0", 1, 4, 0);
    auto v = decide(host("amd-strict"), p.operator->(), defaults());
    EXPECT_EQ(v.verdict, kFixFaultsFirst);
    EXPECT_TRUE(contains(v.reasons, "4 io_page_fault event(s) during the profile (0000:42:00.0 (tg3"));
}

TEST(Verdict, IgnoreFaultsTurnsThemIntoACaution)
{
    Prof p(10, 2);
    p.maps("0000:41:00.0", 0, 100000, 10000, 9000);
    Thresholds t;
    t.ignore_faults = true;
    auto v = decide(host("amd-strict", "dmesg-faults.txt"), p.operator->(), t);
    EXPECT_EQ(v.verdict, kWorthTrying);
    EXPECT_TRUE(contains(v.cautions, "3 IOMMU fault line(s) in the kernel log"));
}

TEST(Verdict, InsufficientDataWithoutProfile)
{
    auto v = decide(host("intel-lazy"), nullptr, defaults(), "no BTF");
    EXPECT_EQ(v.verdict, kInsufficientData);
    EXPECT_TRUE(contains(v.reasons, "no profile: no BTF"));
    EXPECT_TRUE(contains(v.next_steps, "CAP_BPF"));
}

TEST(Verdict, InsufficientDataCountOnly)
{
    Prof p(10, 2);
    for (auto &pt : p.s.points)
        pt.timed = false;
    p.cell("dma_map", "0000:00:03.0", 0, 5000, 0);
    auto v = decide(host("intel-lazy"), p.operator->(), defaults());
    EXPECT_EQ(v.verdict, kInsufficientData);
    EXPECT_TRUE(contains(v.reasons, "only counted (tracepoints)"));
}

TEST(Verdict, NotWorthIt)
{
    Prof p(10, 4);
    // 0.1 s saved on CPU 0 over 10 s x 4 CPUs: 0.25% of all, 1% of CPU 0.
    p.maps("0000:00:03.0", 0, 10000, 15000, 10000);
    p.maps("0000:00:03.0", 1, 10000, 5000, 0);
    auto v = decide(host("intel-lazy"), p.operator->(), defaults());
    EXPECT_EQ(v.verdict, kNotWorthIt);
    EXPECT_DOUBLE_EQ(v.numbers.saving_share_all, 0.1e9 / 40e9);
    EXPECT_DOUBLE_EQ(v.numbers.saving_share_hottest, 0.01);
    EXPECT_TRUE(contains(v.reasons, "0.25% of all 4 CPUs and 1.00% of the busiest CPU (0)"));
    EXPECT_TRUE(contains(v.next_steps, "IRQ affinity"));
    EXPECT_TRUE(contains(v.next_steps, "softirq"));
    EXPECT_TRUE(v.cautions.empty());
}

TEST(Verdict, WorthTryingWithCautionsAndTopDevices)
{
    Prof p(10, 2);
    p.maps("0000:41:00.0", 0, 200000, 5000, 3000, 500);  // 0.6 s saved of 1 s
    p.maps("0000:42:00.0", 1, 10000, 5000, 3000, 500);
    HostFacts h = host("amd-strict");
    auto v = decide(h, p.operator->(), defaults());
    EXPECT_EQ(v.verdict, kWorthTrying);
    EXPECT_NEAR(v.numbers.saving_share_all, (0.6 + 0.03) / 20, 1e-12);
    EXPECT_NEAR(v.numbers.saving_share_hottest, 0.06, 1e-12);
    EXPECT_TRUE(contains({v.summary}, "3.15% of all CPUs (6.00% of CPU 0)"));
    ASSERT_EQ(v.cautions.size(), 1u);  // only the isolation reminder on this host
    EXPECT_TRUE(contains(v.cautions, "removes the default DMA isolation"));
    ASSERT_EQ(v.top_devices.size(), 2u);
    EXPECT_EQ(v.top_devices[0].device, "0000:41:00.0");
    EXPECT_EQ(v.top_devices[0].driver, "nvme");
    EXPECT_EQ(v.top_devices[0].id, "144d:a80a");
    EXPECT_DOUBLE_EQ(v.top_devices[0].saving_ns, 0.6e9);
    // Flush is 500/3000 of translation: not "dominating".
    EXPECT_FALSE(contains(v.next_steps, "iommu.strict=0"));

    // The same load on a host with VFIO devices and an external port.
    h.vfio_devices = {"0000:42:00.1"};
    h.external_devices = {"0000:42:00.0"};
    auto v2 = decide(h, p.operator->(), defaults());
    EXPECT_EQ(v2.verdict, kWorthTrying);
    EXPECT_TRUE(contains(v2.cautions, "VFIO (0000:42:00.1 (tg3"));
    EXPECT_TRUE(contains(v2.cautions, "external-facing devices (0000:42:00.0)"));
}

// Scatter-gather mappings: dma-direct's per-entry walk under pt is counted as
// saved, so the verdict says the estimate can read high when they dominate.
TEST(Verdict, ScatterGatherShareIsNamed)
{
    Prof p(10, 2);
    p.maps("0000:41:00.0", 0, 100000, 5000, 3000);  // 0.3 s saved in iommu_dma_map
    p.cell(kTotalPoint, "0000:41:00.0", 1, 20000, 20000ull * 40000);
    p.cell("dma_map_sg", "0000:41:00.0", 1, 20000, 20000ull * 40000);
    p.cell("iommu_dma_map_sg", "0000:41:00.0", 1, 20000, 20000ull * 35000);  // 0.7 s saved in _sg
    HostFacts h = host("amd-strict");
    auto v = decide(h, p.operator->(), defaults());
    EXPECT_EQ(v.verdict, kWorthTrying);
    EXPECT_NEAR(v.numbers.saving_sg_ns, 0.7e9, 1e3);
    EXPECT_NEAR(v.numbers.saving_ns, 1.0e9, 1e3);
    EXPECT_TRUE(contains(v.reasons, "70.0% of the translation-only time is in scatter-gather mappings"));
    // Single-page mappings only: no such line.
    Prof q(10, 2);
    q.maps("0000:41:00.0", 0, 200000, 5000, 3000);
    auto w = decide(h, q.operator->(), defaults());
    EXPECT_EQ(w.numbers.saving_sg_ns, 0);
    EXPECT_FALSE(contains(w.reasons, "scatter-gather"));
}

// The default plan times the dma-iommu layer only (the outermost calls are
// then dma-iommu calls): the verdict says the DMA API's own cost was not timed,
// instead of calling the (near 0) rest of the outermost time its cost.
TEST(Verdict, DmaApiNotTimedIsSaid)
{
    Prof p(10, 2);
    p.cell(kTotalPoint, "0000:41:00.0", 0, 1000000, 1000000ull * 3000);
    p.cell("iommu_dma_map", "0000:41:00.0", 0, 1000000, 1000000ull * 3000);
    std::erase_if(p.s.points, [](const PointInfo &i) { return i.category == Category::DmaApi; });
    HostFacts h = host("amd-strict");
    auto v = decide(h, p.operator->(), defaults());
    EXPECT_EQ(v.verdict, kWorthTrying);
    EXPECT_FALSE(v.numbers.dma_api_timed);
    EXPECT_NEAR(v.numbers.saving_ns, 3e9, 1);
    EXPECT_TRUE(contains(v.reasons, "the DMA API's own cost, which remains under pt, was not timed (--dma-api)"));
    EXPECT_FALSE(contains(v.reasons, "is the DMA API's own cost"));
    // With the DMA API timed, its own cost is named.
    Prof q(10, 2);
    q.maps("0000:41:00.0", 0, 1000000, 5000, 3000);
    auto w = decide(h, q.operator->(), defaults());
    EXPECT_TRUE(w.numbers.dma_api_timed);
    EXPECT_TRUE(contains(w.reasons, "2.00 s is the DMA API's own cost that remains under pt"));
    EXPECT_FALSE(contains(w.reasons, "was not timed"));
}

// With the entries counted and a calibration, dma-direct's per-entry walk is
// taken off the saving (a fraction of the calibrated probe pair per entry and
// call), per device and in all.
TEST(Verdict, DmaDirectPerEntryWorkIsNotCountedAsSaved)
{
    auto build = [](bool calibrated, uint64_t entries) {
        Prof p(10, 2);
        p.cell(kTotalPoint, "0000:41:00.0", 1, 20000, 20000ull * 40000);
        p.cell("dma_map_sg", "0000:41:00.0", 1, 20000, 20000ull * 40000);
        p.cell("iommu_dma_map_sg", "0000:41:00.0", 1, 20000, 20000ull * 35000);  // 0.7 s
        for (auto &c : p.s.cells)
            if (c.point == "iommu_dma_map_sg")
                c.hist.entries = entries;
        if (calibrated)
            p.s.calibration.push_back(Calibration{"fentry", 300, 1000, 330, 5, 2000, "a > b"});
        return p;
    };
    HostFacts h = host("amd-strict");
    // 20000 calls x 32 entries x (0.044 x 1000 ns) = 28.16 ms not saved.
    auto a = build(true, 20000 * 32);
    auto v = decide(h, a.operator->(), defaults());
    EXPECT_NEAR(v.numbers.direct_entry_ns, 44, 1e-9);
    EXPECT_EQ(v.numbers.sg_entries, 640000u);
    EXPECT_NEAR(v.numbers.direct_ns, 28.16e6, 1);
    EXPECT_NEAR(v.numbers.saving_ns, 0.7e9 - 28.16e6, 1);
    EXPECT_NEAR(v.numbers.saving_sg_ns, 0.7e9 - 28.16e6, 1);
    ASSERT_EQ(v.top_devices.size(), 1u);
    EXPECT_NEAR(v.top_devices[0].saving_ns, 0.7e9 - 28.16e6, 1);
    EXPECT_TRUE(contains(v.reasons, "28.2 ms for 640000 entries (44 ns each"));
    // Never more than the scatter-gather time itself.
    auto big = build(true, uint64_t(1) << 40);
    auto vb = decide(h, big.operator->(), defaults());
    EXPECT_NEAR(vb.numbers.saving_ns, 0, 1);
    // No calibration (or no entries): nothing taken off, and the estimate is said to read high.
    for (auto [cal, n] : {std::pair{false, uint64_t(640000)}, std::pair{true, uint64_t(0)}}) {
        auto b = build(cal, n);
        auto w = decide(h, b.operator->(), defaults());
        EXPECT_NEAR(w.numbers.saving_ns, 0.7e9, 1);
        EXPECT_EQ(w.numbers.direct_ns, 0);
        EXPECT_TRUE(contains(w.reasons, cal ? "entries not counted" : "no probe calibration")) << cal;
    }
}

TEST(Verdict, StrictInvalidationDominatesNamesLazyFirst)
{
    Prof p(10, 2);
    p.maps("0000:41:00.0", 0, 200000, 5000, 4000, 3000);  // flush 3/4 of translation
    auto v = decide(host("amd-strict"), p.operator->(), defaults());
    EXPECT_EQ(v.verdict, kWorthTrying);
    ASSERT_FALSE(v.next_steps.empty());
    EXPECT_NE(v.next_steps[0].find("iommu.strict=0 first"), std::string::npos);
    EXPECT_TRUE(contains(v.next_steps, "75.0% of the translation-only time"));

    // Lazy hosts are already batching: no such advice.
    auto lazy = decide(host("intel-lazy"), p.operator->(), defaults());
    EXPECT_EQ(lazy.verdict, kWorthTrying);
    EXPECT_FALSE(contains(lazy.next_steps, "iommu.strict=0"));

    // Strict forced by a virtual IOMMU: the advice would not work.
    HostFacts forced = host("amd-strict");
    apply_log(forced, "AMD-Vi: Using strict mode due to virtualization\n");
    auto f = decide(forced, p.operator->(), defaults());
    EXPECT_EQ(f.verdict, kWorthTrying);
    EXPECT_FALSE(contains(f.next_steps, "iommu.strict=0"));
    EXPECT_TRUE(contains(f.reasons, "iommu.strict=0 would not help"));
}

TEST(Verdict, MixedDefaultDomainIsJudgedByTheProfile)
{
    HostFacts h = host("intel-lazy");
    h.groups[0].type = "identity";
    apply_log(h, "");  // re-summarize
    ASSERT_EQ(h.iommu.default_domain, "mixed");
    Prof p(10, 1);
    p.maps("0000:00:03.0", 0, 100000, 10000, 5000);  // 5% of the only CPU
    auto v = decide(h, p.operator->(), defaults());
    EXPECT_EQ(v.verdict, kWorthTrying);
    EXPECT_TRUE(contains(v.next_steps, "/sys/kernel/iommu_groups/N/type"));
}

// ---- threshold edges ----

// saving spread evenly over 4 CPUs in 10 s: share_all = total / 4e10,
// hottest = total / 4 / 1e10 (always below 5% here).
Verdict spread(uint64_t per_cpu_saving_ns, const Thresholds &t = Thresholds{})
{
    Prof p(10, 4);
    for (int cpu = 0; cpu < 4; cpu++) {
        p.cell(kTotalPoint, "0000:00:03.0", cpu, 100, per_cpu_saving_ns * 2);
        p.cell("dma_map", "0000:00:03.0", cpu, 100, per_cpu_saving_ns * 2);
        p.cell("iommu_dma_map", "0000:00:03.0", cpu, 100, per_cpu_saving_ns);
    }
    return decide(host("intel-lazy"), p.operator->(), t);
}

TEST(Thresholds, AllCpusEdge)
{
    // 2% of 4 CPUs x 10 s = 0.8 s = 4 x 0.2 s.
    auto at = spread(200'000'000);
    EXPECT_EQ(at.verdict, kWorthTrying);
    EXPECT_DOUBLE_EQ(at.numbers.saving_share_all, 0.02);
    EXPECT_DOUBLE_EQ(at.numbers.saving_share_hottest, 0.02);
    EXPECT_EQ(spread(199'999'999).verdict, kNotWorthIt);
}

TEST(Thresholds, HottestCpuEdge)
{
    // One CPU of 8 in 10 s: 5% = 0.5 s; all-CPU share only 0.625%.
    auto one = [](uint64_t saving) {
        Prof p(10, 8);
        p.cell(kTotalPoint, "0000:00:03.0", 3, 1000, saving + 1000);
        p.cell("dma_map", "0000:00:03.0", 3, 1000, saving + 1000);
        p.cell("iommu_dma_map", "0000:00:03.0", 3, 1000, saving);
        return decide(host("intel-lazy"), p.operator->(), Thresholds{});
    };
    auto at = one(500'000'000);
    EXPECT_EQ(at.verdict, kWorthTrying);
    EXPECT_EQ(at.numbers.saving_hottest_cpu, 3);
    EXPECT_DOUBLE_EQ(at.numbers.saving_share_hottest, 0.05);
    EXPECT_EQ(one(499'999'999).verdict, kNotWorthIt);
}

TEST(Thresholds, Tunable)
{
    Thresholds t;
    t.min_share_all = 0.03;
    t.min_share_hottest = 0.03;
    EXPECT_EQ(spread(200'000'000, t).verdict, kNotWorthIt);
    EXPECT_EQ(spread(300'000'000, t).verdict, kWorthTrying);
    t.min_share_all = 0.001;
    EXPECT_EQ(spread(10'000'000, t).verdict, kWorthTrying);
}

TEST(Thresholds, MinEventsEdge)
{
    auto with_events = [](uint64_t n) {
        Prof p(10, 1);
        p.maps("0000:00:03.0", 0, n, 10'000'000, 9'000'000);  // plenty of time per call
        return decide(host("intel-lazy"), p.operator->(), Thresholds{});
    };
    EXPECT_EQ(with_events(200).verdict, kWorthTrying);
    auto few = with_events(199);
    EXPECT_EQ(few.verdict, kInsufficientData);
    EXPECT_TRUE(contains(few.reasons, "only 199 DMA-path calls"));
    EXPECT_TRUE(contains(few.reasons, "at least 200 are needed"));
}

TEST(Thresholds, MinSecondsEdge)
{
    auto with_seconds = [](double d) {
        Prof p(d, 1);
        p.maps("0000:00:03.0", 0, 10000, 100000, 90000);
        return decide(host("intel-lazy"), p.operator->(), Thresholds{});
    };
    EXPECT_EQ(with_seconds(2.0).verdict, kWorthTrying);
    auto short_ = with_seconds(1.99);
    EXPECT_EQ(short_.verdict, kInsufficientData);
    EXPECT_TRUE(contains(short_.reasons, "less than the 2.00 s needed"));
}

TEST(Thresholds, FlushDominatesEdge)
{
    auto with_flush = [](uint64_t flush) {
        Prof p(10, 1);
        p.maps("0000:41:00.0", 0, 100000, 10000, 4000, flush);
        return decide(host("amd-strict"), p.operator->(), Thresholds{});
    };
    EXPECT_TRUE(contains(with_flush(2000).next_steps, "iommu.strict=0"));   // exactly half
    EXPECT_FALSE(contains(with_flush(1999).next_steps, "iommu.strict=0"));
}

// ---- rendering ----

TEST(VerdictRender, JsonAndText)
{
    Prof p(10, 2);
    p.maps("0000:41:00.0", 0, 200000, 5000, 3000, 2000);
    auto v = decide(host("amd-strict"), p.operator->(), defaults());
    v.profile_source = "live, 10 s";
    auto j = verdict_json(v);
    EXPECT_EQ(j["verdict"], "worth-trying");
    EXPECT_EQ(j["host"]["dma_policy"], "strict");
    EXPECT_EQ(j["numbers"]["events"], 200000);
    EXPECT_DOUBLE_EQ(j["numbers"]["saving_share_all"].get<double>(), v.numbers.saving_share_all);
    EXPECT_EQ(j["cautions"].size(), v.cautions.size());
    EXPECT_EQ(j["thresholds"]["min_share_all"], 0.02);
    EXPECT_EQ(j["top_devices"][0]["id"], "144d:a80a");
    bool found = false;
    for (auto &pt : j["points"])
        if (pt["point"] == "iommu_dma_map") {
            found = true;
            EXPECT_GT(pt["p50_ns"].get<double>(), 2000);
            EXPECT_LT(pt["p99_ns"].get<double>(), 4097);
        }
    EXPECT_TRUE(found);

    std::string text = render_verdict_text(v);
    EXPECT_NE(text.find("Verdict: worth-trying"), std::string::npos);
    EXPECT_NE(text.find("Evidence (live, 10 s)"), std::string::npos);
    EXPECT_NE(text.find("iommu_dma_map"), std::string::npos);
    EXPECT_NE(text.find("Cautions:"), std::string::npos);
    EXPECT_NE(text.find("0000:41:00.0"), std::string::npos);
}

TEST(HostRender, InspectTextNamesTheEssentials)
{
    std::string t = render_hostfacts_text(host("intel-pt-vfio"));
    EXPECT_NE(t.find("active: Intel VT-d (dmar0, dmar1)"), std::string::npos);
    EXPECT_NE(t.find("passthrough (identity)"), std::string::npos);
    EXPECT_NE(t.find("0000:03:00.0 (group 9, shared with host-owned devices)"), std::string::npos);
    EXPECT_NE(t.find("[mixed: unrelated devices share this group]"), std::string::npos);
    std::string n = render_hostfacts_text(host("no-iommu"));
    EXPECT_NE(n.find("none active"), std::string::npos);
    EXPECT_NE(n.find("it applies only behind an IOMMU"), std::string::npos);
}

// ---- the sampler: stack classification and the sampled estimate ----

TEST(Sampling, StacksAreClassifiedByTheirOwnFramesOnly)
{
    using V = std::vector<std::string>;
    // leaf first
    EXPECT_EQ(classify_stack(V{"qi_submit_sync", "cache_tag_flush_range_np", "iommu_dma_unmap_page",
                               "dma_unmap_page_attrs", "nvme_unmap_data", "nvme_irq"},
                             false),
              SampleClass::Translation);
    EXPECT_EQ(classify_stack(V{"dma_map_page_attrs", "nvme_queue_rq"}, false), SampleClass::DmaApi);
    EXPECT_EQ(classify_stack(V{"domain_flush_pages.constprop.0", "amd_iommu_flush"}, false),
              SampleClass::Translation)
        << "compiler clones match their function";
    // An interrupt that arrives inside a task's dma_map is the interrupt's work.
    EXPECT_EQ(classify_stack(V{"blk_mq_complete_request", "nvme_irq", "__handle_irq_event_percpu",
                               "common_interrupt", "asm_common_interrupt", "iommu_dma_map_page",
                               "dma_map_page_attrs"},
                             false),
              SampleClass::Other);
    // The profiler's own probes inside a DMA path are the profiler's.
    EXPECT_EQ(classify_stack(V{"bpf_prog_6deef7357e7b4530_ip_fexit_3", "bpf_trampoline_6442", "iommu_dma_map_page"},
                             false),
              SampleClass::Profiler);
    EXPECT_EQ(classify_stack(V{"__iommu_dma_map", "iommu_dma_map_page", "bpf_trampoline_6442", "dma_map_page_attrs"},
                             false),
              SampleClass::Translation)
        << "a traced function's caller is the trampoline: its own samples stay its own";
    EXPECT_EQ(classify_stack(V{"iommu_map", "vfio_iommu_type1_ioctl"}, false), SampleClass::Vfio)
        << "VFIO mappings stay translated under pt";
    EXPECT_EQ(classify_stack(V{"default_idle", "do_idle"}, true), SampleClass::Idle);
    EXPECT_EQ(classify_stack(V{"iommu_dma_unmap_page", "nvme_irq", "asm_common_interrupt", "default_idle"}, true),
              SampleClass::Translation)
        << "DMA work in an interrupt that woke the idle task is DMA work";
    EXPECT_EQ(classify_stack(V{}, false), SampleClass::Other);
}

TEST(Sampling, SampledEstimateWithItsIntervalAndDisagreement)
{
    Prof p(10, 2);
    p.maps("0000:41:00.0", 0, 1000, 100000, 60000);  // probes: 60 ms translation = 0.3 % of 2 CPUs
    SampleStats ss;
    ss.event = "cpu-clock";
    ss.freq_hz = 997;
    ss.cpus[0] = {10000, 1000, 200, 50, 0, 5000};  // 10 % translation on CPU 0
    ss.cpus[1] = {10000, 0, 0, 0, 0, 9000};
    p.s.samples = ss;
    auto n = verdict_numbers(p.s);
    EXPECT_TRUE(n.sampled);
    EXPECT_EQ(n.samples, 20000u);
    EXPECT_DOUBLE_EQ(n.sampled_share_all, 0.05);
    EXPECT_NEAR(n.sampled_ci95, 1.96 * std::sqrt(0.05 * 0.95 / 20000), 1e-12);
    EXPECT_DOUBLE_EQ(n.sampled_share_hottest, 0.1);
    EXPECT_EQ(n.sampled_hottest_cpu, 0);
    EXPECT_FALSE(n.saving_from_samples) << "the probes timed: they stay the estimate";
    EXPECT_TRUE(n.disagree) << "0.3 % against 5 % +/- 0.3";
    Verdict v = decide(host("amd-strict"), &p.s, defaults());
    EXPECT_TRUE(contains(v.reasons, "DISAGREES")) << v.reasons.size();

    // Sampling alone (no timed probe): the sampled share is the estimate.
    Snapshot only;
    only.duration_s = 10;
    only.ncpus = 2;
    only.points = {{kTotalPoint, Category::Total, true}};
    only.samples = ss;
    auto m = verdict_numbers(only);
    EXPECT_TRUE(m.saving_from_samples);
    EXPECT_TRUE(m.timed);
    EXPECT_DOUBLE_EQ(m.saving_share_all, 0.05);
    EXPECT_DOUBLE_EQ(m.saving_ns, 0.05 * 20e9);
    EXPECT_EQ(m.events, 1200u) << "samples in DMA paths stand in for events";
    Verdict w = decide(host("amd-strict"), &only, defaults());
    EXPECT_EQ(w.verdict, kWorthTrying);
    auto j = verdict_json(w);
    EXPECT_EQ(j["numbers"]["saving_from_samples"], true);
    EXPECT_EQ(j["numbers"]["samples"], 20000u);
}

TEST(VerdictNumbers, InterruptedCallsAreReplacedByTheMeanOfTheOthers)
{
    // 1000 dma-iommu calls of 1000 ns, 100 of which also carry 9000 ns of an interrupt's
    // unprobed work: the estimate counts 1000 calls of 1000 ns, not 1.9 ms.
    Prof p(10, 2);
    p.maps("0000:41:00.0", 0, 1000, 3000, 1000);
    for (auto &c : p.s.cells)
        if (c.point == "iommu_dma_map" || c.point == kTotalPoint) {
            c.hist.sum_ns += 100 * 9000;
            c.hist.intr_count = 100;
            c.hist.intr_sum_ns = 100 * (c.point == kTotalPoint ? 12000 : 10000);
        }
    auto n = verdict_numbers(p.s);
    EXPECT_DOUBLE_EQ(n.saving_ns, 1e6);
    EXPECT_DOUBLE_EQ(n.total_ns, 3e6);
    // every call interrupted: nothing to take the mean of, the sums stand
    for (auto &c : p.s.cells)
        c.hist.intr_count = c.hist.count;
    EXPECT_DOUBLE_EQ(verdict_numbers(p.s).saving_ns, 1e6 + 100 * 9000);
}

TEST(Sampling, AnIdleCpuThatTookNoSamplesStillCountsItsTime)
{
    // Tickless hosts: an idle CPU may take no samples at all. Its time is still part of
    // "all CPUs": the share is of freq x duration there, not of the samples seen.
    Snapshot s;
    s.duration_s = 10;
    s.ncpus = 2;
    s.points = {{kTotalPoint, Category::Total, true}};
    SampleStats ss;
    ss.event = "cpu-clock";
    ss.freq_hz = 1000;
    ss.cpus[0] = {10000, 1000, 0, 0, 0, 8000};
    ss.cpus[1] = {3, 0, 0, 0, 0, 0};
    s.samples = ss;
    EXPECT_EQ(ss.denominator(10, 2), 20000u);
    EXPECT_EQ(ss.cpu_denominator(1, 10), 10000u);
    auto n = verdict_numbers(s);
    EXPECT_DOUBLE_EQ(n.sampled_share_all, 0.05) << "1000 of 2 CPUs x 10 s, not of 10003 samples";
    EXPECT_DOUBLE_EQ(n.sampled_share_hottest, 0.1);
    // a CPU missing from the samples altogether counts too
    ss.cpus.erase(1);
    s.samples = ss;
    EXPECT_DOUBLE_EQ(verdict_numbers(s).sampled_share_all, 0.05);
    // more samples than the nominal rate (timer jitter): the samples are the denominator
    ss.cpus[0].total = 12000;
    EXPECT_EQ(ss.cpu_denominator(0, 10), 12000u);
}

// A NIC: the verdict gives the cost and the saving per packet of every busy device that network
// interfaces sit on, in both the worth-trying and the not-worth-it wording.
TEST(Verdict, NetworkDevicesGetPerPacketFigures)
{
    Prof p(10, 2);
    p.maps("0000:06:00.0", 0, 200000, 5000, 3000);  // 1 s in DMA paths, 0.6 s translation-only
    p.maps("0000:04:00.0", 1, 1000, 5000, 3000);    // a disk: no interface
    p.s.net = {{"0000:06:00.0", "eth1", "labpeer", 150000, 50000, 0, 0}};
    HostFacts h = host("amd-strict");
    auto v = decide(h, p.operator->(), defaults());
    ASSERT_EQ(v.verdict, kWorthTrying);
    EXPECT_EQ(v.top_devices[0].packets, 200000u);
    EXPECT_EQ(v.top_devices[0].ifaces, std::vector<std::string>{"labpeer/eth1"});
    EXPECT_EQ(v.top_devices[1].packets, 0u);
    EXPECT_TRUE(contains(v.reasons, "per packet received or sent: 0000:06:00.0 (labpeer/eth1) 5.00 µs in "
                                    "DMA-mapping paths per packet, 3.00 µs of it translation-only"))
        << ::testing::PrintToString(v.reasons);
    Prof small(10, 2);
    small.maps("0000:06:00.0", 0, 2000, 5000, 3000);
    small.s.net = p.s.net;
    auto v2 = decide(h, small.operator->(), defaults());
    ASSERT_EQ(v2.verdict, kNotWorthIt);
    EXPECT_TRUE(contains(v2.reasons, "0000:06:00.0 (labpeer/eth1) 50 ns in DMA-mapping paths per packet, 30 ns"))
        << ::testing::PrintToString(v2.reasons);
}
