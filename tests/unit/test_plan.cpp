// Symbol resolution and attach-plan choice against kallsyms captured from
// Debian 6.1 and 6.12 guests and the 6.18 host (tests/fixtures/kallsyms,
// made with scripts/capture-symbols.sh).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "iommuprof.h"
#include "iommuprof/plan.hpp"
#include "iommuprof/render.hpp"

using namespace iommuprof;

namespace {

KernelView load(const std::string &file)
{
    KernelView k;
    std::ifstream in(std::string(IOMMUPROF_FIXTURES) + "/kallsyms/" + file);
    EXPECT_TRUE(in.good()) << file;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string addr, type, name, mod;
        ls >> addr >> type >> name >> mod;
        k.symbols.insert(name);
        if (!mod.empty())
            k.symbol_module[name] = mod.substr(1, mod.size() - 2);
    }
    EXPECT_FALSE(k.symbols.empty()) << file;
    return k;
}

// A kernel where everything attaches, BTF describing every non-clone symbol.
KernelView capable(KernelView k)
{
    k.have_btf = k.fentry = k.kprobes = true;
    for (auto &s : k.symbols)
        if (s.find('.') == std::string::npos)
            k.btf_funcs[s] = BtfFunc{5, -1, -1};
    return k;
}

const PlanEntry *entry(const Plan &p, const std::string &point)
{
    for (auto &e : p.entries)
        if (e.att.point == point)
            return &e;
    return nullptr;
}

std::vector<std::string> symbols_of(const Plan &p, const std::string &point)
{
    std::vector<std::string> v;
    for (auto &e : p.entries)
        if (e.att.point == point && e.att.method != Method::Unavailable)
            v.push_back(e.att.symbol);
    return v;
}

TEST(ResolveSymbol, ExactNameWinsOverClones)
{
    KernelView k;
    k.symbols = {"domain_flush_pages", "domain_flush_pages.constprop.0"};
    auto r = resolve_symbol(k, "domain_flush_pages");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->symbol, "domain_flush_pages");
    EXPECT_FALSE(r->clone);
}

TEST(ResolveSymbol, ClonesAreFoundAndColdFragmentsAreNot)
{
    KernelView k;
    k.symbols = {"iommu_completion_wait.isra.0", "qi_submit_sync.cold", "foo.constprop.0.isra.0",
                 "foo_bar.isra.0", "baz.part.1", "baz.partial"};
    auto r = resolve_symbol(k, "iommu_completion_wait");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->symbol, "iommu_completion_wait.isra.0");
    EXPECT_TRUE(r->clone);
    EXPECT_FALSE(resolve_symbol(k, "qi_submit_sync")) << ".cold is a fragment, not an entry point";
    auto f = resolve_symbol(k, "foo");
    ASSERT_TRUE(f);
    EXPECT_EQ(f->symbol, "foo.constprop.0.isra.0");
    EXPECT_FALSE(resolve_symbol(k, "foo_")) << "a longer name is not a clone";
    auto b = resolve_symbol(k, "baz");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->symbol, "baz.part.1");
    EXPECT_TRUE(b->other_clones.empty());
}

TEST(Plan, Debian61UsesIommuMapAtomicAndAmdClones)
{
    KernelView k = capable(load("6.1-debian.txt"));
    k.fentry_max_args = 6;
    k.btf_funcs["intel_iommu_map_pages"] = BtfFunc{7, -1, -1};
    Plan p = make_plan(k);
    auto im = symbols_of(p, "iommu_map");
    EXPECT_NE(std::find(im.begin(), im.end(), "iommu_map_atomic"), im.end())
        << "6.1's DMA path maps through iommu_map_atomic";
    EXPECT_EQ(symbols_of(p, "dma_map"), std::vector<std::string>{"dma_map_page_attrs"});
    EXPECT_EQ(symbols_of(p, "iommu_dma_map"), std::vector<std::string>{"iommu_dma_map_page"});
    const PlanEntry *cw = entry(p, "iommu_completion_wait");
    ASSERT_TRUE(cw);
    EXPECT_EQ(cw->att.symbol, "iommu_completion_wait.isra.0");
    EXPECT_EQ(cw->att.method, Method::Kprobe) << "a clone has no BTF: kprobe";
    EXPECT_EQ(cw->dev_arg, -1);
    EXPECT_EQ(cw->size_arg, -1);
    const PlanEntry *df = entry(p, "domain_flush_pages");
    ASSERT_TRUE(df);
    EXPECT_EQ(df->att.symbol, "__domain_flush_pages.constprop.0");
    // 7 arguments > 6: fentry cannot attach on 6.1, per function not per kernel.
    const PlanEntry *mp = entry(p, "intel_iommu_map_pages");
    ASSERT_TRUE(mp);
    EXPECT_EQ(mp->att.method, Method::Kprobe);
    EXPECT_NE(mp->att.reason.find("7 arguments"), std::string::npos) << mp->att.reason;
    EXPECT_EQ(entry(p, "qi_submit_sync")->att.method, Method::Fentry);
    // 6.10+ cache_tag_* do not exist on 6.1.
    EXPECT_EQ(entry(p, "cache_tag_flush_range")->att.method, Method::Unavailable);
    EXPECT_NE(entry(p, "cache_tag_flush_range")->att.reason.find("not in kallsyms"), std::string::npos);
}

TEST(Plan, Debian612PrefersIommuMapAndCacheTagFlushes)
{
    KernelView k = capable(load("6.12-debian.txt"));
    k.fentry_max_args = 12;
    Plan p = make_plan(k);
    EXPECT_EQ(symbols_of(p, "iommu_map"), std::vector<std::string>{"iommu_map"});
    EXPECT_EQ(entry(p, "cache_tag_flush_range")->att.method, Method::Fentry);
    EXPECT_EQ(entry(p, "iommu_flush_iotlb_psi")->att.method, Method::Unavailable);
    EXPECT_EQ(entry(p, "viommu_sync_req")->att.method, Method::Fentry) << "module symbol";
    EXPECT_EQ(entry(p, "vfio_dma_map")->att.method, Method::Unavailable);
    EXPECT_NE(entry(p, "vfio_dma_map")->att.reason.find("vfio_iommu_type1"), std::string::npos);
}

// Debian 7.3 (kallsyms from a lab guest): the DMA API is dma_map_phys (dma_map_page_attrs wraps
// it: only one of the two), the two-step IOVA API is there, and the page tables are the generic
// ones (iommupt): vtdss_map_range stands for VT-d's, amdv1_map_range for AMD-Vi's.
TEST(Plan, Debian73HasTheTwoStepIovaApiAndTheGenericPageTable)
{
    KernelView k = capable(load("7.3-debian.txt"));
    k.fentry_max_args = 12;
    Plan p = make_plan(k);
    EXPECT_EQ(symbols_of(p, "dma_map"), std::vector<std::string>{"dma_map_phys"});
    EXPECT_EQ(symbols_of(p, "iommu_dma_map"), std::vector<std::string>{"iommu_dma_map_phys"});
    for (auto [point, sym] : {std::pair{"dma_iova_alloc", "dma_iova_try_alloc"}, {"dma_iova_link", "dma_iova_link"},
                              {"dma_iova_sync", "dma_iova_sync"}, {"dma_iova_destroy", "dma_iova_destroy"}}) {
        EXPECT_EQ(symbols_of(p, point), std::vector<std::string>{sym}) << point;
        EXPECT_EQ(entry(p, point)->att.category, Category::DmaIommu) << point;
    }
    EXPECT_EQ(symbols_of(p, "intel_iommu_map_pages"), std::vector<std::string>{"vtdss_map_range"});
    EXPECT_EQ(symbols_of(p, "amd_iommu_map_pages"), std::vector<std::string>{"amdv1_map_range"});
    EXPECT_EQ(symbols_of(p, "x86_64_map_range"), std::vector<std::string>{"x86_64_map_range"});
    EXPECT_EQ(symbols_of(p, "intel_iommu_unmap_pages"), std::vector<std::string>{"vtdss_unmap_range"});
    EXPECT_EQ(symbols_of(p, "amd_iommu_unmap_pages"), std::vector<std::string>{"amdv1_unmap_range"});
    EXPECT_EQ(symbols_of(p, "x86_64_unmap_range"), std::vector<std::string>{"x86_64_unmap_range"});
    EXPECT_EQ(symbols_of(p, "iommu_map"), std::vector<std::string>{"iommu_map_nosync"});
    // The verdict's plan times the two-step API: 64 KiB and larger block I/O maps through it.
    PlanOptions o;
    o.only_points = verdict_points();
    o.fallback_points = dma_api_points();
    Plan v = make_plan(k, o);
    for (const char *want : {"dma_iova_alloc", "dma_iova_link", "dma_iova_sync", "dma_iova_unlink", "dma_iova_destroy"})
        EXPECT_NE(entry(v, want), nullptr) << want;
    // 6.12 has none of it: the points are there and say so.
    Plan old = make_plan(capable(load("6.12-debian.txt")));
    EXPECT_EQ(entry(old, "dma_iova_link")->att.method, Method::Unavailable);
    EXPECT_EQ(symbols_of(old, "intel_iommu_map_pages"), std::vector<std::string>{"intel_iommu_map_pages"});
}

TEST(Plan, VerdictPointsLeaveOutWhatNestsInTheDmaIommuLayer)
{
    KernelView k = capable(load("6.12-debian.txt"));
    k.fentry_max_args = 12;
    PlanOptions o;
    o.only_points = verdict_points();
    o.fallback_points = dma_api_points();
    Plan p = make_plan(k, o);
    for (const char *want : {"iommu_dma_map", "iommu_dma_unmap", "iommu_dma_map_sg", "fq_flush_timeout"})
        EXPECT_NE(entry(p, want), nullptr) << want;
    // The DMA API around the layer is left out too (--dma-api): the dma-iommu layer can be timed here.
    for (const char *not_there : {"dma_map", "dma_unmap", "dma_map_sg", "iommu_map", "iommu_unmap_fast",
                                  "iova_alloc", "qi_submit_sync", "cache_tag_flush_range", "intel_iommu_map_pages",
                                  "fq_flush_iotlb"})
        EXPECT_EQ(entry(p, not_there), nullptr) << not_there;
    for (auto &e : p.entries)
        EXPECT_NE(e.att.category, Category::Flush) << e.att.point;
}

// Where no dma-iommu point can be timed (here: no fentry, no kprobes), the DMA
// API stands in, and its entries say why they were planned.
TEST(Plan, DmaApiStandsInWhenTheDmaIommuLayerCannotBeTimed)
{
    KernelView k = load("6.18-host.txt");
    PlanOptions o;
    o.only_points = verdict_points();
    o.fallback_points = dma_api_points();
    Plan p = make_plan(k, o);
    ASSERT_NE(entry(p, "dma_map"), nullptr);
    EXPECT_NE(entry(p, "dma_map")->att.reason.find("in place of the dma-iommu layer"), std::string::npos)
        << entry(p, "dma_map")->att.reason;
    EXPECT_NE(entry(p, "iommu_dma_map"), nullptr);
    // Without the fallback: not planned.
    o.fallback_points.clear();
    EXPECT_EQ(entry(make_plan(k, o), "dma_map"), nullptr);
    // With fentry: the layer is timed, no stand-in.
    KernelView c = capable(load("6.12-debian.txt"));
    o.fallback_points = dma_api_points();
    EXPECT_EQ(entry(make_plan(c, o), "dma_map"), nullptr);
}

TEST(Plan, Debian612ForcedKprobeUsesKprobesEverywhere)
{
    KernelView k = capable(load("6.12-debian.txt"));
    Plan p = make_plan(k, PlanOptions{true, false, {}});
    int kp = 0;
    for (auto &e : p.entries) {
        EXPECT_NE(e.att.method, Method::Fentry) << e.att.point;
        kp += e.att.method == Method::Kprobe;
    }
    EXPECT_GT(kp, 25);
}

TEST(Plan, Host618WithoutKprobesOrFentryFallsBackToTracepoints)
{
    KernelView k = load("6.18-host.txt");
    k.have_btf = true;
    k.fentry = false;
    k.fentry_why = "no fentry (test)";
    k.kprobes = false;
    k.kprobes_why = "no kprobes (test)";
    for (auto ev : {"map", "unmap", "io_page_fault", "swiotlb_bounced", "dma_map_phys", "dma_unmap_phys",
                    "dma_map_sg", "dma_unmap_sg"}) {
        BtfTracepoint t;
        t.nargs = 6;
        t.is_device_ptr = {true, false, false, false, false, false};
        t.is_integer = {false, true, true, true, true, true};
        if (std::string(ev) == "map" || std::string(ev) == "unmap") {
            t.is_device_ptr = {false, false, false};
            t.is_integer = {true, true, true};
        }
        k.btf_tracepoints[ev] = t;
    }
    Plan p = make_plan(k);
    const PlanEntry *dm = entry(p, "dma_map");
    ASSERT_TRUE(dm);
    EXPECT_EQ(dm->att.method, Method::Tracepoint);
    EXPECT_EQ(dm->att.symbol, "dma:dma_map_phys") << "6.18 traces dma_map_phys";
    EXPECT_EQ(dm->dev_arg, 0);
    EXPECT_EQ(dm->size_arg, 3);
    const PlanEntry *im = entry(p, "iommu_map");
    EXPECT_EQ(im->att.method, Method::Tracepoint);
    EXPECT_EQ(im->dev_arg, -1);
    EXPECT_EQ(im->size_arg, 2);
    // iommu:unmap is attached once, to the DMA-path unmap point.
    int unmap_tp = 0;
    for (auto &e : p.entries)
        unmap_tp += e.att.symbol == "iommu:unmap";
    EXPECT_EQ(unmap_tp, 1);
    // A point with no tracepoint says why it is unavailable.
    const PlanEntry *q = entry(p, "iommu_dma_map");
    EXPECT_EQ(q->att.method, Method::Unavailable);
    EXPECT_NE(q->att.reason.find("no fentry, no kprobes"), std::string::npos) << q->att.reason;
    for (auto &pi : p.points) {
        if (pi.name != kTotalPoint) {
            EXPECT_FALSE(pi.timed && entry(p, pi.name)->att.method != Method::Fentry) << pi.name;
        }
    }
}

TEST(Plan, TracepointArgumentsAreDroppedWhenBtfDisagrees)
{
    KernelView k;
    k.have_btf = true;
    BtfTracepoint t;
    t.nargs = 3;
    t.is_device_ptr = {false, false, false};  // no struct device * where the catalog expects one
    t.is_integer = {true, true, true};
    k.btf_tracepoints["io_page_fault"] = t;
    Plan p = make_plan(k, PlanOptions{false, false, {"io_page_fault"}});
    ASSERT_EQ(p.entries.size(), 1u);
    EXPECT_EQ(p.entries[0].att.method, Method::Tracepoint);
    EXPECT_EQ(p.entries[0].dev_arg, -1);
}

TEST(Plan, NoTracepointsKeepsPointsThatAreTracepointsByNature)
{
    // docs/cli.md: --no-tracepoints turns off the counting fallback of
    // function points, not io_page_fault or swiotlb_bounced.
    KernelView k = load("6.18-host.txt");
    k.have_btf = true;
    k.fentry = k.kprobes = false;
    BtfTracepoint t;
    t.nargs = 6;
    t.is_device_ptr = {true, false, false, false, false, false};
    t.is_integer = {false, true, true, true, true, true};
    for (auto ev : {"io_page_fault", "dma_map_phys", "map"})
        k.btf_tracepoints[ev] = t;
    Plan p = make_plan(k, PlanOptions{false, true, {}});
    const PlanEntry *f = entry(p, "io_page_fault");
    ASSERT_TRUE(f);
    EXPECT_EQ(f->att.method, Method::Tracepoint);
    const PlanEntry *dm = entry(p, "dma_map");
    ASSERT_TRUE(dm);
    EXPECT_EQ(dm->att.method, Method::Unavailable);
    EXPECT_NE(dm->att.reason.find("tracepoint fallback disabled"), std::string::npos) << dm->att.reason;
}

TEST(Plan, OnlyPointsFiltersAndArm64PointsAreReferenceOnly)
{
    KernelView k = capable(load("6.12-debian.txt"));
    Plan p = make_plan(k, PlanOptions{false, false, {"dma_map", "arm_smmu_cmdq_issue"}});
    ASSERT_EQ(p.entries.size(), 2u);
    EXPECT_EQ(p.points.size(), 3u);  // + total
    EXPECT_EQ(p.points.back().name, kTotalPoint);
    EXPECT_EQ(entry(p, "arm_smmu_cmdq_issue")->att.method, Method::Unavailable);
    EXPECT_NE(entry(p, "arm_smmu_cmdq_issue")->att.reason.find("arm64"), std::string::npos);
}

TEST(Plan, BtfParameterPositionsOverrideCatalogDefaults)
{
    KernelView k;
    k.symbols = {"dma_map_page_attrs"};
    k.have_btf = k.fentry = true;
    k.btf_funcs["dma_map_page_attrs"] = BtfFunc{6, 0, 3};
    Plan p = make_plan(k, PlanOptions{false, false, {"dma_map"}});
    EXPECT_EQ(p.entries[0].dev_arg, 0);
    EXPECT_EQ(p.entries[0].size_arg, 3);
    EXPECT_EQ(p.entries[0].ret_kind, IP_RET_DMA_ADDR);
    k.btf_funcs["dma_map_page_attrs"] = BtfFunc{6, 1, -1};  // a reshuffled signature
    p = make_plan(k, PlanOptions{false, false, {"dma_map"}});
    EXPECT_EQ(p.entries[0].dev_arg, 1);
    EXPECT_EQ(p.entries[0].size_arg, -1);
    EXPECT_NE(p.entries[0].att.reason.find("bytes not counted"), std::string::npos);
}

TEST(Catalog, PointIdsFitTheBpfSideAndNamesAreUnique)
{
    EXPECT_LT(catalog().size(), size_t(IP_POINT_CALIB_OUTER));
    std::set<std::string> names;
    for (auto &p : catalog()) {
        EXPECT_TRUE(names.insert(p.name).second) << p.name;
        EXPECT_TRUE(!p.groups.empty() || !p.tracepoints.empty()) << p.name;
    }
}

}  // namespace

TEST(Probes, TheHeaderSaysWhetherKprobesGoThroughKprobeMulti)
{
    KernelFeatures f;
    f.release = "6.12.117+deb12-amd64";
    f.btf = f.fentry = f.kprobes = f.raw_tp = f.tracefs = true;
    f.kprobe_multi = true;
    std::string text = render_probes_text(f, f.release, {});
    EXPECT_NE(text.find("kprobes yes (kprobe_multi links)"), std::string::npos) << text;
    auto j = probes_json(f, f.release, {}, 1.0);
    EXPECT_EQ(j["features"]["kprobe_multi"], true);

    f.kprobe_multi = false;
    f.kprobe_multi_why = "no kprobe_multi (attach failed: not supported (CONFIG_FPROBE unset?))";
    text = render_probes_text(f, f.release, {});
    EXPECT_NE(text.find("kprobes yes (one kprobe per function: no kprobe_multi (attach failed"), std::string::npos)
        << text;
    j = probes_json(f, f.release, {}, 1.0);
    EXPECT_EQ(j["features"]["kprobe_multi"], false);
    EXPECT_EQ(j["features"]["kprobe_multi_reason"], f.kprobe_multi_why);
}

// 5.10 (bullseye) lacks task storage for tracing programs, bpf_get_func_arg and attach cookies:
// the probes take older ways, and the header and JSON say which.
TEST(Probes, TheHeaderSaysWhatAnOlderKernelLacks)
{
    KernelFeatures f;
    f.release = "5.10.0-46-amd64";
    f.btf = f.fentry = f.kprobes = f.raw_tp = f.tracefs = true;
    std::string text = render_probes_text(f, f.release, {});
    EXPECT_EQ(text.find("older kernel:"), std::string::npos) << text;
    f.missing = {"no BPF attach cookies (5.15): a kprobe program pair per function, verified one by one"};
    text = render_probes_text(f, f.release, {});
    EXPECT_NE(text.find("\nolder kernel: no BPF attach cookies (5.15): a kprobe program pair"), std::string::npos) << text;
    auto j = probes_json(f, f.release, {}, 1.0);
    ASSERT_EQ(j["features"]["missing"].size(), 1u);
    EXPECT_EQ(j["features"]["missing"][0], f.missing[0]);
}

// Debian 5.10 (kallsyms from a lab guest): VT-d still has DMA ops of its own (intel_map_page,
// converted to dma-iommu in 5.11) beside dma-iommu (AMD-Vi's), and maps its page tables in
// __domain_mapping; AMD-Vi a page at a time in amd_iommu_map.
TEST(Plan, Debian510HasVtdsOwnDmaOps)
{
    KernelView k = capable(load("5.10-debian.txt"));
    Plan p = make_plan(k);
    EXPECT_EQ(symbols_of(p, "iommu_dma_map"), (std::vector<std::string>{"iommu_dma_map_page", "intel_map_page"}));
    EXPECT_EQ(symbols_of(p, "iommu_dma_unmap"), (std::vector<std::string>{"iommu_dma_unmap_page", "intel_unmap_page"}));
    EXPECT_EQ(symbols_of(p, "iommu_dma_map_sg"), (std::vector<std::string>{"iommu_dma_map_sg", "intel_map_sg"}));
    EXPECT_EQ(symbols_of(p, "intel_iommu_map_pages"), std::vector<std::string>{"__domain_mapping"});
    EXPECT_EQ(symbols_of(p, "amd_iommu_map_pages"), std::vector<std::string>{"amd_iommu_map"});
    EXPECT_EQ(symbols_of(p, "intel_iommu_unmap_pages"), std::vector<std::string>{"domain_unmap"});
    EXPECT_EQ(symbols_of(p, "amd_iommu_unmap_pages"), std::vector<std::string>{"amd_iommu_unmap"});
    EXPECT_EQ(symbols_of(p, "dma_map"), std::vector<std::string>{"dma_map_page_attrs"});
    EXPECT_EQ(entry(p, "dma_iova_link")->att.method, Method::Unavailable);
    // The verdict times VT-d's own ops too.
    PlanOptions o;
    o.only_points = verdict_points();
    o.fallback_points = dma_api_points();
    Plan v = make_plan(k, o);
    EXPECT_EQ(symbols_of(v, "iommu_dma_map"), (std::vector<std::string>{"iommu_dma_map_page", "intel_map_page"}));
}

TEST(Probes, TheHeaderSaysWhetherFentryGoesThroughTracingMultiLinks)
{
    KernelFeatures f;
    f.release = "7.3.4+deb13-amd64";
    f.btf = f.fentry = f.kprobes = f.raw_tp = f.tracefs = true;
    f.fentry_multi = true;
    std::string text = render_probes_text(f, f.release, {});
    EXPECT_NE(text.find("fentry/fexit yes (tracing multi links)"), std::string::npos) << text;
    auto j = probes_json(f, f.release, {}, 1.0);
    EXPECT_EQ(j["features"]["fentry_multi"], true);

    f.fentry_multi = false;
    f.fentry_multi_why = "no tracing multi links (BPF_TRACE_FENTRY_MULTI is not in this kernel's BTF)";
    f.fsession_why = "no fsession programs (before 7.0: BPF_TRACE_FSESSION is not in this kernel's BTF)";
    text = render_probes_text(f, f.release, {});
    EXPECT_NE(text.find("fentry/fexit yes (an fentry and an fexit program per function: no fsession programs (before "
                        "7.0: BPF_TRACE_FSESSION is not in this kernel's BTF); no tracing multi links (BPF_TRACE"),
              std::string::npos)
        << text;
    j = probes_json(f, f.release, {}, 1.0);
    EXPECT_EQ(j["features"]["fentry_multi"], false);
    EXPECT_EQ(j["features"]["fentry_multi_reason"], f.fentry_multi_why);
    EXPECT_EQ(j["features"]["fsession"], false);
    EXPECT_EQ(j["features"]["fsession_reason"], f.fsession_why);

    f.fsession = true;
    f.fsession_why.clear();
    text = render_probes_text(f, f.release, {});
    EXPECT_NE(text.find("fentry/fexit yes (fsession: one program per function, for its entry and its exit)"),
              std::string::npos)
        << text;
    EXPECT_EQ(probes_json(f, f.release, {}, 1.0)["features"]["fsession"], true);
}
