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

nlohmann::json btf_to_json(const CachedBtf &b)
{
    nlohmann::json funcs = nlohmann::json::object(), tps = nlohmann::json::object();
    for (auto &[n, f] : b.funcs)
        funcs[n] = {f.nargs, f.dev_arg, f.size_arg, f.nents_arg, f.btf_id};
    for (auto &[n, t] : b.tracepoints)
        tps[n] = {{"nargs", t.nargs}, {"device", t.is_device_ptr}, {"integer", t.is_integer}};
    return {{"funcs", funcs},
            {"tracepoints", tps},
            {"features", {b.task_storage, b.task_btf, b.attach_cookie, b.func_arg}},
            {"fsession_type", b.fsession_type}};
}

// (throws on anything malformed: the whole cache is then ignored)
CachedBtf btf_from_json(const nlohmann::json &j)
{
    CachedBtf b;
    for (auto &[n, f] : j.at("funcs").items()) {
        auto v = f.get<std::vector<int>>();
        if (v.size() != 5 || v[0] < 0 || v[0] > 64)
            throw std::runtime_error("bad function");
        b.funcs[n] = BtfFunc{v[0], v[1], v[2], v[3], v[4]};
    }
    for (auto &[n, t] : j.at("tracepoints").items()) {
        BtfTracepoint tp;
        tp.nargs = t.at("nargs").get<int>();
        tp.is_device_ptr = t.at("device").get<std::vector<bool>>();
        tp.is_integer = t.at("integer").get<std::vector<bool>>();
        if (tp.nargs < 0 || size_t(tp.nargs) != tp.is_device_ptr.size() || size_t(tp.nargs) != tp.is_integer.size())
            throw std::runtime_error("bad tracepoint");
        b.tracepoints[n] = std::move(tp);
    }
    auto f = j.at("features").get<std::vector<bool>>();
    if (f.size() != 4)
        throw std::runtime_error("bad features");
    b.task_storage = f[0];
    b.task_btf = f[1];
    b.attach_cookie = f[2];
    b.func_arg = f[3];
    b.fsession_type = j.at("fsession_type").get<int>();
    if (b.fsession_type < 0)
        throw std::runtime_error("bad fsession type");
    return b;
}

}  // namespace

std::string boot_id()
{
    std::string boot = slurp("/proc/sys/kernel/random/boot_id");
    return boot.substr(0, boot.find('\n'));
}

std::string view_cache_key(const std::set<std::string, std::less<>> &wanted, const std::string &tracefs_dir)
{
    std::string boot = boot_id();
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
    return fmt::format("v3 {} {} {} {} {}", tool_version(), boot, h(mods), h(names),
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

std::optional<std::string> read_private_file(const std::string &dir, const char *name)
{
    if (dir.empty())
        return std::nullopt;
    int dfd = open_private_dir(dir);
    if (dfd < 0)
        return std::nullopt;
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    close(dfd);
    if (fd < 0)
        return std::nullopt;
    struct stat st;
    std::string text;
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & 022) &&
              st.st_size < kMaxBytes;
    if (ok) {
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
    if (!ok)
        return std::nullopt;
    return text;
}

std::optional<CachedView> read_view_cache(const std::string &dir, const std::string &key)
{
    if (key.empty())
        return std::nullopt;
    auto text = read_private_file(dir, kFile);
    if (!text)
        return std::nullopt;
    try {
        auto j = nlohmann::json::parse(*text);
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
        if (!j.at("btf").is_null())
            v.btf = btf_from_json(j.at("btf"));
        return v;
    } catch (const std::exception &) {
        return std::nullopt;
    }
}

bool write_private_file(const std::string &dir, const char *name, const std::string &text)
{
    if (dir.empty())
        return false;
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        return false;
    int dfd = open_private_dir(dir);
    if (dfd < 0)
        return false;
    std::string tmp = std::string(name) + "." + std::to_string(getpid()) + ".tmp";
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
        ok = renameat(dfd, tmp.c_str(), dfd, name) == 0;
    if (!ok && fd >= 0)
        unlinkat(dfd, tmp.c_str(), 0);
    close(dfd);
    return ok;
}

bool write_view_cache(const std::string &dir, const CachedView &v)
{
    if (v.key.empty())
        return false;
    nlohmann::json j{{"key", v.key},
                     {"symbols", v.symbols},
                     {"symbol_module", v.symbol_module},
                     {"ftrace_funcs", v.ftrace_funcs ? nlohmann::json(*v.ftrace_funcs) : nlohmann::json()},
                     {"tracefs", v.tracefs},
                     {"tracepoints", v.tracepoints},
                     {"btf", v.btf ? btf_to_json(*v.btf) : nlohmann::json()}};
    return write_private_file(dir, kFile, j.dump());
}

}  // namespace iommuprof
