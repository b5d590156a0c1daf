// Reading `iommuprof check`'s own files (the config, the baseline): small
// regular files only, opened the same careful way as --root files and --dmesg.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/core.h>

#include "iommuprof/error.hpp"
#include "iommuprof/hostfacts.hpp"
#include "rootfs.hpp"

namespace iommuprof {

std::optional<std::string> read_small_file(const std::string &path, size_t max_bytes, bool missing_ok)
{
    if (path.empty())
        throw Error(kExitUsage, "empty file name");
    struct stat st{};
    auto regular = [](mode_t m) { return S_ISREG(m); };
    int fd = host::open_for_reading(path, regular, st);
    if (fd < 0) {
        int e = errno;
        if (st.st_mode == 0 && e == ENOENT && missing_ok)
            return std::nullopt;
        throw Error(kExitUsage, host::open_failure(path, st, e, regular, "", "not a regular file"));
    }
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    if (uint64_t(st.st_size) > max_bytes)
        throw Error(kExitUsage, fmt::format("{}: {} bytes, more than the {} KiB allowed", path, st.st_size,
                                            max_bytes / 1024));
    std::string out;
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw Error(kExitUsage, fmt::format("{}: {}", path, std::strerror(errno)));
        if (n == 0)
            break;
        out.append(buf, size_t(n));
        if (out.size() > max_bytes)  // grew while being read
            throw Error(kExitUsage, fmt::format("{}: more than the {} KiB allowed", path, max_bytes / 1024));
    }
    return out;
}

}  // namespace iommuprof
