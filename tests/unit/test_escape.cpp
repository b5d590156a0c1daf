// Escaping of untrusted strings in text output, JSON that survives invalid
// UTF-8, the kernel-log reader's bounds and output-file targets.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "iommuprof/error.hpp"
#include "iommuprof/hostfacts.hpp"
#include "iommuprof/output_file.hpp"
#include "iommuprof/render.hpp"

using namespace iommuprof;

TEST(Escape, FieldsShowControlsAndBadBytesVisibly)
{
    EXPECT_EQ(esc("nvme0"), "nvme0");
    EXPECT_EQ(esc("a\nb"), "a\\nb");
    EXPECT_EQ(esc("\x1b]0;PWNED\x07"), "\\x1b]0;PWNED\\x07");
    EXPECT_EQ(esc("tab\there\r"), "tab\\there\\r");
    EXPECT_EQ(esc("bad \xff\xfe end"), "bad \\xff\\xfe end");
    EXPECT_EQ(esc("\x7f"), "\\x7f");
    EXPECT_EQ(esc("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac") << "valid UTF-8 stays";
    EXPECT_EQ(esc("\xc2\x9b" "2J"), "\\u009b2J") << "C1 CSI";
    EXPECT_EQ(esc("abc\xe2\x80\xae" "def"), "abc\\u202edef") << "bidi override";
    EXPECT_EQ(esc("\xc0\xaf"), "\\xc0\\xaf") << "overlong";
    EXPECT_EQ(esc("\xed\xa0\x80"), "\\xed\\xa0\\x80") << "surrogate";
    EXPECT_EQ(esc("\xe2\x82"), "\\xe2\\x82") << "truncated sequence";
}

TEST(Escape, DocumentsKeepTheirLines)
{
    EXPECT_EQ(terminal_safe("row 1\n\trow 2\n"), "row 1\n\trow 2\n");
    EXPECT_EQ(terminal_safe("\x1b[2Jx\n"), "\\x1b[2Jx\n");
}

TEST(Escape, JsonReplacesInvalidUtf8)
{
    nlohmann::json j = {{"cmdline", std::string("quiet \xff\xfe x")}};
    std::string out;
    ASSERT_NO_THROW(out = render_json(j));
    EXPECT_NE(out.find("quiet \xef\xbf\xbd"), std::string::npos) << out;
    EXPECT_EQ(out.back(), '\n');
}

TEST(LogReader, LongLinesAreCutAndTooMuchIsRefused)
{
    char path[] = "/tmp/iommuprof-log-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    std::string big(100000, 'x');  // one line far beyond kMaxLogLineBytes
    big += "\n[    1.0] DMAR: IOMMU enabled\n";
    ASSERT_EQ(write(fd, big.data(), big.size()), ssize_t(big.size()));
    lseek(fd, 0, SEEK_SET);
    HostFacts h;
    apply_log_fd(h, fd, "test");
    EXPECT_EQ(h.log.lines, 2u);
    ASSERT_FALSE(h.log.iommu_lines.empty());
    EXPECT_EQ(h.log.iommu_lines.back(), "DMAR: IOMMU enabled");
    lseek(fd, 0, SEEK_SET);
    try {
        apply_log_fd(h, fd, "test", 4096);
        FAIL() << "a log beyond max_bytes was accepted";
    } catch (const Error &e) {
        EXPECT_EQ(e.code, kExitUsage);
        EXPECT_NE(std::string(e.what()).find("test: more than"), std::string::npos) << e.what();
    }
    close(fd);
    unlink(path);
}

TEST(OutputFile, TargetsAreClassifiedWithoutTouchingThem)
{
    EXPECT_EQ(classify_output("/dev/null"), OutputKind::Stream);
    EXPECT_EQ(classify_output("/dev/stdout"), OutputKind::Stream);
    EXPECT_EQ(classify_output("/tmp/iommuprof-does-not-exist/../x.iprof"), OutputKind::Replace);
    auto usage = [](const std::string &p) {
        try {
            classify_output(p);
        } catch (const Error &e) {
            return e.code == kExitUsage;
        }
        return false;
    };
    EXPECT_TRUE(usage(""));
    EXPECT_TRUE(usage("/tmp"));
    EXPECT_TRUE(usage("/tmp/"));
    EXPECT_TRUE(usage("/dev/fd/987")) << "a descriptor that is not open";
    char dir[] = "/tmp/iommuprof-out-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    std::string fifo = std::string(dir) + "/fifo";
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    EXPECT_EQ(classify_output(fifo), OutputKind::Stream) << "classifying must not open (and block on) a FIFO";
    std::string link = std::string(dir) + "/link";
    ASSERT_EQ(symlink("/dev/null", link.c_str()), 0);
    EXPECT_EQ(classify_output(link), OutputKind::Stream);
    std::filesystem::remove_all(dir);
}

TEST(OutputFile, ReplacingKeepsModeAndLeavesNoTempFile)
{
    char dir[] = "/tmp/iommuprof-out-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    std::string f = std::string(dir) + "/" + std::string(250, 'n');
    write_file_atomic(f, "one");
    ASSERT_EQ(chmod(f.c_str(), 0604), 0);
    write_file_atomic(f, "two");
    struct stat st{};
    ASSERT_EQ(stat(f.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0604u);
    EXPECT_EQ(st.st_size, 3);
    int n = 0;
    for (auto &e : std::filesystem::directory_iterator(dir))
        n += e.path() != f;
    EXPECT_EQ(n, 0) << "temp file left behind";
    std::filesystem::remove_all(dir);
}

// Scatter-gather points show how long their lists were (text and JSON); other
// points do not get the field.
TEST(Render, ScatterGatherEntriesPerCall)
{
    Snapshot s;
    s.duration_s = 1;
    s.ncpus = 1;
    s.points = {{"dma_map_sg", Category::DmaApi, true}, {"dma_map", Category::DmaApi, true}};
    Hist sg;
    sg.count = 4;
    sg.sum_ns = 4000;
    sg.buckets[9] = 4;
    sg.entries = 4 * 32 - 3;
    Hist one = sg;
    one.entries = 0;
    s.cells = {{"dma_map_sg", "0000:00:04.0", 0, sg}, {"dma_map", "0000:00:04.0", 0, one}};
    std::string t = render_table(s);
    EXPECT_NE(t.find("entries/call=31.2"), std::string::npos) << t;
    EXPECT_EQ(t.find("entries/call=0"), std::string::npos) << t;
    auto j = summary_json(s);
    bool seen = false;
    for (auto &p : j["points"]) {
        if (p["point"] == "dma_map_sg") {
            EXPECT_EQ(p["entries"], 125u);
            EXPECT_DOUBLE_EQ(p["entries_per_call"].get<double>(), 31.25);
            seen = true;
        } else {
            EXPECT_FALSE(p.contains("entries")) << p.dump();
        }
    }
    EXPECT_TRUE(seen) << j.dump();
}
