// Writing output files (profiles, OpenMetrics textfiles) safely as root.
//
// What a target path may be (docs/cli.md, "Output files"):
// - missing, or a regular file: replaced atomically (temp file in the same
//   directory, fsync, rename, fsync of the directory); an existing file keeps
//   its mode and owner. A symbolic link is replaced, never written through.
// - /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N: written to that
//   open descriptor, whatever it is (a pipe, a terminal, a file the shell
//   opened).
// - a FIFO, a terminal, /dev/null or /dev/full (also through a symbolic
//   link): opened without creating anything and written into.
// - anything else (a directory, a block device, any other character device, a
//   socket): refused with Error(kExitUsage) before anything is written.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace iommuprof {

enum class OutputKind {
    Replace,  // atomic replace (or create)
    Stream,   // written into an existing pipe, terminal, /dev/null, ...
};

// Classifies `path` as above; throws Error(kExitUsage) for targets that are
// refused. Does not open or create anything.
OutputKind classify_output(const std::string &path);

// Checks, before a long recording, that `path` can be written: it is not a
// refused target, its directory accepts a temp file, and (for a file) the
// file system has room for `expected_bytes`. Throws Error(kExitUsage) for a
// refused target, Error(kExitRuntime) otherwise. Never blocks (a FIFO is not
// opened here).
void check_writable(const std::string &path, size_t expected_bytes = 0);

// Writes `data` to `path` as above. On failure any existing file is untouched,
// no temp file is left, and Error(kExitRuntime, "<path>: <why>") is thrown
// (Error(kExitUsage) for a refused target).
void write_file_atomic(const std::string &path, std::string_view data);

// Like write_file_atomic; when writing fails for a reason other than a refused
// target, saves `data` under a rescue name in the first writable directory of
// $TMPDIR, /var/tmp, /tmp, /dev/shm and throws Error(kExitRuntime) whose
// message names the copy, so that nothing recorded is lost.
void write_file_or_rescue(const std::string &path, std::string_view data);

}  // namespace iommuprof
