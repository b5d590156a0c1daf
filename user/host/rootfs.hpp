// Read-only access to a file tree below a root directory, resolving symbolic
// links the way a chroot would: absolute targets are taken relative to the
// root and ".." never climbs above it. Used for /proc and /sys (or fixture
// trees that mimic them).
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace iommuprof::host {

class RootFs {
public:
    // `root` must be an existing directory (checked by the caller).
    explicit RootFs(const std::string &root);

    const std::filesystem::path &root() const { return root_; }
    bool is_live() const { return live_; }  // the root is "/"

    // Real path of `rel` ("proc/cmdline", "/sys/..."), every symbolic link
    // resolved inside the root; nullopt if a component does not exist or the
    // links loop. With follow_last = false the last component is not followed.
    std::optional<std::filesystem::path> resolve(const std::string &rel, bool follow_last = true) const;

    // Whole file (at most max_bytes), nullopt when missing or unreadable.
    std::optional<std::string> read(const std::string &rel, size_t max_bytes = 4u << 20) const;
    // First line of a file, surrounding white space removed.
    std::optional<std::string> read_line(const std::string &rel) const;
    // Entry names of a directory, sorted; empty when missing.
    std::vector<std::string> list(const std::string &rel) const;
    bool is_dir(const std::string &rel) const;
    bool exists(const std::string &rel) const;
    // Last path component of a symbolic link's target ("vfio-pci" for
    // .../driver -> ../../../bus/pci/drivers/vfio-pci); nullopt when `rel` is
    // not a symbolic link.
    std::optional<std::string> link_basename(const std::string &rel) const;

private:
    std::filesystem::path root_;
    bool live_ = false;
};

std::string trim(const std::string &s);

// Opens `path` for reading only when accept(its mode) says so, checked through
// an O_PATH descriptor before any real open (opening a device can have effects:
// a watchdog node arms it). Returns the descriptor, or -1 with errno set; `st`
// is filled when the file was found (st_mode 0 when it was not).
int open_for_reading(const std::string &path, bool (*accept)(mode_t), struct stat &st);

// Why open_for_reading failed (its `st` and errno `err`), as one line naming
// `name`: "NAME: No such file or directory", "NAME: is a directory<dir_hint>",
// "NAME: <refused>" (a type accept() refused), "NAME: cannot open: ...".
std::string open_failure(const std::string &name, const struct stat &st, int err, bool (*accept)(mode_t),
                         const std::string &dir_hint, const std::string &refused);

}  // namespace iommuprof::host
