// Subcommands register themselves: one file per command in user/cli/.
#pragma once

#include <functional>
#include <CLI/CLI.hpp>

namespace iommuprof::cli {

// `add` creates the subcommand on the root app and sets its callback.
// Callbacks report failure by throwing iommuprof::Error; a command that has
// its own exit status (run) calls set_exit_code().
using AddCommand = std::function<void(CLI::App &root)>;

struct Registrar {
    Registrar(int order, AddCommand add);
};

void set_exit_code(int code);

}  // namespace iommuprof::cli
