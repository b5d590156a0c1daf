// Chroot-like path resolution below a root directory (see rootfs.hpp).
#include "rootfs.hpp"
#include "iommuprof/strings.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <climits>
#include <deque>
#include <fstream>
#include <sstream>

#include <fmt/core.h>

namespace iommuprof::host {

namespace fs = std::filesystem;

namespace {
constexpr int kMaxLinks = 40;  // like the kernel's MAXSYMLINKS

std::deque<std::string> split(const std::string &p)
{
    return split_nonempty<std::deque<std::string>>(p, [](char c) { return c == '/'; });
}

fs::path join(const fs::path &root, const std::vector<std::string> &parts)
{
    fs::path p = root;
    for (auto &c : parts)
        p /= c;
    return p;
}
}  // namespace

std::string trim(const std::string &s)
{
    size_t b = 0, e = s.size();
    while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\n' || s[b] == '\r' || s[b] == '\0'))
        b++;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\n' || s[e - 1] == '\r' ||
                     s[e - 1] == '\0'))
        e--;
    return s.substr(b, e - b);
}

int open_for_reading(const std::string &path, bool (*accept)(mode_t), struct stat &st)
{
    st = {};
    int pfd = ::open(path.c_str(), O_PATH | O_CLOEXEC);
    if (pfd < 0)
        return -1;
    int fd = -1;
    if (fstat(pfd, &st) != 0) {
        st = {};
    } else if (!accept(st.st_mode)) {
        errno = EINVAL;
    } else {
        fd = ::open(("/proc/self/fd/" + std::to_string(pfd)).c_str(), O_RDONLY | O_NOCTTY | O_CLOEXEC);
    }
    int e = errno;
    ::close(pfd);
    errno = e;
    return fd;
}

std::string open_failure(const std::string &name, const struct stat &st, int err, bool (*accept)(mode_t),
                         const std::string &dir_hint, const std::string &refused)
{
    if (st.st_mode == 0)
        return fmt::format("{}: {}", name, std::strerror(err));
    if (S_ISDIR(st.st_mode))
        return name + ": is a directory" + dir_hint;
    if (!accept(st.st_mode))
        return name + ": " + refused;
    return fmt::format("{}: cannot open: {}", name, std::strerror(err));
}

RootFs::RootFs(const std::string &root)
{
    std::error_code ec;
    fs::path r = fs::canonical(root, ec);
    root_ = ec ? fs::path(root) : r;
    live_ = root_ == fs::path("/");
}

std::optional<fs::path> RootFs::resolve(const std::string &rel, bool follow_last) const
{
    std::deque<std::string> todo = split(rel);
    std::vector<std::string> done;
    int links = 0;
    while (!todo.empty()) {
        std::string c = todo.front();
        todo.pop_front();
        if (c == ".")
            continue;
        if (c == "..") {
            if (!done.empty())
                done.pop_back();
            continue;
        }
        done.push_back(c);
        fs::path p = join(root_, done);
        struct stat st;
        if (lstat(p.c_str(), &st) != 0)
            return std::nullopt;
        if (!S_ISLNK(st.st_mode))
            continue;
        if (todo.empty() && !follow_last)
            break;
        if (++links > kMaxLinks)
            return std::nullopt;
        char buf[PATH_MAX];
        ssize_t n = readlink(p.c_str(), buf, sizeof buf - 1);
        if (n < 0)
            return std::nullopt;
        std::string target(buf, size_t(n));
        done.pop_back();
        if (!target.empty() && target[0] == '/')
            done.clear();
        auto parts = split(target);
        todo.insert(todo.begin(), parts.begin(), parts.end());
    }
    return join(root_, done);
}

std::optional<std::string> RootFs::read(const std::string &rel, size_t max_bytes) const
{
    auto p = resolve(rel);
    if (!p)
        return std::nullopt;
    // Regular files only (proc and sysfs files are): a FIFO or a device
    // planted in a fixture tree must neither block nor stream forever, and is
    // never even opened.
    struct stat st{};
    int fd = open_for_reading(p->string(), [](mode_t m) { return S_ISREG(m); }, st);
    if (fd < 0)
        return std::nullopt;
    std::string out;
    char buf[65536];
    bool bad = false;
    while (out.size() < max_bytes) {
        ssize_t n = ::read(fd, buf, std::min(sizeof buf, max_bytes - out.size()));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            bad = true;
        if (n <= 0)
            break;
        out.append(buf, size_t(n));
    }
    ::close(fd);
    if (bad)
        return std::nullopt;
    return out;
}

std::optional<std::string> RootFs::read_line(const std::string &rel) const
{
    auto s = read(rel, 65536);
    if (!s)
        return std::nullopt;
    auto nl = s->find('\n');
    return trim(nl == std::string::npos ? *s : s->substr(0, nl));
}

std::vector<std::string> RootFs::list(const std::string &rel) const
{
    std::vector<std::string> out;
    auto p = resolve(rel);
    if (!p)
        return out;
    std::error_code ec;
    for (fs::directory_iterator it(*p, ec), end; !ec && it != end; it.increment(ec))
        out.push_back(it->path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

bool RootFs::is_dir(const std::string &rel) const
{
    auto p = resolve(rel);
    std::error_code ec;
    return p && fs::is_directory(*p, ec);
}

bool RootFs::exists(const std::string &rel) const { return resolve(rel).has_value(); }

std::optional<std::string> RootFs::link_basename(const std::string &rel) const
{
    auto p = resolve(rel, false);
    if (!p)
        return std::nullopt;
    char buf[PATH_MAX];
    ssize_t n = readlink(p->c_str(), buf, sizeof buf - 1);
    if (n <= 0)
        return std::nullopt;
    std::string target(buf, size_t(n));
    while (!target.empty() && target.back() == '/')
        target.pop_back();
    auto slash = target.rfind('/');
    return slash == std::string::npos ? target : target.substr(slash + 1);
}

}  // namespace iommuprof::host
