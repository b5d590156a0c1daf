// A live profiling session: plan -> load -> attach -> read maps.
// The only part of iommuprof (with user/loader) that touches the kernel.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "iommuprof/model.hpp"

namespace iommuprof {

struct SessionOptions {
    bool force_kprobe = false;   // never use fentry/fexit (test the kprobe path)
    bool no_tracepoints = false; // do not fall back to tracepoints
    std::vector<std::string> only_points;  // empty: every point of the catalog
    std::vector<std::string> fallback_points;  // see PlanOptions
    bool no_compensation = false;  // skip the probe-effect calibration (raw times)
    // Kernel-stack sampling (the probe-free witness): off, beside the probes, or
    // instead of them (no function probe at all: the least perturbing mode).
    enum class Sampling { Off, Beside, Only };
    Sampling sampling = Sampling::Off;
    double sample_hz = 997;  // per CPU; not a round rate, so it does not beat with periodic work
    // The sampler names its kernel stacks (reads kallsyms: 0.4-0.5 s under emulation) at the
    // first snapshot, after it has read them, rather than at open: for a profile whose only
    // snapshot is its last (record to a file, verdict), that read then leaves the start-up and
    // still falls outside the window. Commands that snapshot along the way (top, run, record on
    // a terminal) keep it at open, before their first window.
    bool late_symbols = false;
};

// What the running kernel offers (bpftrace's bpffeature, reduced).
class Session {
public:
    // Plans, loads and attaches. Throws Error(kExitRuntime) with one clear
    // line when the environment cannot run a profile (no root/CAP_BPF, no BTF,
    // no point attachable at all).
    static std::unique_ptr<Session> open(const SessionOptions &opts);
    virtual ~Session() = default;  // detaches everything

    // Cumulative counters since attach; duration_s = time since attach.
    virtual Snapshot snapshot() = 0;
    virtual const std::vector<Attachment> &plan() const = 0;
    // Wall-clock seconds from open() start to all probes attached.
    virtual double attach_seconds() const = 0;
    virtual const KernelFeatures &features() const = 0;
    // Why sampling beside the probes could not start ("" when it did or was not asked).
    virtual const std::string &sampling_note() const = 0;
};

// Packet counters of every network interface that sits on a device, in every network
// namespace of the host (own, /run/netns, those of running processes; at most 64
// namespaces and 1024 interfaces): cumulative since the interface came up
// (user/loader/netdev.cpp). What cannot be read is left out.
std::vector<NetIface> read_net_ifaces();

// Waits up to `seconds` (forever if < 0); returns false if SIGINT/SIGTERM
// arrived (see install_stop_handlers). Wakes early also when stop_requested().
bool sleep_unless_stopped(double seconds);
void install_stop_handlers();
bool stop_requested();
void request_stop();

}  // namespace iommuprof
