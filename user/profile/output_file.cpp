// Output files: atomic replace of regular files, streaming into pipes and
// terminals, refusal of everything else (see output_file.hpp).
#include "iommuprof/output_file.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fmt/core.h>

#include "iommuprof/error.hpp"

namespace iommuprof {

namespace {

std::string dir_of(const std::string &path)
{
    auto slash = path.rfind('/');
    if (slash == std::string::npos)
        return ".";
    if (slash == 0)
        return "/";
    return path.substr(0, slash);
}

std::string base_of(const std::string &path)
{
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

[[noreturn]] void io_fail(const std::string &path, const std::string &what, int err)
{
    throw Error(kExitRuntime, fmt::format("{}: {}: {}", path, what, strerror(err)));
}

[[noreturn]] void refuse(const std::string &path, const std::string &why)
{
    throw Error(kExitUsage, fmt::format("{}: {}; not writing to it (give a file name, a pipe or /dev/stdout)", path, why));
}

// "/dev/stdout" -> 1, "/dev/fd/7" -> 7, "/proc/self/fd/7" -> 7.
std::optional<int> fd_path(const std::string &path)
{
    if (path == "/dev/stdout")
        return 1;
    if (path == "/dev/stderr")
        return 2;
    for (const char *prefix : {"/dev/fd/", "/proc/self/fd/"}) {
        size_t n = strlen(prefix);
        if (path.size() > n && path.size() <= n + 9 && path.compare(0, n, prefix) == 0) {
            int fd = 0;
            for (size_t i = n; i < path.size(); i++) {
                if (path[i] < '0' || path[i] > '9')
                    return std::nullopt;
                fd = fd * 10 + (path[i] - '0');
            }
            return fd;
        }
    }
    return std::nullopt;
}

// Character devices that take any bytes harmlessly: /dev/null, /dev/zero,
// /dev/full (which fails every write), /dev/tty, virtual consoles and
// pseudo-terminals. Not serial ports (4:64+), /dev/ptmx, ttyprintk.
bool harmless_chardev(dev_t rdev)
{
    unsigned ma = major(rdev), mi = minor(rdev);
    if (ma == 1)
        return mi == 3 || mi == 5 || mi == 7;
    if (ma == 4)
        return mi < 64;
    if (ma == 5)
        return mi == 0;
    return ma >= 136 && ma <= 143;
}

// Why a stat'ed target (not a regular file, not a directory) is refused; ""
// when it can be written into.
std::string stream_refusal(const struct stat &st)
{
    if (S_ISFIFO(st.st_mode))
        return "";
    if (S_ISCHR(st.st_mode))
        return harmless_chardev(st.st_rdev) ? "" : "is a character device other than a terminal or /dev/null";
    if (S_ISBLK(st.st_mode))
        return "is a block device";
    if (S_ISSOCK(st.st_mode))
        return "is a socket";
    if (S_ISDIR(st.st_mode))
        return "is a directory";
    return "is not a regular file";
}

void write_all(int fd, std::string_view data, const std::string &path)
{
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            io_fail(path, "write", errno);
        }
        if (n == 0)
            io_fail(path, "write", EIO);
        off += static_cast<size_t>(n);
    }
}

struct Target {
    OutputKind kind = OutputKind::Replace;
    std::optional<int> fd;           // /dev/stdout and friends
    std::optional<struct stat> old;  // an existing regular file (to keep its mode and owner)
};

Target classify(const std::string &path)
{
    if (path.empty())
        throw Error(kExitUsage, "empty output file name");
    if (path.back() == '/')
        throw Error(kExitUsage, fmt::format("'{}': not a file name", path));
    Target t;
    if (auto fd = fd_path(path)) {
        struct stat st{};
        if (fstat(*fd, &st) != 0)
            throw Error(kExitUsage, fmt::format("{}: file descriptor {} is not open", path, *fd));
        if (!S_ISREG(st.st_mode)) {
            auto why = stream_refusal(st);
            if (!why.empty())
                refuse(path, why);
        }
        t.kind = OutputKind::Stream;
        t.fd = fd;
        return t;
    }
    struct stat lst{};
    if (lstat(path.c_str(), &lst) != 0) {
        if (errno == ENOENT)
            return t;  // created
        if (errno == ENOTDIR || errno == ENAMETOOLONG || errno == ELOOP)
            throw Error(kExitUsage, fmt::format("{}: {}", path, strerror(errno)));
        io_fail(path, "cannot look at the output file", errno);
    }
    if (S_ISREG(lst.st_mode)) {
        t.old = lst;
        return t;
    }
    if (S_ISDIR(lst.st_mode))
        throw Error(kExitUsage, fmt::format("{}: is a directory", path));
    struct stat st = lst;
    if (S_ISLNK(lst.st_mode)) {
        // A link to an open descriptor (/dev/stdout spelt /dev//stdout, a
        // link to /proc/self/fd/1): that descriptor.
        char target[PATH_MAX];
        ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
        if (n > 0) {
            target[n] = 0;
            if (fd_path(target))
                return classify(target);
        }
        // A link to a regular file, or a dangling one, is replaced (never
        // written through); a link to a pipe or terminal is written into.
        if (stat(path.c_str(), &st) != 0 || S_ISREG(st.st_mode))
            return t;
        if (S_ISDIR(st.st_mode))
            throw Error(kExitUsage, fmt::format("{}: is a directory", path));
    }
    auto why = stream_refusal(st);
    if (!why.empty())
        refuse(path, why);
    t.kind = OutputKind::Stream;
    return t;
}

// Creates the temp file next to `path`; returns fd, fills `tmp`. The name is
// short enough for any `path` whose own name fits in NAME_MAX.
int make_temp(const std::string &path, std::string &tmp)
{
    std::string base = base_of(path);
    if (base.size() > 40)
        base.resize(40);
    tmp = dir_of(path) + "/." + base + ".tmp.XXXXXX";
    int fd = mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0)
        io_fail(path, fmt::format("cannot create a file in {}", dir_of(path)), errno);
    return fd;
}

void write_stream(const std::string &path, const Target &t, std::string_view data)
{
    if (t.fd) {
        write_all(*t.fd, data, path);
        return;
    }
    // No O_CREAT: nothing is created if the target vanished meanwhile; then
    // check it is still what was classified.
    int fd = open(path.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        io_fail(path, "cannot open", errno);
    struct stat st{};
    if (fstat(fd, &st) != 0 || S_ISREG(st.st_mode) || !stream_refusal(st).empty()) {
        close(fd);
        refuse(path, "changed while being opened");
    }
    try {
        write_all(fd, data, path);
    } catch (...) {
        close(fd);
        throw;
    }
    if (close(fd) != 0 && errno != EINTR)
        io_fail(path, "close", errno);
}

void replace_file(const std::string &path, const Target &t, std::string_view data)
{
    std::string tmp;
    int fd = make_temp(path, tmp);
    auto fail = [&](const char *what, int err) {
        if (fd >= 0)
            close(fd);
        unlink(tmp.c_str());
        io_fail(path, what, err);
    };
    if (t.old) {
        // Keep the replaced file's mode and owner (root writing over a user's file).
        if (fchown(fd, t.old->st_uid, t.old->st_gid) != 0 && errno != EPERM)
            fail("chown", errno);
        if (fchmod(fd, t.old->st_mode & 07777) != 0)
            fail("chmod", errno);
    } else {
        mode_t mask = umask(0);
        umask(mask);
        if (fchmod(fd, 0666 & ~mask) != 0)
            fail("chmod", errno);
    }
    try {
        write_all(fd, data, path);
    } catch (const Error &) {
        close(fd);
        unlink(tmp.c_str());
        throw;
    }
    if (fsync(fd) != 0)
        fail("fsync", errno);
    int c = close(fd);
    fd = -1;
    if (c != 0)
        fail("close", errno);
    if (rename(tmp.c_str(), path.c_str()) != 0)
        fail("rename", errno);
    // Make the rename itself durable; failure here does not undo the write.
    int dfd = open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

}  // namespace

OutputKind classify_output(const std::string &path) { return classify(path).kind; }

void check_writable(const std::string &path, size_t expected_bytes)
{
    Target t = classify(path);
    if (t.kind == OutputKind::Stream)
        return;
    std::string tmp;
    int fd = make_temp(path, tmp);
    int err = expected_bytes ? posix_fallocate(fd, 0, static_cast<off_t>(expected_bytes)) : 0;
    close(fd);
    unlink(tmp.c_str());
    if (err == ENOSPC || err == EDQUOT)
        throw Error(kExitRuntime, fmt::format("{}: not enough free space in {} for the output (about {} KiB)", path,
                                              dir_of(path), (expected_bytes + 1023) / 1024));
}

void write_file_atomic(const std::string &path, std::string_view data)
{
    Target t = classify(path);
    if (t.kind == OutputKind::Stream)
        write_stream(path, t, data);
    else
        replace_file(path, t, data);
}

void write_file_or_rescue(const std::string &path, std::string_view data)
{
    try {
        write_file_atomic(path, data);
        return;
    } catch (const Error &e) {
        // Whatever went wrong (the target turned into a directory during a
        // long recording, the disk filled), the data is kept.
        const int code = e.code;
        std::string first = e.what();
        std::string base = base_of(path);
        if (base.size() > 100)
            base.resize(100);
        std::vector<std::string> dirs;
        if (const char *t = getenv("TMPDIR"); t && *t == '/')
            dirs.push_back(t);
        for (const char *d : {"/var/tmp", "/tmp", "/dev/shm"})
            dirs.push_back(d);
        for (const auto &d : dirs) {
            std::string tmp = d + "/iommuprof-rescue-" + std::to_string(time(nullptr)) + "-XXXXXX";
            int fd = mkostemp(tmp.data(), O_CLOEXEC);
            if (fd < 0)
                continue;
            bool ok = true;
            try {
                write_all(fd, data, tmp);
            } catch (const Error &) {
                ok = false;
            }
            ok = fsync(fd) == 0 && ok;
            ok = close(fd) == 0 && ok;
            if (!ok) {
                unlink(tmp.c_str());
                continue;
            }
            std::string named = tmp + "-" + base;
            if (rename(tmp.c_str(), named.c_str()) == 0)
                tmp = named;
            throw Error(code, fmt::format("{}; what was recorded is saved in {}", first, tmp));
        }
        throw Error(code, fmt::format("{}; no rescue copy could be written either", first));
    }
}

}  // namespace iommuprof
