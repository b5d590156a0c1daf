// Errors that end the command with one line on stderr and a documented exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace iommuprof {

// Exit codes (docs/cli.md):
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;  // environment: privileges, BTF, nothing attachable, I/O at run time
inline constexpr int kExitUsage = 2;    // bad command line or bad input file (corrupted profile, ...)
inline constexpr int kExitInterrupted = 130;  // only where the user asked to stop something that has no result

struct Error : std::runtime_error {
    int code;
    Error(int code_, const std::string &msg) : std::runtime_error(msg), code(code_) {}
};

}  // namespace iommuprof
