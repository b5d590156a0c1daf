// Loader-internal: the part of the kernel view read from kallsyms, available_filter_functions
// and tracefs (0.8-1.0 s of kernel time under emulation), kept between starts of one boot.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>

#include "iommuprof/plan.hpp"  // (BtfFunc, BtfTracepoint)

namespace iommuprof {

// What the kernel's BTF says of the catalog's names and of the BPF features the programs use
// (0.05-0.07 s of parsing under emulation).
struct CachedBtf {
    std::map<std::string, BtfFunc> funcs;
    std::map<std::string, BtfTracepoint> tracepoints;
    bool task_storage = true, task_btf = true, attach_cookie = true, func_arg = true;
    int fsession_type = 0;  // KernelView::fsession_type
};

struct CachedView {
    std::string key;  // what it was read under (view_cache_key)
    std::set<std::string> symbols;
    std::map<std::string, std::string> symbol_module;
    std::optional<std::set<std::string>> ftrace_funcs;
    bool tracefs = false;
    std::set<std::string> tracepoints;
    std::optional<CachedBtf> btf;  // none: the kernel has no BTF
};

// The running boot's id (/proc/sys/kernel/random/boot_id), "" when it cannot be read.
std::string boot_id();

// Changes with the boot (/proc/sys/kernel/random/boot_id), the loaded modules (/proc/modules:
// names, sizes, addresses), the names asked for and the tracefs directory: anything that changes
// what those files say about the catalog's names. "" when the boot id cannot be read.
std::string view_cache_key(const std::set<std::string, std::less<>> &wanted, const std::string &tracefs_dir);

// The cache directory: $IOMMUPROF_CACHE_DIR, else /run/iommuprof (a tmpfs: gone at reboot);
// "" when IOMMUPROF_NO_CACHE is set.
std::string view_cache_dir();

// The view cached in dir under key, if any. Only a regular file, not a symlink, owned by this
// user, writable by no one else, in a directory of this user's that no one else can enter,
// below 4 MiB and well-formed, is read; anything else is ignored.
std::optional<CachedView> read_view_cache(const std::string &dir, const std::string &key);

// The text of dir/name under the rules of read_view_cache (a private regular file below 4 MiB).
std::optional<std::string> read_private_file(const std::string &dir, const char *name);

// Writes text to dir/name under the rules of write_view_cache.
bool write_private_file(const std::string &dir, const char *name, const std::string &text);

// Writes v (creating dir, mode 0700, if missing) through a new file renamed over the old one:
// never through a symlink, never into a directory that is not this user's alone. Failures are
// ignored (the cache only saves time); false then.
bool write_view_cache(const std::string &dir, const CachedView &v);

}  // namespace iommuprof
