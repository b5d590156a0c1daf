// libFuzzer target for the host facts: the kernel command line, the kernel
// log (dmesg, /dev/kmsg records, journalctl -k), /proc/interrupts,
// /proc/meminfo, sysfs values and links (IOMMU units, groups and their types,
// PCI vendor/device/class/driver/removable, swiotlb debugfs, Thunderbolt),
// and what shows them: `inspect` (text and --json), the host-only verdict,
// the host series of the OpenMetrics export and the compare mode string.
//
// Most of these parsers take a RootFs (user/host/hostfacts.cpp, anonymous
// namespace), not a string, so the input describes a small fixture tree
// (like tests/fixtures/hosts/*) that is written below a private temporary
// directory and read with read_host_facts(). Input format, line based:
//
//   <text>                  before the first header: given to parse_cmdline()
//                           and apply_log() directly (the pure string level),
//                           and to apply_log_fd(), which must agree
//   %% file <path>          a regular file below the root; the content is every
//   <content>               line up to the next header line
//   %% link <path>          a symbolic link; the target is the next line
//   <target>
//   %% dir <path>           a directory
//   %% dmesg                the --dmesg file (without it, a regular file
//   <text>                  dev/kmsg, if any, is read as the kernel log)
//
// <path> is relative to the root ("proc/cmdline",
// "sys/kernel/iommu_groups/3/type"); "..", "." and empty components are
// dropped. Nothing is ever written through a symbolic link: every directory
// on the way is opened with O_NOFOLLOW, so a link to "/" or "../.." only
// misleads the reader (RootFs keeps it inside the root), never the writer.
// tests/fuzz/fixture_to_seed.sh turns a fixture tree into such an input;
// FUZZ_DEBUG=1 build-fuzz/tests/fuzz/fuzz_hostfacts FILE shows what one means
// (the inspect text of the tree).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_common.hpp"
#include "iommuprof/compare.hpp"
#include "iommuprof/error.hpp"
#include "iommuprof/hostfacts.hpp"
#include "iommuprof/openmetrics.hpp"
#include "iommuprof/render.hpp"
#include "iommuprof/verdict.hpp"

using namespace iommuprof;
using fuzz::check_json;
using fuzz::check_text;

namespace {

constexpr size_t kMaxEntries = 256;   // files, links and directories per input
constexpr size_t kMaxDepth = 24;      // path components
constexpr size_t kMaxName = 255;      // NAME_MAX

std::string g_tmp;   // private directory, created once
std::string g_root;  // g_tmp + "/root", recreated for every input
std::string g_dmesg; // g_tmp + "/dmesg"

void cleanup() { std::error_code ec; std::filesystem::remove_all(g_tmp, ec); }

struct Section {
    std::string kind;  // "file", "link", "dir", "dmesg"
    std::string path;
    std::string_view body;
};

// Splits the input at lines starting with "%% ". Returns the prelude.
std::string_view split(std::string_view in, std::vector<Section> &out)
{
    // The first line at or after `from` that starts a section ("%% "), or npos.
    auto next_header = [&](size_t from) {
        for (size_t at = from; at < in.size();) {
            if (in.compare(at, 3, "%% ") == 0)
                return at;
            size_t nl = in.find('\n', at);
            if (nl == std::string_view::npos)
                break;
            at = nl + 1;
        }
        return std::string_view::npos;
    };
    size_t first = next_header(0);
    std::string_view prelude = in.substr(0, first);
    for (size_t at = first; at != std::string_view::npos && at < in.size();) {
        size_t nl = in.find('\n', at);
        std::string_view header = in.substr(at + 3, nl == std::string_view::npos ? std::string_view::npos
                                                                                    : nl - at - 3);
        size_t body = nl == std::string_view::npos ? in.size() : nl + 1;
        size_t next = next_header(body);
        Section s;
        size_t sp = header.find(' ');
        s.kind = std::string(header.substr(0, sp));
        if (sp != std::string_view::npos)
            s.path = std::string(header.substr(sp + 1));
        s.body = in.substr(body, next == std::string_view::npos ? std::string_view::npos : next - body);
        out.push_back(std::move(s));
        at = next;
    }
    return prelude;
}

std::vector<std::string> components(const std::string &path)
{
    std::vector<std::string> out;
    size_t b = 0;
    while (b <= path.size()) {
        size_t e = path.find('/', b);
        if (e == std::string::npos)
            e = path.size();
        std::string c = path.substr(b, e - b);
        if (!c.empty() && c != "." && c != ".." && c.size() <= kMaxName && c.find('\0') == std::string::npos)
            out.push_back(c);
        b = e + 1;
    }
    if (out.size() > kMaxDepth)
        out.clear();
    return out;
}

// Opens (creating as needed) the directory that will hold the last component,
// never following a symbolic link. -1 when some component is not a directory.
int open_parent(const std::vector<std::string> &comps)
{
    int fd = open(g_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (size_t i = 0; fd >= 0 && i + 1 < comps.size(); i++) {
        mkdirat(fd, comps[i].c_str(), 0755);
        int next = openat(fd, comps[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        fd = next;
    }
    return fd;
}

void write_all(int fd, std::string_view data)
{
    while (!data.empty()) {
        ssize_t n = write(fd, data.data(), data.size());
        if (n <= 0)
            return;
        data.remove_prefix(size_t(n));
    }
}

void build_tree(const std::vector<Section> &sections, bool &have_dmesg)
{
    std::error_code ec;
    std::filesystem::remove_all(g_root, ec);
    if (mkdir(g_root.c_str(), 0755) != 0) {
        perror(g_root.c_str());
        abort();
    }
    size_t n = 0;
    for (const Section &s : sections) {
        if (s.kind == "dmesg") {
            int fd = open(g_dmesg.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (fd >= 0) {
                write_all(fd, s.body);
                close(fd);
                have_dmesg = true;
            }
            continue;
        }
        if (++n > kMaxEntries)
            break;
        auto comps = components(s.path);
        if (comps.empty())
            continue;
        int dir = open_parent(comps);
        if (dir < 0)
            continue;
        const char *name = comps.back().c_str();
        if (s.kind == "file") {
            int fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (fd >= 0) {
                write_all(fd, s.body);
                close(fd);
            }
        } else if (s.kind == "link") {
            std::string target(s.body.substr(0, s.body.find('\n')));
            if (!target.empty() && target.size() < 4096 && target.find('\0') == std::string::npos)
                symlinkat(target.c_str(), dir, name);
        } else if (s.kind == "dir") {
            mkdirat(dir, name, 0755);
        }
        close(dir);
    }
}

void render_host(const HostFacts &h, const char *where)
{
    std::string w(where);
    check_text((w + ": render_hostfacts_text").c_str(), render_hostfacts_text(h));

    nlohmann::json j;
    to_json(j, h);
    check_json((w + ": hostfacts to_json").c_str(), j, false);
    // When the document is valid UTF-8 (no replacement needed), the JSON
    // mapping must give the same facts back (profiles embed it).
    std::string strict;
    try {
        strict = j.dump();
    } catch (const nlohmann::json::type_error &) {
        strict.clear();
    }
    if (!strict.empty()) {
        HostFacts back;
        from_json(nlohmann::json::parse(strict), back);
        if (!(back == h))
            fuzz::fail("ROUND-TRIP", where, "to_json -> from_json does not give the same host facts");
    }

    // What the host facts alone feed: the verdict without a profile, the
    // OpenMetrics host series, the compare header's mode string.
    Verdict v = decide(h, nullptr, Thresholds{}, "fuzz: no profile");
    check_text((w + ": render_verdict_text").c_str(), render_verdict_text(v));
    check_json((w + ": verdict_json").c_str(), verdict_json(v), false);
    Snapshot empty;
    empty.ncpus = 1;
    fuzz::check_openmetrics((w + ": render_openmetrics").c_str(), render_openmetrics(empty, h, {false, "", nullptr}));
    (void)iommu_mode(h);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    // A tmpfs: on ext4 creating and deleting the tree for every input costs
    // more than everything else together (FUZZ_TMPDIR overrides).
    const char *base = getenv("FUZZ_TMPDIR");
    if (!base || !*base)
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    std::string dir = base && *base ? base : "/tmp";
    // A run that crashed or timed out (or a -fork child that was killed)
    // never got to cleanup(): remove what processes that are gone left.
    const std::string prefix = "iommuprof-fuzz-hostfacts-";
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::string n = it->path().filename().string();
        if (n.rfind(prefix, 0) != 0)
            continue;
        std::string pid = n.substr(prefix.size(), n.find('-', prefix.size()) - prefix.size());
        std::error_code ec2;
        if (!pid.empty() && pid.find_first_not_of("0123456789") == std::string::npos &&
            !std::filesystem::exists("/proc/" + pid, ec2))
            std::filesystem::remove_all(it->path(), ec2);
    }
    std::string tmpl = dir + "/" + prefix + std::to_string(getpid()) + "-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) {
        perror("mkdtemp");
        abort();
    }
    g_tmp = buf.data();
    g_root = g_tmp + "/root";
    g_dmesg = g_tmp + "/dmesg";
    atexit(cleanup);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string_view in(reinterpret_cast<const char *>(data), size);
    fuzz::budget.set(size);
    std::vector<Section> sections;
    std::string_view prelude = split(in, sections);

    // The pure string level.
    if (!prelude.empty()) {
        HostFacts h;
        h.kernel = parse_cmdline(std::string(prelude));
        apply_log(h, std::string(prelude));
        // --dmesg FILE reads the log in pieces (apply_log_fd): it must find
        // exactly what apply_log finds in the same text.
        int fd = memfd_create("fuzz-dmesg", MFD_CLOEXEC);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
        write_all(fd, prelude);
        lseek(fd, 0, SEEK_SET);
        HostFacts by_fd;
        by_fd.kernel = h.kernel;
        apply_log_fd(by_fd, fd, "fuzz");
        close(fd);
        if (!(by_fd == h))
            fuzz::fail("DIFFERENTIAL", "prelude", "apply_log_fd and apply_log disagree on the same text");
        render_host(h, "prelude");
    }

    // The files, as read_host_facts reads them (inspect --root DIR [--dmesg FILE]).
    bool have_dmesg = false;
    build_tree(sections, have_dmesg);
    HostOptions o;
    o.root = g_root;
    o.dmesg_file = have_dmesg ? g_dmesg : "";
    o.read_kmsg = !have_dmesg;
    HostFacts h = read_host_facts(o);  // any exception is a bug: the root and the dmesg file exist
    h.root = "/fuzz";                   // the temporary paths differ from run to run
    if (h.log.source == g_dmesg)
        h.log.source = "dmesg";
    if (getenv("FUZZ_DEBUG"))           // what an input means: FUZZ_DEBUG=1 fuzz_hostfacts FILE
        fprintf(stderr, "%s", terminal_safe(render_hostfacts_text(h)).c_str());
    render_host(h, "tree");
    if (have_dmesg)
        unlink(g_dmesg.c_str());
    return 0;
}
