// The kernel view's cache between starts (user/loader/view_cache.cpp): what it keeps, when it
// is refused, and that it never writes through a symlink or into someone else's directory.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

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
    EXPECT_FALSE(read_view_cache(dir, "k2").has_value()) << "another boot, other modules: not this view";
    CachedView none = sample("k3");
    none.ftrace_funcs.reset();  // (available_filter_functions unreadable)
    ASSERT_TRUE(write_view_cache(dir, none));
    auto n = read_view_cache(dir, "k3");
    ASSERT_TRUE(n.has_value());
    EXPECT_FALSE(n->ftrace_funcs.has_value());
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

}  // namespace
