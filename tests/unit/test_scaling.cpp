// Reading and analysing a profile is near-linear in its devices and cells:
// `verdict --from` on 50k devices took 17.5 s (a scan of every cell per device,
// and a JSON parser callback that rescanned the cells array at every cell).
// Generous CPU-time bounds: linear code takes a fraction of them, the former
// quadratic code minutes.
#include <gtest/gtest.h>

#include <time.h>

#include <cstdint>
#include <string>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "iommuprof/compare.hpp"
#include "iommuprof/hostfacts.hpp"
#include "fixture_host.hpp"
#include "iommuprof/profile.hpp"
#include "iommuprof/verdict.hpp"

using namespace iommuprof;

namespace {

constexpr int kDevices = 50000;
constexpr double kBoundS = 2.0;

// CPU time of this process: other jobs on the machine do not count.
double cpu_s()
{
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

Hist calls(uint64_t n, uint64_t ns_each)
{
    Hist h;
    h.count = n;
    h.sum_ns = n * ns_each;
    h.max_ns = ns_each;
    int b = 0;
    while (b + 1 < kBuckets && (2ull << b) <= ns_each)
        b++;
    h.buckets[size_t(b)] = n;
    return h;
}

std::string dev(int i)
{
    return fmt::format("{:04x}:{:02x}:{:02x}.{:x}", i >> 13, (i >> 5) & 0xff, (i >> 1) & 0xf, i & 1);
}

// Device i makes 100 + i map calls on CPU i % 4: the last devices are the busiest.
Snapshot many_devices(int n, bool with_nested = true)
{
    Snapshot s;
    s.duration_s = 10;
    s.ncpus = 4;
    s.points = {{"dma_map", Category::DmaApi, true},
                {"iommu_dma_map", Category::DmaIommu, true},
                {"io_page_fault", Category::Fault, false},
                {kTotalPoint, Category::Total, true}};
    s.cells.reserve(size_t(n) * 3);
    for (int i = 0; i < n; i++) {
        uint64_t c = 100 + uint64_t(i);
        s.cells.push_back({kTotalPoint, dev(i), i % 4, calls(c, 1000)});
        if (with_nested) {
            s.cells.push_back({"dma_map", dev(i), i % 4, calls(c, 1000)});
            s.cells.push_back({"iommu_dma_map", dev(i), i % 4, calls(c, 600)});
        }
    }
    return s;
}


}  // namespace

TEST(Scaling, VerdictOf50kDevicesIsNearLinear)
{
    Snapshot s = many_devices(kDevices);
    HostFacts h = test::fixture_host("intel-lazy");
    double t0 = cpu_s();
    Verdict v = decide(h, &s, Thresholds{});
    double took = cpu_s() - t0;
    EXPECT_LT(took, kBoundS) << "decide() on " << kDevices << " devices";
    // And still right: the busiest devices first, each with its own saving.
    ASSERT_EQ(v.top_devices.size(), kTopDevices);
    for (size_t k = 0; k < kTopDevices; k++) {
        int i = kDevices - 1 - int(k);
        EXPECT_EQ(v.top_devices[k].device, dev(i));
        EXPECT_EQ(v.top_devices[k].calls, 100u + uint64_t(i));
        EXPECT_DOUBLE_EQ(v.top_devices[k].saving_ns, 600.0 * double(100 + i));
    }
    EXPECT_EQ(v.numbers.events, uint64_t(kDevices) * 100 + uint64_t(kDevices) * (kDevices - 1) / 2);
}

TEST(Scaling, CompareOf50kDevicesIsNearLinear)
{
    Profile a, b;
    a.snap = many_devices(kDevices, false);
    b.snap = a.snap;
    double t0 = cpu_s();
    Comparison c = compare_profiles(a, b);
    double took = cpu_s() - t0;
    EXPECT_LT(took, kBoundS) << "compare_profiles() on " << kDevices << " devices";
    EXPECT_EQ(c.rows.size(), 4u + kDevices);  // a row per point, one per device of "total"
}

TEST(Scaling, ReadingA50kDeviceProfileIsNearLinear)
{
    Profile p;
    p.created = "2024-05-01T12:00:00Z";
    p.tool_version = tool_version();
    p.snap = many_devices(kDevices, false);
    std::string bytes = gzip_compress(profile_to_json(p).dump());
    double t0 = cpu_s();
    Profile back = parse_profile(bytes, "p.iprof");
    double took = cpu_s() - t0;
    EXPECT_LT(took, kBoundS) << "parse_profile() of " << kDevices << " cells";
    EXPECT_EQ(back.snap.cells.size(), size_t(kDevices));
}

TEST(Scaling, ParsingIsLinearInTheLengthOfAnArray)
{
    // The parser's cost per element must not grow with the array: 200k empty
    // objects (in a field the reader ignores) parse in a blink; the former
    // depth-checking callback rescanned the array at every element's end.
    Profile p;
    p.created = "2024-05-01T12:00:00Z";
    p.tool_version = tool_version();
    p.snap.ncpus = 1;
    nlohmann::json j = profile_to_json(p);
    nlohmann::json many = nlohmann::json::array();
    for (int i = 0; i < 200000; i++)
        many.push_back(nlohmann::json::object());
    j["future_field"] = std::move(many);
    std::string bytes = gzip_compress(j.dump());
    double t0 = cpu_s();
    Profile back = parse_profile(bytes, "p.iprof");
    double took = cpu_s() - t0;
    EXPECT_LT(took, kBoundS) << "parse_profile() of a 200k-element array";
    EXPECT_EQ(back, p);
}
