// The HTML page (user/render/html.cpp): structure the browser test relies on,
// escaping of hostile strings, profiles of older versions, and nothing that
// could make a request.
#include <gtest/gtest.h>

#include <regex>

#include <fmt/core.h>

#include "iommuprof/compare.hpp"
#include "iommuprof/profile.hpp"
#include "iommuprof/render.hpp"
#include "iommuprof/verdict.hpp"

using namespace iommuprof;

namespace {

Hist timed(uint64_t n, int bucket)
{
    Hist h;
    h.count = n;
    h.sum_ns = n * (uint64_t{3} << bucket) / 2;
    h.max_ns = uint64_t{2} << bucket;
    h.buckets[bucket] = n;
    return h;
}

Profile profile(bool translated, const std::string &device = "0000:00:04.0")
{
    Profile p;
    p.label = "lab";
    p.created = "2026-12-02T00:00:00Z";
    p.tool_version = "0.1.0";
    p.host.kernel.release = "6.12.117+deb12-amd64";
    p.host.iommu.active = true;
    p.host.iommu.vendor = "intel";
    p.host.iommu.default_domain = translated ? "translated" : "passthrough";
    p.host.iommu.dma_policy = translated ? "strict" : "";
    p.snap.duration_s = 5;
    p.snap.ncpus = 2;
    p.snap.points = {{"dma_map", Category::DmaApi, true},
                     {"iommu_dma_map", Category::DmaIommu, true},
                     {"iommu_dma_unmap", Category::DmaIommu, true},
                     {kTotalPoint, Category::Total, true}};
    for (auto &pi : p.snap.points)
        p.plan.push_back({pi.name, pi.category, pi.name, Method::Fentry, "", true});
    if (translated) {
        p.snap.cells.push_back({"iommu_dma_map", device, 0, timed(20000, 13)});
        p.snap.cells.push_back({"iommu_dma_unmap", device, 1, timed(20000, 14)});
        Hist t = timed(40000, 14);
        p.snap.cells.push_back({kTotalPoint, device, 0, t});
    } else {
        p.snap.cells.push_back({"dma_map", device, 0, timed(20000, 9)});
        p.snap.cells.push_back({kTotalPoint, device, 0, timed(20000, 9)});
    }
    return p;
}

size_t count(const std::string &s, const std::string &what)
{
    size_t n = 0;
    for (size_t i = s.find(what); i != std::string::npos; i = s.find(what, i + 1))
        n++;
    return n;
}

std::string report_page(const Profile &p, const Verdict *v)
{
    Document d;
    d.kind = Document::Kind::Report;
    d.profile = &p;
    d.name = "strict.iprof";
    d.verdict = v;
    return render(d, Format::Html);
}

// The compare page's document: strict.iprof (b) against pt.iprof (a).
Document compare_doc(const Profile &b, const Profile &a, const Comparison &c)
{
    Document d;
    d.kind = Document::Kind::Compare;
    d.profile = &b;
    d.name = "strict.iprof";
    d.after = &a;
    d.after_name = "pt.iprof";
    d.comparison = &c;
    return d;
}

}  // namespace

TEST(Html, ReportHasVerdictOneHistogramPerTimedPointAndBars)
{
    Profile p = profile(true);
    Verdict v = decide(p.host, &p.snap, Thresholds{});
    std::string h = report_page(p, &v);
    EXPECT_EQ(h.rfind("<!DOCTYPE html>", 0), 0u);
    EXPECT_NE(h.find("data-verdict=\"" + v.verdict + "\""), std::string::npos);
    // One figure per timed (point, device), none for the total.
    EXPECT_EQ(count(h, "<figure class=\"hist\""), 2u) << h;
    EXPECT_NE(h.find("data-point=\"iommu_dma_map\" data-device=\"0000:00:04.0\""), std::string::npos);
    EXPECT_EQ(h.find("data-point=\"total\""), std::string::npos);
    // The bars: widths proportional to their values, the longest at 85 %.
    std::regex bar("data-value=\"([0-9.e-]+)\" style=\"width:([0-9.]+)%\"");
    double max = 0;
    std::vector<std::pair<double, double>> bars;
    for (std::sregex_iterator it(h.begin(), h.end(), bar), end; it != end; ++it) {
        bars.push_back({std::stod((*it)[1]), std::stod((*it)[2])});
        max = std::max(max, bars.back().first);
    }
    ASSERT_GE(bars.size(), 3u);
    for (auto &[v, w] : bars)
        EXPECT_NEAR(w, 85.0 * v / max, 0.01);
}

TEST(Html, SelfContainedNoScriptNoRequest)
{
    Profile p = profile(true);
    std::string h = report_page(p, nullptr);
    EXPECT_NE(h.find("Content-Security-Policy\" content=\"default-src 'none'"), std::string::npos);
    EXPECT_EQ(h.find("<script"), std::string::npos);
    EXPECT_EQ(h.find("src="), std::string::npos);
    EXPECT_EQ(h.find("href="), std::string::npos);
    EXPECT_EQ(h.find("url("), std::string::npos);
    EXPECT_EQ(h.find("@import"), std::string::npos);
    EXPECT_NE(h.find("@media print"), std::string::npos);
    EXPECT_NE(h.find("name=\"viewport\""), std::string::npos);
}

TEST(Html, HostileStringsAreEscaped)
{
    Profile p = profile(true, "<img src=x onerror=alert(1)>\x1b[31m");
    p.label = "\"><script>alert(2)</script>";
    p.snap.samples = SampleStats{};
    p.snap.samples->event = "cpu-clock";
    p.snap.samples->folded["entry_SYSCALL_64;<b>evil</b>;iommu_dma_map_page"] = 7;
    p.snap.samples->folded["x\" onmouseover=\"alert(3)\" y=\"'"] = 5;
    std::string h = report_page(p, nullptr);
    EXPECT_EQ(h.find("<img"), std::string::npos);
    EXPECT_EQ(h.find("<script"), std::string::npos);
    EXPECT_EQ(h.find("<b>evil"), std::string::npos);
    EXPECT_EQ(h.find('\x1b'), std::string::npos);
    EXPECT_NE(h.find("&lt;img src=x onerror=alert(1)&gt;\\x1b[31m"), std::string::npos);
    EXPECT_NE(h.find("&lt;b&gt;evil&lt;/b&gt;"), std::string::npos);
    // Quotes cannot close an attribute or start one.
    EXPECT_EQ(h.find("onmouseover=\""), std::string::npos);
    EXPECT_NE(h.find("x&quot; onmouseover=&quot;alert(3)&quot; y=&quot;&#39;"), std::string::npos);
}

TEST(Html, FlameLabelsAreCutAtCharacters)
{
    Profile p = profile(true);
    p.snap.samples = SampleStats{};
    p.snap.samples->event = "cycles";
    std::string euros;
    for (int i = 0; i < 300; i++)
        euros += "€";
    p.snap.samples->folded["a;" + euros] = 10;
    std::string h = report_page(p, nullptr);
    size_t at = h.find("<text", h.find("class=\"flame\""));
    std::string texts;
    for (; at != std::string::npos; at = h.find("<text", at + 1))
        texts += h.substr(at, h.find("</text>", at) - at) + "\n";
    EXPECT_NE(texts.find("€€€…"), std::string::npos) << texts;
    EXPECT_EQ(texts.find("\\x"), std::string::npos) << texts;  // no byte of a cut character shown as an escape
}

TEST(Html, OlderProfilesWithoutSamplesOrCalibrationStillRender)
{
    // A profile as version 1 wrote it: no samples, no calibration, no entries.
    Profile p = profile(true);
    p.snap.samples.reset();
    p.snap.calibration.clear();
    std::string h = report_page(p, nullptr);
    EXPECT_NE(h.find("No stack samples in this profile"), std::string::npos);
    EXPECT_EQ(count(h, "<figure class=\"hist\""), 2u);
    // Nothing timed at all: a sentence instead of empty figures.
    Profile untimed = p;
    for (auto &c : untimed.snap.cells)
        c.hist.buckets = {};
    h = report_page(untimed, nullptr);
    EXPECT_EQ(count(h, "<figure class=\"hist\""), 0u);
    EXPECT_NE(h.find("id=\"no-histograms\""), std::string::npos);
}

TEST(Html, CompareOverlaysBeforeAndAfter)
{
    Profile b = profile(true), a = profile(false);
    Comparison c = compare_profiles(b, a);
    Document d = compare_doc(b, a, c);
    std::string h = render(d, Format::Html);
    EXPECT_NE(h.find("data-verdict=\"compare\""), std::string::npos);
    // Every (point, device) seen on either side gets one figure, the outermost calls too
    // (drawn before and after in one figure).
    EXPECT_EQ(count(h, "<figure class=\"hist\""), 4u) << h;
    EXPECT_NE(h.find("<figure class=\"hist\" data-point=\"total\""), std::string::npos);
    EXPECT_NE(h.find("class=\"b s0\""), std::string::npos);
    EXPECT_NE(h.find("class=\"b s1\""), std::string::npos);
    // CPU bars: one before and one after per row.
    EXPECT_EQ(count(h, "data-series=\"before: translated (strict)\""),
              count(h, "data-series=\"after: passthrough\""));
    EXPECT_GE(count(h, "data-series=\"before: translated (strict)\""), 2u);
    // The compare page with two flame graphs loads nothing either.
    b.snap.samples = SampleStats{};
    b.snap.samples->folded["a;iommu_dma_map_page"] = 3;
    a.snap.samples = b.snap.samples;
    h = render(d, Format::Html);
    EXPECT_EQ(count(h, "<svg class=\"flame\""), 2u);
    for (const char *bad : {"<script", "src=", "href=", "url(", "@import"})
        EXPECT_EQ(h.find(bad), std::string::npos) << bad;
}

TEST(Html, FlameGraphWidthsFollowTheSamples)
{
    Profile p = profile(true);
    p.snap.samples = SampleStats{};
    p.snap.samples->event = "cycles";
    p.snap.samples->folded["a;b;iommu_dma_map_page"] = 30;
    p.snap.samples->folded["a;c"] = 10;
    std::string h = report_page(p, nullptr);
    EXPECT_NE(h.find("data-samples=\"40\""), std::string::npos);
    // b holds 30 of 40 samples: 750 of the 1000 units.
    EXPECT_NE(h.find("<title>b — 30 samples (75.0%)</title><rect x=\"0.00\" y=\"21.00\" width=\"750.00\""),
              std::string::npos)
        << h.substr(h.find("class=\"flame\""), 1500);
}

// Network devices: a table of packets and the cost per packet on the report page, and before
// and after on the compare page; none without packet counters.
TEST(Html, NetworkTrafficPerDevice)
{
    Profile b = profile(true, "0000:00:06.0"), a = profile(false, "0000:00:06.0");
    EXPECT_EQ(report_page(b, nullptr).find("id=\"network\""), std::string::npos);
    b.snap.net = {{"0000:00:06.0", "eth1", "labpeer", 15000, 5000, 1, 1}};  // 20000 packets
    a.snap.net = b.snap.net;
    std::string h = report_page(b, nullptr);
    EXPECT_NE(h.find("id=\"network\""), std::string::npos);
    // 20000 iommu_dma_map calls (the DMA API was not probed) for 20000 packets
    EXPECT_NE(h.find("data-device=\"0000:00:06.0\" data-packets=\"20000\" data-maps-per-packet=\"1\""),
              std::string::npos)
        << h;
    EXPECT_NE(h.find("labpeer/eth1"), std::string::npos);
    Comparison c = compare_profiles(b, a);
    ASSERT_EQ(c.net.size(), 1u);
    EXPECT_LT(c.net[0].cpu_per_packet_change, 0);
    h = render(compare_doc(b, a, c), Format::Html);
    EXPECT_NE(h.find("<section id=\"network\">"), std::string::npos);
    EXPECT_NE(h.find(fmt::format("data-cpu-ns-per-packet-before=\"{:.6g}\"", c.net[0].before.cpu_ns_per_packet)),
              std::string::npos)
        << h;
    EXPECT_NE(c.conclusion.find("CPU time per packet on 0000:00:06.0 (labpeer/eth1) fell from"), std::string::npos)
        << c.conclusion;
}
