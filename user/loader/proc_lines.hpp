// Loader-internal: reading the kernel's big text files (kallsyms, available_filter_functions)
// fast, and parsing a kallsyms line. Shared by the kernel view and the sampler.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fmt/core.h>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iommuprof {

// f(line) for every line of the file at path (without its newline), read in large chunks (a
// stream's getline costs as much as the kernel takes to print kallsyms' 170k lines); false when
// it cannot be opened or read to its end.
template <class F>
bool for_each_line(const char *path, F f)
{
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    std::vector<char> buf(1 << 18);
    size_t have = 0;
    for (;;) {
        ssize_t n = ::read(fd, buf.data() + have, buf.size() - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0 && have)
                f(std::string_view(buf.data(), have));
            ::close(fd);
            return n == 0;
        }
        have += size_t(n);
        size_t start = 0;
        for (const char *nl; (nl = static_cast<const char *>(memchr(buf.data() + start, '\n', have - start)));) {
            f(std::string_view(buf.data() + start, size_t(nl - buf.data()) - start));
            start = size_t(nl - buf.data()) + 1;
        }
        if (start == 0 && have == buf.size())
            buf.resize(buf.size() * 2);  // one line longer than the buffer (never seen: bounded by the file)
        std::memmove(buf.data(), buf.data() + start, have - start);
        have -= start;
    }
}

// One line of /proc/kallsyms: "ffffffff81412d90 T dma_map_phys" or
// "ffffffffc0a01000 t viommu_sync_req\t[virtio_iommu]" (views into the line).
struct KallsymsLine {
    std::string_view addr;  // hex
    char type = 0;
    std::string_view name, module;  // module: "" for the kernel's own
};

inline std::optional<KallsymsLine> parse_kallsyms_line(std::string_view line)
{
    size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos || sp1 + 3 >= line.size())
        return std::nullopt;
    KallsymsLine k;
    k.addr = line.substr(0, sp1);
    k.type = line[sp1 + 1];
    size_t start = sp1 + 3, end = line.find_first_of(" \t", start);
    k.name = line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (end != std::string_view::npos) {
        size_t lb = line.find('[', end), rb = line.find(']', end);
        if (lb != std::string_view::npos && rb != std::string_view::npos && rb > lb)
            k.module = line.substr(lb + 1, rb - lb - 1);
    }
    return k;
}

// IOMMUPROF_DEBUG: how long each phase took ("iommuprof: {label}{what} {s}s", and the total
// since construction when asked).
class DebugPhases {
public:
    DebugPhases(std::string label, int width, bool total) : label_(std::move(label)), width_(width), total_(total) {}
    void operator()(const char *what)
    {
        if (!on_)
            return;
        auto now = std::chrono::steady_clock::now();
        fmt::print(stderr, "iommuprof: {}{:<{}} {:7.3f}s", label_, what, width_,
                   std::chrono::duration<double>(now - last_).count());
        if (total_)
            fmt::print(stderr, " (total {:.3f}s)", std::chrono::duration<double>(now - t0_).count());
        fmt::print(stderr, "\n");
        last_ = now;
    }

private:
    std::string label_;
    int width_;
    bool total_;
    bool on_ = getenv("IOMMUPROF_DEBUG") != nullptr;
    std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now(), last_ = t0_;
};

}  // namespace iommuprof
