// JSON mapping of the model (json.hpp) and profile files (profile.hpp).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "iommuprof/json.hpp"

using namespace iommuprof;
using nlohmann::json;

namespace {

Hist sample_hist(uint64_t seed)
{
    Hist h;
    h.count = 100 + seed;
    h.sum_ns = 123456 + seed;
    h.bytes = 4096 * (100 + seed);
    h.errors = seed % 3;
    h.max_ns = 9000 + seed;
    h.buckets[8] = 60;
    h.buckets[9] = 40 + seed;
    h.buckets[13] = 0;
    h.buckets[kBuckets - 1] = 0xFFFFFFFFFFFFull;  // large counters survive
    return h;
}

Snapshot sample_snapshot()
{
    Snapshot s;
    s.duration_s = 10.5;
    s.ncpus = 4;
    s.points = {{"dma_map_page", Category::DmaApi, true},
                {"iommu_map", Category::IommuCore, true},
                {"io_page_fault", Category::Fault, false},
                {kTotalPoint, Category::Total, true}};
    s.cells = {{"dma_map_page", "0000:00:04.0", 0, sample_hist(1)},
               {"dma_map_page", "0000:00:04.0", 3, sample_hist(2)},
               {"iommu_map", "[flush-queue]", 1, sample_hist(3)},
               {kTotalPoint, "0000:00:04.0", 0, sample_hist(4)}};
    s.counters.hist_full = 1;
    s.counters.migrated = 7;
    s.counters.dropped_frames = 18446744073709551615ull;
    return s;
}

std::string json_error(const json &j, auto tag)
{
    try {
        (void)j.get<decltype(tag)>();
    } catch (const Error &e) {
        EXPECT_EQ(e.code, kExitUsage);
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST(Json, EnumsAreNames)
{
    EXPECT_EQ(json(Category::IommuCore), json(to_string(Category::IommuCore)));
    EXPECT_TRUE(json(Category::Flush).is_string());
    EXPECT_EQ(json(Method::Tracepoint).get<std::string>(), to_string(Method::Tracepoint));
    for (auto c : {Category::DmaApi, Category::DmaIommu, Category::IommuCore, Category::Iova, Category::Flush,
                   Category::FlushQueue, Category::Vfio, Category::Fault, Category::Bounce, Category::Total})
        EXPECT_EQ(json(c).get<Category>(), c);
    for (auto m : {Method::Fentry, Method::Kprobe, Method::Tracepoint, Method::Unavailable})
        EXPECT_EQ(json(m).get<Method>(), m);
}

TEST(Json, SnapshotRoundTrip)
{
    Snapshot s = sample_snapshot();
    json j = s;
    EXPECT_EQ(j["cells"].size(), 4u);
    EXPECT_EQ(j["cells"][0]["hist"]["buckets"].size(), static_cast<size_t>(kBuckets));
    EXPECT_EQ(j["points"][2]["timed"], false);
    // Through text, as a file would.
    Snapshot back = json::parse(j.dump()).get<Snapshot>();
    EXPECT_EQ(back, s);
}

TEST(Json, AttachmentRoundTrip)
{
    Attachment a{"iommu_map", Category::IommuCore, "iommu_map", Method::Kprobe, "no BTF for fentry", true};
    json j = a;
    EXPECT_EQ(j["method"], to_string(Method::Kprobe));
    EXPECT_EQ(json::parse(j.dump()).get<Attachment>(), a);
}

TEST(Json, StrictFieldTypes)
{
    json h = sample_hist(0);
    json bad = h;
    bad["count"] = -1;
    EXPECT_NE(json_error(bad, Hist{}).find("count: expected an unsigned integer"), std::string::npos);
    bad = h;
    bad["sum_ns"] = 1.5;
    EXPECT_NE(json_error(bad, Hist{}).find("sum_ns"), std::string::npos);
    bad = h;
    bad.erase("max_ns");
    EXPECT_NE(json_error(bad, Hist{}).find("max_ns: missing"), std::string::npos);
    bad = h;
    bad["buckets"].erase(0);
    EXPECT_NE(json_error(bad, Hist{}).find("buckets: expected 32 entries, got 31"), std::string::npos);
    bad = h;
    bad["buckets"][5] = "x";
    EXPECT_NE(json_error(bad, Hist{}).find("buckets[5]"), std::string::npos);
    EXPECT_NE(json_error(json::array(), Hist{}).find("expected an object"), std::string::npos);
    // Non-negative values built in code (signed ints) are fine.
    json ok = h;
    ok["count"] = int(5);
    EXPECT_EQ(ok.get<Hist>().count, 5u);
}

TEST(Json, ErrorsNameTheNestedPath)
{
    json s = sample_snapshot();
    s["cells"][2]["hist"]["buckets"].push_back(1);
    EXPECT_EQ(json_error(s, Snapshot{}), "cells[2].hist.buckets: expected 32 entries, got 33");
    s = sample_snapshot();
    s["points"][1]["category"] = "warp_drive";
    EXPECT_EQ(json_error(s, Snapshot{}), "points[1].category: unknown category 'warp_drive'");
    s = sample_snapshot();
    s["counters"].erase("migrated");
    EXPECT_EQ(json_error(s, Snapshot{}), "counters.migrated: missing");
    s = sample_snapshot();
    s["cells"][0]["cpu"] = -2;
    EXPECT_EQ(json_error(s, Snapshot{}), "cells[0].cpu: CPU number -2 out of range");
    s = sample_snapshot();
    s["counters"] = 3;
    EXPECT_EQ(json_error(s, Snapshot{}), "counters: expected an object, got unsigned integer");
    json a = Attachment{"iommu_map", Category::IommuCore, "iommu_map", Method::Kprobe, "", true};
    a["method"] = 2;
    EXPECT_EQ(json_error(a, Attachment{}), "method: expected a method name, got number");
}

TEST(Json, UnknownFieldsIgnored)
{
    json s = sample_snapshot();
    s["future_field"] = {1, 2, 3};
    s["cells"][0]["extra"] = "x";
    EXPECT_EQ(s.get<Snapshot>(), sample_snapshot());
}
