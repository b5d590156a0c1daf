#include "common.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>

#include <fmt/core.h>

#include "iommuprof/catalog.hpp"
#include "iommuprof/error.hpp"

namespace iommuprof::cli {

void PlanFlags::add_to(CLI::App *cmd, bool verdict_default_)
{
    verdict_default = verdict_default_;
    if (verdict_default) {
        cmd->add_flag("--sample", sample_only,
                      "Sample kernel stacks only (997 Hz per CPU), no function probes: the least perturbing "
                      "mode, and the only timing source on kernels without fentry and kprobes");
        cmd->add_flag("--no-sample", no_sample, "Do not sample kernel stacks beside the probes");
        cmd->add_flag("--detail", detail,
                      "Attach every probe point (iommu_map, IOVA, page tables, IOTLB flushes, ...), not only "
                      "the DMA API and the dma-iommu layer the verdict needs (more detail, more overhead)");
    }
    cmd->add_flag("--kprobe", force_kprobe, "Never use fentry/fexit: attach kprobes/kretprobes");
    cmd->add_flag("--no-tracepoints", no_tracepoints, "Do not fall back to counting tracepoints");
    cmd->add_option("--points", points, "Only these probe points (see `iommuprof probes`)")
        ->delimiter(',')
        ->check([](const std::string &p) {
            return find_probe(p) ? std::string() : "unknown probe point '" + p + "' (see `iommuprof probes`)";
        });
}

SessionOptions PlanFlags::options() const
{
    SessionOptions o{force_kprobe, no_tracepoints, points};
    if (o.only_points.empty() && verdict_default && !detail)
        o.only_points = verdict_points();
    if (verdict_default)
        o.sampling = sample_only ? SessionOptions::Sampling::Only
                     : no_sample ? SessionOptions::Sampling::Off
                                 : SessionOptions::Sampling::Beside;
    return o;
}

void warn_sampling(const Session &s)
{
    if (!s.sampling_note().empty())
        fmt::print(stderr, "iommuprof: warning: no stack sampling beside the probes: {}\n", s.sampling_note());
}

void add_raw_flag(CLI::App *cmd, bool &raw)
{
    cmd->add_flag("--raw", raw,
                  "Report time sums, CPU shares and the saving as measured, without subtracting the "
                  "profiler's own probe cost (histograms and percentiles stay compensated)");
}

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
