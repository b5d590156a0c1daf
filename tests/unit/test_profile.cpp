// JSON mapping of the model (json.hpp) and profile files (profile.hpp).
#include <gtest/gtest.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "iommuprof/json.hpp"
#include "iommuprof/aggregate.hpp"
#include "iommuprof/profile.hpp"

using namespace iommuprof;
using nlohmann::json;

namespace {

// Consistent, as the kernel side writes it: the buckets hold `count` calls
// (the reader checks that).
Hist sample_hist(uint64_t seed)
{
    Hist h;
    h.count = 100 + seed + 0xFFFFFFFFFFFFull;
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

TEST(Json, ScatterlistEntriesRoundTripAndAreOptional)
{
    Snapshot s = sample_snapshot();
    s.cells[0].hist.entries = 3200;
    json j = s;
    EXPECT_EQ(j["cells"][0]["hist"]["entries"], 3200u);
    EXPECT_FALSE(j["cells"][1]["hist"].contains("entries")) << "written only where counted";
    EXPECT_EQ(json::parse(j.dump()).get<Snapshot>(), s);
    j["cells"][0]["hist"].erase("entries");  // a profile from before the field
    EXPECT_EQ(j.get<Snapshot>().cells[0].hist.entries, 0u);
}

TEST(Json, CompensationRoundTripsAndOldProfilesReadAsUncompensated)
{
    Snapshot s = sample_snapshot();
    s.cells[0].hist.comp_ns = 12345;
    s.cells[0].hist.nested = 7;
    s.calibration = {{"fentry", 612.5, 1400.25, 650, 5, 2000, "__x64_sys_getppid > __task_pid_nr_ns"}};
    json j = s;
    EXPECT_EQ(j["cells"][0]["hist"]["comp_ns"], 12345u);
    EXPECT_EQ(j["calibration"][0]["pair_ns"], 1400.25);
    EXPECT_EQ(json::parse(j.dump()).get<Snapshot>(), s);
    // A profile written before the compensation has neither field.
    j["cells"][0]["hist"].erase("comp_ns");
    j["cells"][0]["hist"].erase("nested");
    j.erase("calibration");
    Snapshot old = j.get<Snapshot>();
    EXPECT_EQ(old.cells[0].hist.comp_ns, 0u);
    EXPECT_TRUE(old.calibration.empty());
    // Implausible calibrations are refused with the path named.
    json bad = s;
    bad["calibration"][0]["pair_ns"] = -1;
    EXPECT_THROW(bad.get<Snapshot>(), std::exception);
    // --raw: the raw sums, no calibration claimed.
    Snapshot raw = raw_times(s);
    EXPECT_EQ(raw.cells[0].hist.sum_ns, s.cells[0].hist.sum_ns + 12345);
    EXPECT_EQ(raw.cells[0].hist.comp_ns, 0u);
    EXPECT_TRUE(raw.calibration.empty());
    EXPECT_EQ(raw.cells[1].hist, s.cells[1].hist);
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
    // recursion_misses came later: absent is 0, present must be a counter.
    Counters c;
    from_json(nlohmann::json{{"hist_full", 0}, {"devname_full", 0}, {"ctx_full", 0}, {"depth_overflow", 0},
                             {"unmatched_exit", 0}, {"dropped_frames", 0}, {"migrated", 0}},
              c);
    EXPECT_EQ(c.recursion_misses, 0u);
    nlohmann::json rj = Counters{0, 0, 0, 0, 0, 0, 0, 41};
    from_json(rj, c);
    EXPECT_EQ(c.recursion_misses, 41u);
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

// ------------------------------------------------------------ profiles ----

namespace {

Profile sample_profile()
{
    Profile p;
    p.label = "strict, fio randread 4k \u00b5s";
    p.created = "2024-05-01T12:00:00Z";
    p.tool_version = tool_version();
    p.host.kernel.release = "6.1.0-18-amd64";
    p.host.kernel.cmdline = "BOOT_IMAGE=/vmlinuz root=/dev/vda1 iommu.strict=1";
    p.host.iommu.vendor = "intel";
    p.host.iommu.default_domain = "translated";
    p.host.iommu.dma_policy = "strict";
    p.host.vfio_devices = {"0000:00:05.0"};
    p.plan = {{"dma_map_page", Category::DmaApi, "dma_map_page_attrs", Method::Fentry, "BTF", true},
              {"iommu_map", Category::IommuCore, "iommu_map", Method::Kprobe, "no BTF", true},
              {"io_page_fault", Category::Fault, "iommu:io_page_fault", Method::Tracepoint, "", true},
              {"flush_iotlb", Category::Flush, "", Method::Unavailable, "symbol not found", false}};
    p.snap = sample_snapshot();
    return p;
}

class TempDir : public ::testing::Test {
protected:
    std::string dir;
    void SetUp() override
    {
        const char *t = getenv("TMPDIR");
        std::string tmpl = std::string(t && *t ? t : "/tmp") + "/iommuprof-test-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
        dir = tmpl;
    }
    void TearDown() override { std::filesystem::remove_all(dir); }
    std::string path(const std::string &name) const { return dir + "/" + name; }
    std::vector<std::string> entries() const
    {
        std::vector<std::string> v;
        for (auto &e : std::filesystem::directory_iterator(dir))
            v.push_back(e.path().filename().string());
        std::sort(v.begin(), v.end());
        return v;
    }
    void put(const std::string &name, const std::string &bytes) const
    {
        std::ofstream(path(name), std::ios::binary) << bytes;
    }
    std::string slurp(const std::string &name) const
    {
        std::ifstream f(path(name), std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    }
    // Expects read_profile to reject the file with exit 2, the path first,
    // and `needle` in the message; returns the message.
    std::string rejects(const std::string &name, const std::string &needle)
    {
        try {
            (void)read_profile(path(name));
        } catch (const Error &e) {
            EXPECT_EQ(e.code, kExitUsage) << e.what();
            std::string msg = e.what();
            EXPECT_EQ(msg.rfind(path(name) + ": ", 0), 0u) << msg;
            EXPECT_NE(msg.find(needle), std::string::npos) << msg;
            return msg;
        }
        ADD_FAILURE() << name << " was accepted";
        return "";
    }
    void put_json(const std::string &name, const json &j) const { put(name, gzip_compress(j.dump())); }
};

using ProfileFile = TempDir;

}  // namespace

TEST_F(ProfileFile, RoundTrip)
{
    Profile p = sample_profile();
    write_profile(p, path("a.iprof"));
    Profile back = read_profile(path("a.iprof"));
    EXPECT_EQ(back, p);
    EXPECT_EQ(back.snap.cells[3].hist.buckets[kBuckets - 1], 0xFFFFFFFFFFFFull);
    EXPECT_EQ(back.label, p.label);
}

TEST_F(ProfileFile, IsGzipJsonReadableByZcat)
{
    write_profile(sample_profile(), path("a.iprof"));
    std::string raw = slurp("a.iprof");
    ASSERT_GE(raw.size(), 2u);
    EXPECT_EQ(static_cast<unsigned char>(raw[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>(raw[1]), 0x8b);
    json j = json::parse(gzip_decompress(raw));
    EXPECT_EQ(j["format"], kProfileFormat);
    EXPECT_EQ(j["version"], kProfileVersion);
    EXPECT_EQ(j["snapshot"]["ncpus"], 4);
    EXPECT_EQ(j["plan"][1]["method"], "kprobe");
    // The system gzip agrees, when there is one.
    if (system("command -v gzip >/dev/null 2>&1") == 0) {
        std::string cmd = "gzip -t '" + path("a.iprof") + "'";
        EXPECT_EQ(system(cmd.c_str()), 0);
    }
}

TEST_F(ProfileFile, AtomicWriteReplacesAndLeavesNoTemp)
{
    put("a.iprof", "old contents");
    write_profile(sample_profile(), path("a.iprof"));
    EXPECT_EQ(entries(), std::vector<std::string>{"a.iprof"});
    EXPECT_EQ(read_profile(path("a.iprof")), sample_profile());
    struct stat st{};
    ASSERT_EQ(stat(path("a.iprof").c_str(), &st), 0);
    mode_t mask = umask(0);
    umask(mask);
    EXPECT_EQ(st.st_mode & 0777, 0666 & ~mask);
}

TEST_F(ProfileFile, FailedWriteKeepsOldFileAndCleansUp)
{
    // Target is a directory: refused before anything is written.
    std::filesystem::create_directory(path("d"));
    try {
        write_profile(sample_profile(), path("d"));
        ADD_FAILURE() << "wrote over a directory";
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
    }
    // Directory does not exist: runtime error naming the path.
    try {
        write_profile(sample_profile(), path("nodir/a.iprof"));
        ADD_FAILURE() << "wrote into a missing directory";
    } catch (const Error &e) {
        EXPECT_EQ(e.code, kExitRuntime);
        EXPECT_NE(std::string(e.what()).find(path("nodir/a.iprof")), std::string::npos) << e.what();
    }
    EXPECT_THROW(check_writable(path("nodir/a.iprof")), Error);
    EXPECT_NO_THROW(check_writable(path("b.iprof")));
    EXPECT_EQ(entries(), std::vector<std::string>{"d"});
}

TEST_F(ProfileFile, RejectsMissingEmptyAndNonGzip)
{
    rejects("missing.iprof", "cannot open");
    put("empty", "");
    rejects("empty", "empty file");
    put("text", "hello, world\n");
    rejects("text", "not a gzip file");
    put("plain.json", profile_to_json(sample_profile()).dump());
    rejects("plain.json", "plain JSON");
    std::filesystem::create_directory(path("dir"));
    rejects("dir", "is a directory");
}

TEST_F(ProfileFile, RejectsEveryTruncation)
{
    write_profile(sample_profile(), path("full"));
    std::string raw = slurp("full");
    ASSERT_GT(raw.size(), 100u);
    for (size_t n = 1; n < raw.size(); n++) {
        put("cut", raw.substr(0, n));
        std::string msg = rejects("cut", "");
        if (n >= 2 && n + 8 < raw.size()) {  // cut inside the deflate data
            EXPECT_NE(msg.find("truncated"), std::string::npos) << "n=" << n << ": " << msg;
        }
    }
    put("trailing", raw + "garbage");
    rejects("trailing", "trailing data");
}

TEST_F(ProfileFile, RejectsCorruption)
{
    write_profile(sample_profile(), path("full"));
    std::string raw = slurp("full");
    // Flip bytes in the deflate data and in the CRC/length trailer.
    int rejected = 0;
    for (size_t at : {raw.size() / 3, raw.size() / 2, raw.size() - 6, raw.size() - 2}) {
        std::string bad = raw;
        bad[at] = static_cast<char>(bad[at] ^ 0x5a);
        put("bad", bad);
        std::string msg = rejects("bad", "");
        rejected += !msg.empty();
    }
    EXPECT_EQ(rejected, 4);
    std::string bad = raw;
    bad[raw.size() - 6] ^= 1;  // CRC-32
    put("crc", bad);
    rejects("crc", "corrupted gzip data");
}

TEST_F(ProfileFile, RejectsWrongVersion)
{
    json j = profile_to_json(sample_profile());
    j["version"] = kProfileVersion + 1;
    put_json("newer", j);
    std::string msg = rejects("newer", "newer than this iommuprof");
    EXPECT_NE(msg.find(std::to_string(kProfileVersion + 1)), std::string::npos);
    j["version"] = 0;
    put_json("zero", j);
    rejects("zero", "version: format version 0 is invalid");
    j["version"] = "1";
    put_json("str", j);
    rejects("str", "version: expected an integer");
    j.erase("version");
    put_json("none", j);
    rejects("none", "version: missing");
}

TEST_F(ProfileFile, RejectsNonProfileJson)
{
    put_json("obj", json{{"hello", 1}});
    rejects("obj", "not an iommuprof profile");
    put_json("arr", json::array({1, 2}));
    rejects("arr", "not an iommuprof profile");
    put_json("other", json{{"format", "something-else"}, {"version", 1}});
    rejects("other", "not an iommuprof profile");
    put("bad.json", gzip_compress("{\"format\": \"iommuprof-profile\", "));
    rejects("bad.json", "not valid JSON");
    put("nul", gzip_compress(std::string("\0\0\0", 3)));
    rejects("nul", "not a JSON object");
    std::string deep(100000, '[');
    put("deep", gzip_compress("{\"x\": " + deep + std::string(100000, ']') + "}"));
    rejects("deep", "nested deeper");
    // A huge string is refused after 1 MiB of it, not parsed (a 500 MB label took GBs).
    put("label", gzip_compress("{\"label\": \"" + std::string(3u << 20, 'a') + "\"}"));
    rejects("label", "longer than 1 MiB");
    put("zeros", gzip_compress(std::string(4u << 20, '\0')));
    rejects("zeros", "not a JSON object");
}

TEST_F(ProfileFile, RejectsMissingIllTypedAndAbsurdFields)
{
    const json good = profile_to_json(sample_profile());
    struct Case {
        const char *name;
        std::function<void(json &)> edit;
        const char *needle;
    };
    const Case cases[] = {
        {"no-snapshot", [](json &j) { j.erase("snapshot"); }, "snapshot: missing"},
        {"no-host", [](json &j) { j.erase("host"); }, "host: missing"},
        {"plan-obj", [](json &j) { j["plan"] = json::object(); }, "plan: expected an array"},
        {"plan-method", [](json &j) { j["plan"][2]["method"] = "uprobe"; }, "plan[2].method: unknown method 'uprobe'"},
        {"label-num", [](json &j) { j["label"] = 5; }, "label: expected a string"},
        {"dur-neg", [](json &j) { j["snapshot"]["duration_s"] = -1.0; }, "snapshot.duration_s"},
        {"dur-huge", [](json &j) { j["snapshot"]["duration_s"] = 1e300; }, "snapshot.duration_s"},
        {"ncpus-0", [](json &j) { j["snapshot"]["ncpus"] = 0; }, "snapshot.ncpus"},
        {"ncpus-huge", [](json &j) { j["snapshot"]["ncpus"] = 1ll << 40; }, "snapshot.ncpus"},
        {"cpu-huge", [](json &j) { j["snapshot"]["cells"][0]["cpu"] = 1 << 20; }, "snapshot.cells[0].cpu"},
        {"cell-point", [](json &j) { j["snapshot"]["cells"][1]["point"] = "nope"; },
         "snapshot.cells[1].point: 'nope' is not one of the profile's points"},
        {"dup-cell", [](json &j) { j["snapshot"]["cells"][1]["cpu"] = 0; }, "duplicate cell"},
        {"dup-point", [](json &j) { j["snapshot"]["points"][1]["name"] = "dma_map_page"; }, "listed twice"},
        {"hist-neg", [](json &j) { j["snapshot"]["cells"][2]["hist"]["errors"] = -3; },
         "snapshot.cells[2].hist.errors: expected an unsigned integer"},
        {"hist-big", [](json &j) { j["snapshot"]["cells"][2]["hist"]["count"] = 1e30; },
         "snapshot.cells[2].hist.count"},
    };
    for (const auto &c : cases) {
        json j = good;
        c.edit(j);
        put_json(c.name, j);
        SCOPED_TRACE(c.name);
        rejects(c.name, c.needle);
    }
    // The unedited document is fine.
    put_json("good", good);
    EXPECT_EQ(read_profile(path("good")), sample_profile());
}

// Every corpus sample (valid and broken) either parses or is rejected with
// Error(kExitUsage): never a crash or another exception. As in the fuzzer,
// each file is tried as file bytes and gzip'd (to reach the JSON layer).
// Hand-made seeds: valid-* must parse, bad-* must be rejected, json-* must
// parse once gzip'd; files the fuzzer added (hash names) may do either.
TEST(ProfileCorpus, EverySampleParsesOrIsRejected)
{
    std::string dir = std::string(IOMMUPROF_FIXTURES) + "/../fuzz/corpus/profile";
    ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
    int files = 0, valid = 0, rejected = 0;
    auto attempt = [&](const std::string &name, const std::function<Profile()> &f) {
        try {
            (void)f();
            valid++;
            return true;
        } catch (const Error &err) {
            rejected++;
            EXPECT_EQ(err.code, kExitUsage) << name << ": " << err.what();
            return false;
        }
        // Any other exception fails the test through gtest.
    };
    for (auto &e : std::filesystem::directory_iterator(dir)) {
        if (!e.is_regular_file())
            continue;
        files++;
        std::string name = e.path().filename().string();
        std::ifstream in(e.path(), std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        std::string bytes = ss.str();
        bool as_file = attempt(name, [&] { return read_profile(e.path().string()); });
        bool as_json = attempt(name, [&] { return parse_profile(gzip_compress(bytes), name); });
        if (name.rfind("valid-", 0) == 0) {
            EXPECT_TRUE(as_file) << name;
        }
        if (name.rfind("bad-", 0) == 0) {
            EXPECT_FALSE(as_file) << name;
        }
        if (name.rfind("json-", 0) == 0) {
            EXPECT_TRUE(as_json) << name;
        }
    }
    EXPECT_GE(files, 20);
    EXPECT_GE(valid, 5);
    EXPECT_GE(rejected, 20);
}

// Regenerates the hand-made seeds of tests/fuzz/corpus/profile:
//   unit_tests --gtest_also_run_disabled_tests --gtest_filter='ProfileCorpus.DISABLED_*'
TEST(ProfileCorpus, DISABLED_RegenerateSeeds)
{
    std::string dir = std::string(IOMMUPROF_FIXTURES) + "/../fuzz/corpus/profile";
    std::filesystem::create_directories(dir);
    auto put = [&](const std::string &name, const std::string &bytes) {
        std::ofstream(dir + "/" + name, std::ios::binary | std::ios::trunc) << bytes;
    };
    auto gz = [](const json &j) { return gzip_compress(j.dump()); };
    Profile p = sample_profile();
    write_profile(p, dir + "/valid-strict.iprof");
    Profile pt = p;
    pt.label = "after: iommu=pt";
    pt.host.iommu.default_domain = "passthrough";
    pt.host.iommu.dma_policy = "";
    pt.host.kernel.cmdline = "root=/dev/vda1 iommu=pt";
    pt.snap.cells.erase(pt.snap.cells.begin() + 2);  // no iommu_map
    write_profile(pt, dir + "/valid-pt.iprof");
    Profile minimal;
    minimal.created = "2024-01-01T00:00:00Z";
    minimal.tool_version = "0.1.0";
    minimal.snap.ncpus = 1;
    write_profile(minimal, dir + "/valid-minimal.iprof");

    std::string raw = gzip_compress(profile_to_json(p).dump());
    json j = profile_to_json(p);
    put("json-strict.json", j.dump());  // raw JSON: the fuzzer gzips it for the JSON layer
    put("json-minimal.json", profile_to_json(minimal).dump());
    put("bad-empty", "");
    put("bad-text.txt", "hello, world\n");
    put("bad-plain-json.json.iprof", j.dump());
    put("bad-truncated.iprof", raw.substr(0, raw.size() / 2));
    put("bad-truncated-trailer.iprof", raw.substr(0, raw.size() - 3));
    std::string crc = raw;
    crc[crc.size() - 6] ^= 1;
    put("bad-crc.iprof", crc);
    put("bad-trailing.iprof", raw + "xx");
    put("bad-gzip-header-only.iprof", raw.substr(0, 10));
    json v = j;
    v["version"] = kProfileVersion + 1;
    put("bad-newer-version.iprof", gz(v));
    put("bad-not-profile.iprof", gz(json{{"hello", "world"}}));
    put("bad-array.iprof", gz(json::array({1, 2, 3})));
    json m = j;
    m.erase("snapshot");
    put("bad-missing-snapshot.iprof", gz(m));
    json t = j;
    t["snapshot"]["cells"][0]["hist"]["count"] = "many";
    put("bad-ill-typed.iprof", gz(t));
    json a = j;
    a["snapshot"]["ncpus"] = 0;
    put("bad-absurd-ncpus.iprof", gz(a));
    json u = j;
    u["snapshot"]["cells"][0]["point"] = "nonexistent";
    put("bad-unknown-point.iprof", gz(u));
    put("bad-deep.iprof", gzip_compress(std::string(10000, '[') + std::string(10000, ']')));
}
