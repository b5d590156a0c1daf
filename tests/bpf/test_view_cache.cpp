// The kernel view's and the calibration's caches between starts (user/loader/view_cache.cpp,
// boot_cache.cpp): what they keep, when they are refused, and that they never write through a
// symlink or into someone else's directory.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <tuple>

#include "boot_cache.hpp"
#include "iommuprof/json.hpp"
#include "view_cache.hpp"

namespace fs = std::filesystem;
using namespace iommuprof;

namespace {

struct ViewCache : ::testing::Test {
    fs::path root, dir;
    void SetUp() override
    {
        char t[] = "/tmp/iommuprof-vc-XXXXXX";
        ASSERT_NE(mkdtemp(t), nullptr);
        root = t;
        dir = root / "cache";
    }
    void TearDown() override { fs::remove_all(root); }
    static CachedView sample(const std::string &key)
    {
        CachedView v;
        v.key = key;
        v.symbols = {"dma_map_phys", "iommu_completion_wait.isra.0"};
        v.symbol_module = {{"viommu_sync_req", "virtio_iommu"}};
        v.ftrace_funcs = std::set<std::string>{"dma_map_phys"};
        v.tracefs = true;
        v.tracepoints = {"iommu:map"};
        CachedBtf b;
        b.funcs["dma_map_phys"] = BtfFunc{5, 0, 2, -1, 81234};
        b.funcs["viommu_map_pages"] = BtfFunc{7, -1, 4, -1, 0};
        b.tracepoints["map"] = BtfTracepoint{3, {false, false, false}, {true, true, true}};
        b.task_storage = false;
        b.func_arg = false;
        b.fsession_type = 58;
        v.btf = b;
        return v;
    }
};

TEST_F(ViewCache, KeepsTheViewUnderItsKeyOnly)
{
    ASSERT_TRUE(write_view_cache(dir, sample("k1")));
    EXPECT_EQ(fs::status(dir).permissions() & fs::perms::all, fs::perms::owner_all);
    auto v = read_view_cache(dir, "k1");
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->symbols, sample("k1").symbols);
    EXPECT_EQ(v->symbol_module, sample("k1").symbol_module);
    EXPECT_EQ(v->ftrace_funcs, sample("k1").ftrace_funcs);
    EXPECT_TRUE(v->tracefs);
    EXPECT_EQ(v->tracepoints, sample("k1").tracepoints);
    ASSERT_TRUE(v->btf.has_value());
    auto &f = v->btf->funcs.at("dma_map_phys");
    EXPECT_EQ(std::tuple(f.nargs, f.dev_arg, f.size_arg, f.nents_arg, f.btf_id), std::tuple(5, 0, 2, -1, 81234));
    EXPECT_EQ(v->btf->funcs.at("viommu_map_pages").btf_id, 0);
    auto &t = v->btf->tracepoints.at("map");
    EXPECT_EQ(t.nargs, 3);
    EXPECT_EQ(t.is_integer, std::vector<bool>(3, true));
    EXPECT_FALSE(v->btf->task_storage);
    EXPECT_TRUE(v->btf->task_btf);
    EXPECT_FALSE(v->btf->func_arg) << "what an older kernel lacks is kept too";
    EXPECT_EQ(v->btf->fsession_type, 58) << "and what a newer one has (the fsession attach type)";
    EXPECT_FALSE(read_view_cache(dir, "k2").has_value()) << "another boot, other modules: not this view";
    CachedView none = sample("k3");
    none.ftrace_funcs.reset();  // (available_filter_functions unreadable)
    none.btf.reset();           // (no kernel BTF)
    ASSERT_TRUE(write_view_cache(dir, none));
    auto n = read_view_cache(dir, "k3");
    ASSERT_TRUE(n.has_value());
    EXPECT_FALSE(n->ftrace_funcs.has_value());
    EXPECT_FALSE(n->btf.has_value());
}

TEST_F(ViewCache, TheKeyFollowsTheNamesAndTheTracefsDirectory)
{
    std::set<std::string, std::less<>> a{"dma_map_phys"}, b{"dma_map_phys", "iommu_map"};
    std::string ka = view_cache_key(a, "/sys/kernel/tracing");
    ASSERT_FALSE(ka.empty());
    EXPECT_EQ(ka, view_cache_key(a, "/sys/kernel/tracing"));
    EXPECT_NE(ka, view_cache_key(b, "/sys/kernel/tracing"));
    EXPECT_NE(ka, view_cache_key(a, ""));
}

TEST_F(ViewCache, RefusesFilesAndDirectoriesItDidNotMakeItself)
{
    ASSERT_TRUE(write_view_cache(dir, sample("k1")));
    fs::path file = dir / "kernel-view.json";
    // a cache others may write is not read
    fs::permissions(file, fs::perms::others_write, fs::perm_options::add);
    EXPECT_FALSE(read_view_cache(dir, "k1").has_value());
    fs::permissions(file, fs::perms::others_write, fs::perm_options::remove);
    ASSERT_TRUE(read_view_cache(dir, "k1").has_value());
    // nor a directory others may enter
    fs::permissions(dir, fs::perms::others_exec, fs::perm_options::add);
    EXPECT_FALSE(read_view_cache(dir, "k1").has_value());
    EXPECT_FALSE(write_view_cache(dir, sample("k1")));
    fs::permissions(dir, fs::perms::others_exec, fs::perm_options::remove);
    // a symlink in place of the file is neither read nor written through
    fs::path elsewhere = root / "elsewhere.json";
    fs::rename(file, elsewhere);
    fs::create_symlink(elsewhere, file);
    EXPECT_FALSE(read_view_cache(dir, "k1").has_value());
    ASSERT_TRUE(write_view_cache(dir, sample("k9")));  // replaces the link, not its target
    EXPECT_FALSE(fs::is_symlink(file));
    std::ifstream e(elsewhere);
    std::string old((std::istreambuf_iterator<char>(e)), std::istreambuf_iterator<char>());
    EXPECT_NE(old.find("\"k1\""), std::string::npos) << "the symlink's target was written";
    // a symlink in place of the directory is not followed
    fs::path real = root / "real";
    fs::create_directory(real);
    fs::permissions(real, fs::perms::owner_all, fs::perm_options::replace);
    fs::path link = root / "linkdir";
    fs::create_directory_symlink(real, link);
    EXPECT_FALSE(write_view_cache(link, sample("k1")));
    EXPECT_TRUE(fs::is_empty(real));
    // garbage is ignored
    fs::remove(file);
    std::ofstream(file) << "{not json";
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
    EXPECT_FALSE(read_view_cache(dir, "k1").has_value());
}

TEST_F(ViewCache, NoCacheWhenAskedNot)
{
    setenv("IOMMUPROF_NO_CACHE", "1", 1);
    EXPECT_EQ(view_cache_dir(), "");
    unsetenv("IOMMUPROF_NO_CACHE");
    setenv("IOMMUPROF_CACHE_DIR", dir.c_str(), 1);
    EXPECT_EQ(view_cache_dir(), dir.string());
    unsetenv("IOMMUPROF_CACHE_DIR");
    EXPECT_EQ(view_cache_dir(), "/run/iommuprof");
    EXPECT_FALSE(write_view_cache("", sample("k1")));
    EXPECT_FALSE(read_view_cache("", "k1").has_value());
}

// ---- what holds until the next boot (boot_cache.cpp) ----

Calibration calib(const std::string &method, double pair)
{
    Calibration c;
    c.method = method;
    c.pair_ns = pair;
    c.inner_ns = pair / 3;
    c.outer_ns = 500;
    c.repeats = 5;
    c.calls = 2000;
    c.functions = "__x64_sys_getppid > __task_pid_nr_ns";
    return c;
}

TEST_F(ViewCache, KeepsCalibrationsAndProbesUntilTheBootOrTheProgramsChange)
{
    std::string key = boot_cache_key();
    ASSERT_FALSE(key.empty()) << "this host has a boot id";
    std::string obj = bpf_object_id("the BPF object");
    EXPECT_EQ(obj, bpf_object_id("the BPF object"));
    std::string fe = calibration_entry("fentry compat 0", obj);
    EXPECT_NE(fe, calibration_entry("fentry compat 0", bpf_object_id("another build of it")))
        << "new programs cost differently";
    EXPECT_NE(fe, calibration_entry("kprobe compat 0", obj));
    std::string kp = calibration_entry("kprobe compat 0", obj);
    EXPECT_TRUE(read_boot_cache(dir, key).empty());
    ASSERT_TRUE(write_boot_cache(dir, key, fe, nlohmann::json(calib("fentry", 1200))));
    ASSERT_TRUE(write_boot_cache(dir, key, kp, nlohmann::json(calib("kprobe", 2100))));
    ASSERT_TRUE(write_boot_cache(dir, key, fe, nlohmann::json(calib("fentry", 1100))));  // replaced
    ASSERT_TRUE(write_boot_cache(dir, key, "fentry probe", probe_entry(false, "no BPF trampolines")));
    auto m = read_boot_cache(dir, key);
    ASSERT_EQ(m.size(), 3u);
    auto f = cached_calibration(m, fe);
    ASSERT_TRUE(f.has_value());
    EXPECT_TRUE(f->reused) << "what is read back was measured by an earlier start";
    f->reused = false;
    EXPECT_EQ(*f, calib("fentry", 1100));
    EXPECT_EQ(cached_calibration(m, kp)->pair_ns, 2100);
    EXPECT_FALSE(cached_calibration(m, calibration_entry("fentry compat 0", bpf_object_id("another build"))).has_value());
    auto p = cached_probe(m, "fentry probe");
    ASSERT_TRUE(p.has_value());
    EXPECT_FALSE(p->first);
    EXPECT_EQ(p->second, "no BPF trampolines");
    EXPECT_FALSE(cached_probe(m, "kprobe_multi probe").has_value());
    EXPECT_FALSE(cached_probe(m, fe).has_value()) << "a calibration is no probe result";
    EXPECT_TRUE(read_boot_cache(dir, key + "x").empty()) << "another boot or version: nothing";
    // another key's entries are dropped when written
    ASSERT_TRUE(write_boot_cache(dir, key + "x", kp, nlohmann::json(calib("kprobe", 9))));
    EXPECT_TRUE(read_boot_cache(dir, key).empty());
    EXPECT_EQ(read_boot_cache(dir, key + "x").size(), 1u);
}

TEST_F(ViewCache, RefusesACalibrationOutOfRangeOrAFileNotItsOwn)
{
    std::string key = boot_cache_key();
    ASSERT_TRUE(write_boot_cache(dir, key, "c", nlohmann::json(calib("fentry", 1200))));
    fs::path file = dir / "boot.json";
    fs::permissions(file, fs::perms::group_write, fs::perm_options::add);
    EXPECT_TRUE(read_boot_cache(dir, key).empty()) << "a file others may write is not read";
    fs::remove(file);
    fs::path elsewhere = root / "elsewhere.json";
    std::ofstream(elsewhere) << "{}";
    fs::create_symlink(elsewhere, file);
    ASSERT_TRUE(write_boot_cache(dir, key, "c", nlohmann::json(calib("fentry", 1200))));  // replaces the link
    EXPECT_FALSE(fs::is_symlink(file));
    std::ifstream e(elsewhere);
    EXPECT_EQ(std::string((std::istreambuf_iterator<char>(e)), std::istreambuf_iterator<char>()), "{}");
    fs::remove(file);
    std::ofstream(file) << R"({"key": ")" << key
                        << R"(", "entries": {"c": {"method": "fentry", "inner_ns": -5, "pair_ns": 1, )"
                           R"("outer_ns": 1, "repeats": 5, "calls": 2000, "functions": "a > b"}, )"
                           R"("p": {"ok": "yes", "why": ""}}})";
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
    auto m = read_boot_cache(dir, key);
    EXPECT_EQ(m.size(), 2u);
    EXPECT_FALSE(cached_calibration(m, "c").has_value()) << "a negative probe cost is not taken";
    EXPECT_FALSE(cached_probe(m, "p").has_value()) << "a probe result that is no boolean is not taken";
    EXPECT_FALSE(write_boot_cache("", key, "c", nlohmann::json(calib("fentry", 1))));
    EXPECT_FALSE(write_boot_cache(dir, "", "c", nlohmann::json(calib("fentry", 1))));
}

}  // namespace
