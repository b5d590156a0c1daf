// Consistency of a profile's counters, checked when it is read
// (docs/profile-format.md, "Consistency"): nonsense is refused with exit 2 and
// one line naming the JSON path of the bad value.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "iommuprof/error.hpp"
#include "iommuprof/profile.hpp"

using namespace iommuprof;
using nlohmann::json;

namespace {

constexpr uint64_t kMax = UINT64_MAX;

// n timed calls of 600 ns and 1.5 us, as the kernel side records them.
Hist timed_hist(uint64_t n)
{
    Hist h;
    h.count = n;
    h.sum_ns = 1000 * n;
    h.bytes = 4096 * n;
    h.max_ns = 1500;
    h.buckets[9] = n - n / 2;
    h.buckets[10] = n / 2;
    return h;
}

// A small profile shaped like a real one: timed points, a count-only point,
// the outermost total.
Profile good_profile()
{
    Profile p;
    p.created = "2024-05-01T12:00:00Z";
    p.tool_version = tool_version();
    p.snap.duration_s = 2.0;
    p.snap.ncpus = 2;
    p.snap.points = {{"dma_map", Category::DmaApi, true},
                     {"iommu_dma_map", Category::DmaIommu, true},
                     {"io_page_fault", Category::Fault, false},
                     {kTotalPoint, Category::Total, true}};
    Hist fault;
    fault.count = 3;  // count-only: events, no latency
    Hist nested = timed_hist(5);
    nested.comp_ns = 2500;
    nested.nested = 12;  // nested calls may outnumber the calls
    nested.intr_count = 1;
    nested.intr_sum_ns = 900;
    p.snap.cells = {{"dma_map", "0000:00:04.0", 0, timed_hist(5)},
                    {"dma_map", "0000:00:04.0", 1, timed_hist(5)},
                    {"iommu_dma_map", "0000:00:04.0", 1, nested},
                    {"io_page_fault", "0000:00:04.0", 0, fault},
                    {kTotalPoint, "0000:00:04.0", 0, timed_hist(5)}};
    return p;
}

json good_json() { return profile_to_json(good_profile()); }

// The message parse_profile refuses `j` with ("" when it is accepted); every
// refusal must be Error(kExitUsage) with one line.
std::string refusal(const json &j)
{
    try {
        (void)parse_profile(gzip_compress(j.dump()), "p.iprof");
    } catch (const Error &e) {
        EXPECT_EQ(e.code, kExitUsage) << e.what();
        std::string msg = e.what();
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
        EXPECT_EQ(msg.rfind("p.iprof: ", 0), 0u) << msg;
        return msg;
    }
    return "";
}

json edited(const std::function<void(json &)> &edit)
{
    json j = good_json();
    edit(j);
    return j;
}

json &hist_of(json &j, int cell) { return j["snapshot"]["cells"][cell]["hist"]; }

}  // namespace

TEST(ProfileValidation, TheRealShapeIsAccepted)
{
    EXPECT_EQ(refusal(good_json()), "");
    EXPECT_EQ(parse_profile(gzip_compress(good_json().dump()), "p.iprof"), good_profile());
}

TEST(ProfileValidation, CountWithAllZeroBucketsIsRefused)
{
    json j = edited([](json &j) { hist_of(j, 1)["buckets"] = std::vector<uint64_t>(kBuckets, 0); });
    EXPECT_EQ(refusal(j), "p.iprof: snapshot.cells[1].hist.buckets: sum of buckets 0 != count 5");
}

TEST(ProfileValidation, BucketsWithZeroCountAreRefused)
{
    json j = edited([](json &j) { hist_of(j, 4)["count"] = 0; });
    EXPECT_EQ(refusal(j), "p.iprof: snapshot.cells[4].hist.buckets: sum of buckets 5 != count 0");
    // A count of 0 with anything else counted is as inconsistent.
    j = edited([](json &j) {
        json &h = hist_of(j, 0);
        h["count"] = 0;
        h["buckets"] = std::vector<uint64_t>(kBuckets, 0);
    });
    EXPECT_EQ(refusal(j), "p.iprof: snapshot.cells[0].hist.sum_ns: 5000 in a cell with a count of 0");
}

TEST(ProfileValidation, BucketsMustHoldTheCountWithinTheReadRace)
{
    // Counters read while probes run may be one update apart: a difference of
    // 2 + count/1000 is a real profile, more is not.
    auto with = [](uint64_t count, uint64_t in_buckets) {
        return edited([&](json &j) {
            json &h = hist_of(j, 0);
            h["count"] = count;
            std::vector<uint64_t> b(kBuckets, 0);
            b[12] = in_buckets;
            h["buckets"] = b;
        });
    };
    EXPECT_EQ(refusal(with(5, 4)), "");
    EXPECT_EQ(refusal(with(5, 7)), "");
    EXPECT_EQ(refusal(with(100000, 100102)), "");
    EXPECT_EQ(refusal(with(100000, 99898)), "");
    EXPECT_EQ(refusal(with(100000, 100103)),
              "p.iprof: snapshot.cells[0].hist.buckets: sum of buckets 100103 != count 100000");
    EXPECT_EQ(refusal(with(5, 8)), "p.iprof: snapshot.cells[0].hist.buckets: sum of buckets 8 != count 5");
    // Buckets that only add up by wrapping around 2^64 do not add up.
    json j = edited([](json &j) {
        json &h = hist_of(j, 0);
        std::vector<uint64_t> b(kBuckets, 0);
        b[3] = kMax;
        b[4] = 6;  // b[3] + b[4] wraps to 5
        h["buckets"] = b;
    });
    EXPECT_NE(refusal(j).find("snapshot.cells[0].hist.buckets: sum of buckets 18446744073709551615 != count 5"),
              std::string::npos);
}

TEST(ProfileValidation, CountOnlyPointsHaveNoLatency)
{
    json j = edited([](json &j) { hist_of(j, 3)["buckets"][4] = 3; });
    EXPECT_EQ(refusal(j), "p.iprof: snapshot.cells[3].hist.buckets: 3 in a cell of the count-only point "
                          "'io_page_fault' (it has no latency)");
    j = edited([](json &j) { hist_of(j, 3)["sum_ns"] = 77; });
    EXPECT_NE(refusal(j).find("snapshot.cells[3].hist.sum_ns: 77 in a cell of the count-only point"),
              std::string::npos);
}

TEST(ProfileValidation, MoreErrorsThanCallsIsRefused)
{
    json j = edited([](json &j) { hist_of(j, 0)["errors"] = 50; });
    EXPECT_EQ(refusal(j), "p.iprof: snapshot.cells[0].hist.errors: 50 errors in 5 calls");
    j = edited([](json &j) { hist_of(j, 0)["errors"] = 5; });  // every call failed
    EXPECT_EQ(refusal(j), "");
}

TEST(ProfileValidation, InterruptedAndCompensationFields)
{
    // nested may exceed count (several probed calls inside one), comp_ns may
    // exceed sum_ns (sum_ns is what is left after the compensation): real.
    json j = edited([](json &j) {
        hist_of(j, 2)["nested"] = 1000;
        hist_of(j, 2)["comp_ns"] = 1000000;
    });
    EXPECT_EQ(refusal(j), "");
    j = edited([](json &j) { hist_of(j, 2)["intr_count"] = 6; });
    EXPECT_EQ(refusal(j), "p.iprof: snapshot.cells[2].hist.intr_count: more interrupted calls (6) than calls (5)");
    j = edited([](json &j) { hist_of(j, 2)["intr_sum_ns"] = 5001; });
    EXPECT_NE(refusal(j).find("snapshot.cells[2].hist.intr_sum_ns: more time in interrupted calls"),
              std::string::npos);
    // The raw time (sum_ns + comp_ns) must fit in 64 bits.
    j = edited([](json &j) {
        hist_of(j, 2)["sum_ns"] = kMax - 10;
        hist_of(j, 2)["comp_ns"] = 11;
    });
    EXPECT_NE(refusal(j).find("snapshot.cells[2].hist.comp_ns: sum_ns 18446744073709551605 + comp_ns 11 overflows"),
              std::string::npos);
}

TEST(ProfileValidation, DurationMustBePlausible)
{
    auto dur = [](double d, bool cells = true) {
        return edited([&](json &j) {
            j["snapshot"]["duration_s"] = d;
            if (!cells)
                j["snapshot"]["cells"] = json::array();
        });
    };
    for (double d : {0.0, 1e-300, 5e-5}) {
        SCOPED_TRACE(d);
        std::string msg = refusal(dur(d));
        EXPECT_EQ(msg.rfind("p.iprof: snapshot.duration_s: ", 0), 0u) << msg;
        EXPECT_NE(msg.find("not a plausible profile duration"), std::string::npos) << msg;
    }
    EXPECT_EQ(refusal(dur(1e-4)), "");
    EXPECT_EQ(refusal(dur(9 * 365.25 * 24 * 3600)), "");  // years of recording
    EXPECT_NE(refusal(dur(11 * 366.0 * 24 * 3600)), "");
    EXPECT_NE(refusal(dur(-1)), "");
    // Nothing measured, nothing divided by it: an empty profile may cover 0 s
    // (record stopped before the first snapshot).
    EXPECT_EQ(refusal(dur(0, false)), "");
    EXPECT_EQ(refusal(dur(1e-300, false)), "");
}

TEST(ProfileValidation, CpuNumbersAreBounded)
{
    json j = edited([](json &j) { j["snapshot"]["cells"][4]["cpu"] = 65536; });
    EXPECT_EQ(refusal(j), "p.iprof: snapshot.cells[4].cpu: CPU number 65536 out of range");
    j = edited([](json &j) { j["snapshot"]["cells"][4]["cpu"] = -1; });
    EXPECT_NE(refusal(j).find("snapshot.cells[4].cpu"), std::string::npos);
    // CPU numbers need not be below ncpus (online CPUs may be sparse).
    j = edited([](json &j) { j["snapshot"]["cells"][4]["cpu"] = 7; });
    EXPECT_EQ(refusal(j), "");
}

TEST(ProfileValidation, SampleClassesCannotWrapAroundTheirTotal)
{
    json j = edited([](json &j) {
        j["snapshot"]["samples"] = {
            {"event", "cpu-clock"},
            {"freq_hz", 997},
            {"lost", 0},
            {"cpus", json::array({json{{"cpu", 0},
                                       {"total", 10},
                                       {"translation", 1ull << 63},
                                       {"dma_api", 1ull << 63},
                                       {"profiler", 1},
                                       {"vfio", 0},
                                       {"idle", 0}}})},
            {"folded", json::array()}};
    });
    EXPECT_EQ(refusal(j), "p.iprof: snapshot.samples.cpus[0].total: fewer samples in all than in its classes");
}

TEST(ProfileValidation, HugeButConsistentCountersAreAccepted)
{
    // 2^64-1 calls is absurd but self-consistent: the reader takes it and the
    // analysis saturates (test_saturation.cpp).
    json j = edited([](json &j) {
        json &h = hist_of(j, 4);
        h["count"] = kMax;
        std::vector<uint64_t> b(kBuckets, 0);
        b[0] = kMax;
        h["buckets"] = b;
        h["sum_ns"] = kMax;
    });
    EXPECT_EQ(refusal(j), "");
}
