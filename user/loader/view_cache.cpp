#include "view_cache.hpp"

#include <fmt/core.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "iommuprof/profile.hpp"  // (tool_version)

namespace iommuprof {

namespace {

constexpr const char *kFile = "kernel-view.json";
constexpr off_t kMaxBytes = 4 << 20;

std::string slurp(const char *path)
{
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return f ? ss.str() : std::string();
}

// The directory, opened without following a symlink, if it is this user's alone.
int open_private_dir(const std::string &dir)
{
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
        close(fd);
        return -1;
    }
    return fd;
}

}  // namespace

std::string view_cache_key(const std::set<std::string, std::less<>> &wanted, const std::string &tracefs_dir)
{
    std::string boot = slurp("/proc/sys/kernel/random/boot_id");
    if (boot.empty())
        return "";
    std::string names;
    for (auto &n : wanted)
        names += n + "\n";
    // /proc/modules: name, size, state and address of each (not the use counts, which change
    // all the time and change nothing here)
    std::string mods;
    std::istringstream in(slurp("/proc/modules"));
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        std::string name, size, refs, deps, state, addr;
        f >> name >> size >> refs >> deps >> state >> addr;
        mods += name + " " + size + " " + state + " " + addr + "\n";
    }
    std::hash<std::string> h;
    return fmt::format("v1 {} {} {} {} {}", tool_version(), boot.substr(0, boot.find('\n')), h(mods), h(names),
                       tracefs_dir);
}

std::string view_cache_dir()
{
    if (getenv("IOMMUPROF_NO_CACHE"))
        return "";
    if (const char *d = getenv("IOMMUPROF_CACHE_DIR"); d && *d)
        return d;
    return "/run/iommuprof";
}

std::optional<CachedView> read_view_cache(const std::string &dir, const std::string &key)
{
    if (dir.empty() || key.empty())
        return std::nullopt;
    int dfd = open_private_dir(dir);
    if (dfd < 0)
        return std::nullopt;
    int fd = openat(dfd, kFile, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    close(dfd);
    if (fd < 0)
        return std::nullopt;
    struct stat st;
    std::string text;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & 022) &&
        st.st_size < kMaxBytes) {
        text.resize(size_t(st.st_size));
        size_t got = 0;
        while (got < text.size()) {
            ssize_t n = ::read(fd, text.data() + got, text.size() - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += size_t(n);
        }
        text.resize(got);
    }
    close(fd);
    try {
        auto j = nlohmann::json::parse(text);
        if (j.at("key").get<std::string>() != key)
            return std::nullopt;
        CachedView v;
        v.key = key;
        v.symbols = j.at("symbols").get<std::set<std::string>>();
        v.symbol_module = j.at("symbol_module").get<std::map<std::string, std::string>>();
        if (!j.at("ftrace_funcs").is_null())
            v.ftrace_funcs = j.at("ftrace_funcs").get<std::set<std::string>>();
        v.tracefs = j.at("tracefs").get<bool>();
        v.tracepoints = j.at("tracepoints").get<std::set<std::string>>();
        return v;
    } catch (const std::exception &) {
        return std::nullopt;
    }
}

bool write_view_cache(const std::string &dir, const CachedView &v)
{
    if (dir.empty() || v.key.empty())
        return false;
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        return false;
    int dfd = open_private_dir(dir);
    if (dfd < 0)
        return false;
    nlohmann::json j{{"key", v.key},
                     {"symbols", v.symbols},
                     {"symbol_module", v.symbol_module},
                     {"ftrace_funcs", v.ftrace_funcs ? nlohmann::json(*v.ftrace_funcs) : nlohmann::json()},
                     {"tracefs", v.tracefs},
                     {"tracepoints", v.tracepoints}};
    std::string text = j.dump(), tmp = std::string(kFile) + "." + std::to_string(getpid()) + ".tmp";
    int fd = openat(dfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    bool ok = fd >= 0;
    size_t put = 0;
    while (ok && put < text.size()) {
        ssize_t n = ::write(fd, text.data() + put, text.size() - put);
        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0;
        if (ok)
            put += size_t(n);
    }
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    if (ok)
        ok = renameat(dfd, tmp.c_str(), dfd, kFile) == 0;
    if (!ok && fd >= 0)
        unlinkat(dfd, tmp.c_str(), 0);
    close(dfd);
    return ok;
}

}  // namespace iommuprof
