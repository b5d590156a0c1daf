// Subcommands register themselves: one file per command in user/cli/.
#pragma once

#include <functional>
#include <string>
#include <CLI/CLI.hpp>

#include "iommuprof/error.hpp"

namespace iommuprof::cli {

// `add` creates the subcommand on the root app and sets its callback.
// Callbacks report failure by throwing iommuprof::Error; a command that has
// its own exit status (run) calls set_exit_code().
using AddCommand = std::function<void(CLI::App &root)>;

struct Registrar {
    Registrar(int order, AddCommand add);
};

void set_exit_code(int code);

// How a usage error (CLI11's ParseError: an unknown option, a bad value) on a
// subcommand ends. By default main prints one line on stderr and exits 2
// (kExitUsage). `check` follows the Nagios plugin convention instead: exit 3
// (UNKNOWN) and a status line on stdout for the monitor.
struct UsageErrorPolicy {
    int exit_code = kExitUsage;
    // Called before main prints its stderr line; may be empty.
    std::function<void(const CLI::App &sub, const std::string &message)> report;
};
// Called from a subcommand's AddCommand for the subcommand it created.
void set_usage_error_policy(const CLI::App *sub, UsageErrorPolicy policy);

}  // namespace iommuprof::cli
