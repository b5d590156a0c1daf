#include "common.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>

#include "iommuprof/catalog.hpp"
#include "iommuprof/error.hpp"

namespace iommuprof::cli {

void PlanFlags::add_to(CLI::App *cmd)
{
    cmd->add_flag("--kprobe", force_kprobe, "Never use fentry/fexit: attach kprobes/kretprobes");
    cmd->add_flag("--no-tracepoints", no_tracepoints, "Do not fall back to counting tracepoints");
    cmd->add_option("--points", points, "Only these probe points (see `iommuprof probes`)")
        ->delimiter(',')
        ->check([](const std::string &p) {
            return find_probe(p) ? std::string() : "unknown probe point '" + p + "' (see `iommuprof probes`)";
        });
}

SessionOptions PlanFlags::options() const { return SessionOptions{force_kprobe, no_tracepoints, points}; }

std::string kernel_release()
{
    struct utsname u;
    return uname(&u) == 0 ? u.release : "unknown";
}

bool stdout_is_tty() { return isatty(STDOUT_FILENO); }
bool stderr_is_tty() { return isatty(STDERR_FILENO); }

void print_out(const std::string &s)
{
    if (fwrite(s.data(), 1, s.size(), stdout) != s.size() || fflush(stdout) != 0)
        throw Error(kExitRuntime, "cannot write to standard output");
}

}  // namespace iommuprof::cli
