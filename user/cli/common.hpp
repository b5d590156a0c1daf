// Helpers shared by the subcommands.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "iommuprof/session.hpp"

namespace iommuprof::cli {

// --kprobe, --no-tracepoints, --points: options that shape the attach plan.
struct PlanFlags {
    bool force_kprobe = false;
    bool no_tracepoints = false;
    std::vector<std::string> points;
    void add_to(CLI::App *cmd);
    SessionOptions options() const;
};

std::string kernel_release();
bool stdout_is_tty();
bool stderr_is_tty();
// Write text to stdout, failing loudly (exit 1) on a closed pipe or full disk.
void print_out(const std::string &s);

}  // namespace iommuprof::cli
