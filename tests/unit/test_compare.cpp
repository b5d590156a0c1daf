// compare_profiles on synthetic before/after pairs, and its renderers.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "iommuprof/compare.hpp"
#include "iommuprof/render.hpp"
#include "iommuprof/units.hpp"

using namespace iommuprof;
using nlohmann::json;

namespace {

// n calls, all in bucket b ([2^b, 2^(b+1)) ns), each taking 1.5 * 2^b ns.
Hist calls(uint64_t n, int b, uint64_t bytes_each = 0)
{
    Hist h;
    h.count = n;
    h.buckets[b] = n;
    h.sum_ns = n * (bucket_lo(b) + bucket_lo(b) / 2);
    h.max_ns = bucket_hi(b) - 1;
    h.bytes = n * bytes_each;
    return h;
}

const char *kNvme = "0000:00:04.0";
const char *kNic = "0000:00:03.0";

std::vector<PointInfo> catalog()
{
    return {{"dma_map_page", Category::DmaApi, true},       {"dma_unmap_page", Category::DmaApi, true},
            {"iommu_map", Category::IommuCore, true},       {"iommu_unmap", Category::IommuCore, true},
            {"iova_alloc", Category::Iova, true},           {"intel_flush_iotlb", Category::Flush, true},
            {"io_page_fault", Category::Fault, false},      {kTotalPoint, Category::Total, true}};
}

std::vector<Attachment> plan_of(const std::vector<PointInfo> &pts)
{
    std::vector<Attachment> plan;
    for (auto &p : pts)
        if (p.name != kTotalPoint)
            plan.push_back({p.name, p.category, p.name, p.timed ? Method::Kprobe : Method::Tracepoint, "", true});
    return plan;
}

// A profile of the same NVMe workload: `dma` DMA-API map calls per second
// (and as many unmaps) for 10 s on 4 CPUs; translated adds the IOMMU work.
Profile profile(const std::string &domain, const std::string &policy, double dma, bool translated, int map_bucket)
{
    Profile p;
    p.label = domain;
    p.created = "2024-05-01T12:00:00Z";
    p.tool_version = "test";
    p.host.kernel.release = "6.1.0-18-amd64";
    p.host.iommu.active = domain != "none";
    p.host.iommu.default_domain = domain;
    p.host.iommu.dma_policy = policy;
    if (domain == "passthrough")
        p.host.kernel.iommu_params = {{"iommu", "pt"}};
    else if (policy == "strict")
        p.host.kernel.iommu_params = {{"iommu.strict", "1"}};
    p.snap.duration_s = 10;
    p.snap.ncpus = 4;
    p.snap.points = catalog();
    p.plan = plan_of(p.snap.points);
    uint64_t n = static_cast<uint64_t>(dma * 10);
    auto add = [&](const char *point, const char *dev, int cpu, Hist h) { p.snap.cells.push_back({point, dev, cpu, h}); };
    add("dma_map_page", kNvme, 0, calls(n * 3 / 4, map_bucket, 4096));
    add("dma_map_page", kNvme, 1, calls(n / 4, map_bucket, 4096));
    add("dma_map_page", kNic, 2, calls(n / 100, map_bucket, 1500));
    add("dma_unmap_page", kNvme, 0, calls(n, map_bucket + 1, 4096));
    if (translated) {
        add("iommu_map", kNvme, 0, calls(n, 9, 4096));
        add("iommu_unmap", kNvme, 0, calls(n, 10, 4096));
        add("iova_alloc", kNvme, 0, calls(n, 7));
        add("intel_flush_iotlb", kNvme, 0, calls(policy == "strict" ? n : n / 64, 11));
    }
    add(kTotalPoint, kNvme, 0, calls(2 * n, map_bucket + 1));
    return p;
}

Profile strict(double dma = 100000) { return profile("translated", "strict", dma, true, 11); }
Profile pt(double dma = 100000) { return profile("passthrough", "", dma, false, 7); }

bool has_warning(const Comparison &c, const std::string &needle, bool loud)
{
    for (size_t i = 0; i < c.warnings.size(); i++)
        if (c.warnings[i].find(needle) != std::string::npos)
            return loud == (i < c.loud_warnings);
    return false;
}

const CompareRow *row(const Comparison &c, const std::string &point, const std::string &device = "")
{
    for (auto &r : c.rows)
        if (r.point == point && r.device == device)
            return &r;
    return nullptr;
}

const CategoryRow *cat(const Comparison &c, Category k)
{
    for (auto &r : c.categories)
        if (r.category == k)
            return &r;
    return nullptr;
}

}  // namespace

TEST(Compare, IommuMode)
{
    HostFacts h;
    h.iommu.active = true;
    h.iommu.default_domain = "translated";
    h.iommu.dma_policy = "lazy";
    EXPECT_EQ(iommu_mode(h), "translated (lazy)");
    h.iommu.default_domain = "passthrough";
    EXPECT_EQ(iommu_mode(h), "passthrough");
    h.iommu.default_domain = "none";
    EXPECT_EQ(iommu_mode(h), "unknown");
    h.iommu.active = false;
    EXPECT_EQ(iommu_mode(h), "no IOMMU");
}

TEST(Compare, StrictToPassthrough)
{
    Comparison c = compare_profiles(strict(), pt(110000));
    EXPECT_TRUE(c.mode_known);
    EXPECT_TRUE(c.mode_changed);
    EXPECT_EQ(c.before.mode, "translated (strict)");
    EXPECT_EQ(c.after.mode, "passthrough");
    EXPECT_NEAR(c.workload_ratio, 1.1, 1e-3);
    EXPECT_FALSE(c.workload_differs);
    EXPECT_EQ(c.loud_warnings, 0u) << (c.warnings.empty() ? "" : c.warnings[0]);
    EXPECT_TRUE(c.warnings.empty()) << c.warnings[0];
    EXPECT_EQ(c.before.iommu_params, std::vector<std::string>{"iommu.strict=1"});
    EXPECT_EQ(c.after.iommu_params, std::vector<std::string>{"iommu=pt"});

    // Translation work falls to zero; DMA-API calls remain.
    for (Category k : {Category::IommuCore, Category::Iova, Category::Flush}) {
        const CategoryRow *r = cat(c, k);
        ASSERT_NE(r, nullptr) << to_string(k);
        EXPECT_TRUE(r->translation_only);
        EXPECT_GT(r->before_calls_per_s, 0);
        EXPECT_EQ(r->after_calls_per_s, 0);
        EXPECT_DOUBLE_EQ(r->calls_change, -1.0);
    }
    const CategoryRow *api = cat(c, Category::DmaApi);
    ASSERT_NE(api, nullptr);
    EXPECT_FALSE(api->translation_only);
    EXPECT_GT(api->after_calls_per_s, api->before_calls_per_s);
    EXPECT_DOUBLE_EQ(c.before.translation_calls_per_s, 400000);
    EXPECT_EQ(c.after.translation_calls_per_s, 0);

    // The point row of dma_map_page: calls/s, bytes/s, p99 and CPU share.
    const CompareRow *m = row(c, "dma_map_page");
    ASSERT_NE(m, nullptr);
    EXPECT_NEAR(m->before.calls_per_s, 101000, 1);
    EXPECT_NEAR(m->after.calls_per_s, 111100, 1);
    EXPECT_NEAR(m->calls_change, 0.1, 1e-3);
    EXPECT_NEAR(m->before.bytes_per_s, 100000 * 4096 + 1000 * 1500, 1);
    EXPECT_GT(m->before.p99_ns, m->after.p99_ns * 8);  // bucket 11 vs bucket 7
    EXPECT_GE(m->before.p99_ns, 2048);
    EXPECT_LT(m->before.p99_ns, 4096);
    EXPECT_NEAR(m->before.cpu_share, 1010000.0 * 3072 / (4 * 10 * 1e9), 1e-9);
    EXPECT_LT(m->cpu_share_change, 0);
    // Its device rows follow, busiest first.
    size_t i = static_cast<size_t>(m - c.rows.data());
    ASSERT_LT(i + 2, c.rows.size());
    EXPECT_EQ(c.rows[i + 1].device, kNvme);
    EXPECT_EQ(c.rows[i + 2].device, kNic);
    EXPECT_NEAR(c.rows[i + 1].before.calls_per_s, 100000, 1);

    // iommu_map: attached in both, zero after.
    const CompareRow *im = row(c, "iommu_map");
    ASSERT_NE(im, nullptr);
    EXPECT_TRUE(im->after.attached);
    EXPECT_EQ(im->after.calls_per_s, 0);
    EXPECT_DOUBLE_EQ(im->calls_change, -1.0);

    // The conclusion says it in one paragraph.
    EXPECT_NE(c.conclusion.find("mode changed from translated (strict) to passthrough"), std::string::npos)
        << c.conclusion;
    EXPECT_NE(c.conclusion.find("CPU share fell from"), std::string::npos) << c.conclusion;
    EXPECT_NE(c.conclusion.find("p99 dma_map_page fell from "), std::string::npos) << c.conclusion;
    EXPECT_NE(c.conclusion.find("p99 dma_unmap_page fell from"), std::string::npos) << c.conclusion;
    EXPECT_NE(c.conclusion.find("translation work"), std::string::npos) << c.conclusion;
    // total: 2n calls of 6144 ns (bucket 12) per 2.01n DMA-API calls (the
    // NIC adds 1 % maps) before; bucket 8 (384 ns) after.
    EXPECT_NEAR(c.before.ns_per_call, 2e6 * 6144 / 2.01e6, 1);
    EXPECT_NEAR(c.after.ns_per_call, 2.2e6 * 384 / 2.2121e6, 1);
    EXPECT_NE(c.conclusion.find("CPU time per DMA-API call fell from 6.11 µs to 382 ns"), std::string::npos)
        << c.conclusion;
    EXPECT_GT(c.before.translation_calls_per_s, 0);
    EXPECT_EQ(c.after.translation_calls_per_s, 0);  // the "(-100%)" of the conclusion
    EXPECT_NE(c.conclusion.find("(-100%)"), std::string::npos) << c.conclusion;
    EXPECT_NE(c.conclusion.find("comparable workloads"), std::string::npos) << c.conclusion;
    EXPECT_EQ(c.conclusion.find("proves nothing"), std::string::npos) << c.conclusion;
}

TEST(Compare, ModeDidNotChangeIsLoud)
{
    Comparison c = compare_profiles(strict(), strict(105000));
    EXPECT_TRUE(c.mode_known);
    EXPECT_FALSE(c.mode_changed);
    EXPECT_FALSE(c.workload_differs);
    EXPECT_TRUE(has_warning(c, "THE IOMMU MODE DID NOT CHANGE", true));
    EXPECT_TRUE(has_warning(c, "'translated (strict)'", true));
    EXPECT_EQ(c.loud_warnings, 1u);
    EXPECT_NE(c.conclusion.find("did not change"), std::string::npos) << c.conclusion;
    EXPECT_NE(c.conclusion.find("proves nothing"), std::string::npos) << c.conclusion;

    // strict -> lazy is a change.
    Comparison l = compare_profiles(strict(), profile("translated", "lazy", 100000, true, 10));
    EXPECT_TRUE(l.mode_changed);
    EXPECT_FALSE(has_warning(l, "DID NOT CHANGE", true));
}

TEST(Compare, WorkloadDiffersIsLoud)
{
    Comparison c = compare_profiles(strict(100000), pt(20000));
    EXPECT_TRUE(c.mode_changed);
    EXPECT_NEAR(c.workload_ratio, 0.2, 1e-3);
    EXPECT_TRUE(c.workload_differs);
    EXPECT_TRUE(has_warning(c, "THE WORKLOADS DIFFER A LOT", true));
    EXPECT_NE(c.conclusion.find("NOT the same workload"), std::string::npos) << c.conclusion;
    EXPECT_NE(c.conclusion.find("the workloads differ, the rates and CPU shares prove nothing"), std::string::npos)
        << c.conclusion;
    // The per-call cost still compares: the same per call in both.
    EXPECT_NE(c.conclusion.find("CPU time per DMA-API call fell from"), std::string::npos) << c.conclusion;

    // Within the tolerance either way: no warning.
    for (double after : {100000.0 * 1.45, 100000.0 / 1.45}) {
        Comparison ok = compare_profiles(strict(100000), pt(after));
        EXPECT_FALSE(ok.workload_differs) << after;
        EXPECT_FALSE(has_warning(ok, "WORKLOADS", true)) << after;
    }
    // Both problems at once.
    Comparison both = compare_profiles(strict(100000), strict(300000));
    EXPECT_EQ(both.loud_warnings, 2u);
    EXPECT_NE(both.conclusion.find("the mode did not change and the workloads differ"), std::string::npos)
        << both.conclusion;
}

TEST(Compare, NoWorkloadBefore)
{
    Profile idle = strict();
    idle.snap.cells.clear();
    Comparison c = compare_profiles(idle, pt());
    EXPECT_TRUE(std::isnan(c.workload_ratio));
    EXPECT_TRUE(c.workload_differs);
    EXPECT_TRUE(has_warning(c, "BEFORE saw no", true));
    const CompareRow *m = row(c, "dma_map_page");
    ASSERT_NE(m, nullptr);
    EXPECT_TRUE(std::isnan(m->calls_change));  // a point that appears
    json j = compare_to_json(c);
    EXPECT_TRUE(j["workload_ratio"].is_null());
    EXPECT_NO_THROW((void)j.dump());
}

TEST(Compare, LesserNotes)
{
    Profile b = strict(), a = pt();
    a.host.kernel.release = "6.5.0";
    a.snap.ncpus = 8;
    a.snap.counters.hist_full = 12;
    b.snap.duration_s = 0.5;
    // flush not attached after.
    for (auto &att : a.plan)
        if (att.point == "intel_flush_iotlb") {
            att.attached = false;
            att.method = Method::Unavailable;
        }
    Comparison c = compare_profiles(b, a);
    EXPECT_TRUE(has_warning(c, "Different kernels: 6.1.0-18-amd64 before, 6.5.0 after", false));
    EXPECT_TRUE(has_warning(c, "Different CPU counts: 4 before, 8 after", false));
    EXPECT_TRUE(has_warning(c, "AFTER: 12 events were not recorded", false));
    EXPECT_TRUE(has_warning(c, "BEFORE covers only 500 ms", false));
    EXPECT_TRUE(has_warning(c, "Attached only in BEFORE (no data after): intel_flush_iotlb.", false));
    const CompareRow *f = row(c, "intel_flush_iotlb");
    ASSERT_NE(f, nullptr);
    EXPECT_TRUE(f->before.attached);
    EXPECT_FALSE(f->after.attached);
}

TEST(Compare, UnknownModeIsLoud)
{
    Profile b = strict(), a = pt();
    a.host.iommu.default_domain = "";
    a.host.iommu.active = true;
    Comparison c = compare_profiles(b, a);
    EXPECT_FALSE(c.mode_known);
    EXPECT_FALSE(c.mode_changed);
    EXPECT_TRUE(has_warning(c, "THE IOMMU MODE IS UNKNOWN for AFTER", true));
    EXPECT_NE(c.conclusion.find("proves nothing"), std::string::npos);
}

TEST(Compare, CountOnlyProfiles)
{
    // Tracepoint-only hosts: no timing, no DMA-API points; the workload
    // falls back to the total point's calls.
    auto count_only = [](const std::string &domain, uint64_t n) {
        Profile p = profile(domain, domain == "translated" ? "strict" : "", 0, false, 7);
        p.snap.points = {{"io_page_fault", Category::Fault, false}, {kTotalPoint, Category::Total, false}};
        p.plan = plan_of(p.snap.points);
        p.snap.cells = {{kTotalPoint, kNvme, 0, {n, 0, 0, 0, 0, {}}}};
        return p;
    };
    Comparison c = compare_profiles(count_only("translated", 1000), count_only("passthrough", 1100));
    EXPECT_EQ(c.before.workload_measure, "outermost profiled calls");
    EXPECT_NEAR(c.workload_ratio, 1.1, 1e-9);
    EXPECT_NE(c.conclusion.find("no CPU share"), std::string::npos) << c.conclusion;
    std::string text = render_compare_text(c);
    EXPECT_EQ(text.find("LATENCY HISTOGRAMS"), std::string::npos);
}

TEST(Compare, TextRendering)
{
    Comparison c = compare_profiles(strict(), pt(110000));
    std::string t = render_compare_text(c);
    EXPECT_NE(t.find("BEFORE"), std::string::npos);
    EXPECT_NE(t.find("translated (strict)"), std::string::npos);
    EXPECT_NE(t.find("passthrough   (changed)"), std::string::npos) << t;
    EXPECT_EQ(t.find("!!"), std::string::npos) << t;  // nothing loud
    EXPECT_NE(t.find("iommu-core *"), std::string::npos) << t;
    EXPECT_NE(t.find("  0000:00:04.0"), std::string::npos) << t;
    EXPECT_NE(t.find("LATENCY HISTOGRAMS"), std::string::npos) << t;
    EXPECT_NE(t.find("█"), std::string::npos) << t;
    EXPECT_NE(t.find("CONCLUSION"), std::string::npos);
    EXPECT_NE(t.find("IOMMU mode changed"), std::string::npos) << t;
    // Every line fits a 120-column terminal (counting code points).
    size_t start = 0;
    while (start < t.size()) {
        size_t nl = t.find('\n', start);
        std::string line = t.substr(start, nl - start);
        size_t cols = 0;
        for (unsigned char ch : line)
            cols += (ch & 0xC0) != 0x80;
        EXPECT_LE(cols, 120u) << line;
        start = nl + 1;
    }

    Comparison same = compare_profiles(strict(), strict());
    std::string s = render_compare_text(same);
    EXPECT_NE(s.find("!! THE IOMMU MODE DID NOT CHANGE"), std::string::npos) << s;
    EXPECT_NE(s.find("(SAME)"), std::string::npos) << s;
}

TEST(Compare, Json)
{
    Comparison c = compare_profiles(strict(), pt(110000));
    json j = json::parse(compare_to_json(c).dump());
    EXPECT_EQ(j["mode_changed"], true);
    EXPECT_EQ(j["before"]["mode"], "translated (strict)");
    EXPECT_EQ(j["after"]["mode"], "passthrough");
    EXPECT_NEAR(j["workload_ratio"].get<double>(), 1.1, 1e-3);
    EXPECT_EQ(j["warnings"].size(), 0u);
    bool found = false;
    for (auto &r : j["rows"])
        if (r["point"] == "iommu_map" && r["device"].is_null()) {
            found = true;
            EXPECT_EQ(r["category"], to_string(Category::IommuCore));
            EXPECT_GT(r["before"]["calls_per_s"].get<double>(), 0);
            EXPECT_EQ(r["after"]["calls_per_s"].get<double>(), 0);
            EXPECT_TRUE(r["after"]["p99_ns"].is_null());  // no calls: no latency
            EXPECT_EQ(r["calls_change"].get<double>(), -1.0);
        }
    EXPECT_TRUE(found);
    for (auto &r : j["categories"]) {
        if (r["translation_only"] == true) {
            EXPECT_EQ(r["after_calls_per_s"].get<double>(), 0) << r.dump();
        }
    }
    EXPECT_EQ(j["conclusion"], c.conclusion);
}

TEST(Compare, MiniHistogram)
{
    Hist h;
    h.buckets[3] = 100;
    h.buckets[4] = 50;
    h.buckets[6] = 1;
    EXPECT_EQ(mini_histogram(h, 3, 6), "█▄ ▁");
    EXPECT_EQ(mini_histogram(h, 2, 3), " █");
    EXPECT_EQ(mini_histogram(Hist{}, 0, 5), "");
    EXPECT_EQ(mini_histogram(h, 10, 12), "");
}

// Prints a sample rendering (for docs and eyeballing): --gtest_also_run_disabled_tests.
TEST(Compare, DISABLED_PrintSample)
{
    printf("%s\n", render_compare_text(compare_profiles(strict(20000), pt(21000))).c_str());
    printf("%s\n", render_compare_text(compare_profiles(strict(20000), strict(45000))).c_str());
}
