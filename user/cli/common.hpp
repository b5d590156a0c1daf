// Helpers shared by the subcommands.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "iommuprof/hostfacts.hpp"
#include "iommuprof/profile.hpp"
#include "iommuprof/session.hpp"
#include "iommuprof/verdict.hpp"

namespace iommuprof::cli {

// --kprobe, --no-tracepoints, --points: options that shape the attach plan.
struct PlanFlags {
    bool force_kprobe = false;
    bool no_tracepoints = false;
    std::vector<std::string> points;
    // record, run, verdict: the verdict's points by default (verdict_points()),
    // the whole catalog with --detail; top and probes: the whole catalog.
    bool verdict_default = false;
    bool detail = false;
    bool dma_api = false;      // --dma-api: the DMA API points too
    bool sample_only = false;  // --sample: no function probes, the sampler alone
    bool no_sample = false;    // --no-sample
    void add_to(CLI::App *cmd, bool verdict_default = false);
    // host: the facts of the host about to be profiled; when no IOMMU group of
    // it translates (pt, or no IOMMU), the DMA API is what there is to time, so
    // the verdict's points include it (a profile after the pt reboot then has
    // the calls `compare` sets against the translated one).
    SessionOptions options(const HostFacts *host = nullptr) const;
};

// The verdict's points (verdict_points()) into o.only_points, and the DMA API:
// with dma_api, or where no IOMMU group of `host` translates (then it is the
// only DMA path), else as the fallback for an untimeable dma-iommu layer.
void use_verdict_points(SessionOptions &o, bool dma_api, const HostFacts *host);

// Warns on stderr when sampling beside the probes could not start.
void warn_sampling(const Session &s);
// One line on stderr once every probe is attached: how long it took and what attached. Every
// window (top's intervals, record's and run's profile, verdict's measurement) starts after it.
void announce_ready(const Session &s);

// --raw: report times as measured, without the probe-effect compensation.
void add_raw_flag(CLI::App *cmd, bool &raw);

// Strict numbers on the command line: plain decimal only (no hex, no "nan",
// "inf" or a sign where none makes sense), within [lo, hi]; anything else is
// a usage error naming the value.
CLI::Validator decimal_in(double lo, double hi);
CLI::Validator integer_in(long long lo, long long hi);

std::string kernel_release();
bool stdout_is_tty();
// The verdict the HTML pages of report and compare show for a saved profile: its own host facts,
// default thresholds, times as `verdict [--raw] --from FILE` judges them.
Verdict page_verdict(const Profile &recorded, bool raw, const std::string &file);
bool stderr_is_tty();
// Write text to stdout, failing loudly (exit 1) on a closed pipe or full disk.
void print_out(const std::string &s);
// Text for people (tables, verdicts): the same after terminal_safe(), so that
// no string from a profile, sysfs or the kernel log reaches the terminal raw.
void print_text(const std::string &s);

}  // namespace iommuprof::cli
