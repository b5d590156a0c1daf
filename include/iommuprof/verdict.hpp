// The verdict: host facts + a profile -> "is iommu=pt worth trying here?".
// Pure: no kernel, no files. Rules and thresholds: docs/verdict.md.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>


#include "iommuprof/hostfacts.hpp"
#include "iommuprof/aggregate.hpp"

namespace iommuprof {

// Verdict values (the JSON "verdict" field).
inline constexpr const char *kNoTranslation = "no-translation";
inline constexpr const char *kAlreadyPassthrough = "already-passthrough";
inline constexpr const char *kFixFaultsFirst = "fix-faults-first";
inline constexpr const char *kInsufficientData = "insufficient-data";
inline constexpr const char *kNotWorthIt = "not-worth-it";
inline constexpr const char *kWorthTrying = "worth-trying";

struct Thresholds {
    double min_share_all = 0.02;      // estimated saving, fraction of all CPUs (--min-share-all 2)
    double min_share_hottest = 0.05;  // estimated saving, fraction of the busiest CPU (--min-share-hottest 5)
    uint64_t min_events = 200;        // outermost DMA-path calls in the window (--min-events)
    double min_seconds = 2.0;         // profile length (--min-seconds)
    // Invalidation share of the translation-only time from which a strict
    // host is told to try iommu.strict=0 first.
    double flush_dominates = 0.5;
    bool ignore_faults = false;       // --ignore-faults: faults become a caution
    bool operator==(const Thresholds &o) const = default;
};

// Evidence for one probe point over the whole profile.
struct PointEvidence {
    std::string point;
    Category category = Category::DmaApi;
    bool timed = false;
    uint64_t calls = 0;
    double calls_per_s = 0;
    double p50_ns = 0;  // 0 when not timed
    double p99_ns = 0;
    double time_ns = 0;
    uint64_t errors = 0;
};

// One device's outermost-call cost.
struct DeviceEvidence {
    std::string device;     // BDF or pseudo device ("[flush-queue]", "[vfio:qemu]")
    uint64_t calls = 0;     // outermost calls
    double time_ns = 0;     // outermost-call time
    double saving_ns = 0;   // estimated translation-only part
    std::string driver;     // from the host facts, "" when unknown
    std::string id;         // "vvvv:dddd", "" when unknown
    std::string group_type; // its IOMMU group's type, "" when unknown
    // A network device (interfaces sit on it and the profile has packet counters):
    // packets received and sent in the profile, and its interfaces.
    uint64_t packets = 0;
    std::vector<std::string> ifaces;
};

struct VerdictNumbers {
    bool measured = false;     // a profile was available
    bool timed = false;        // it has latency (not only tracepoint counts)
    double duration_s = 0;
    int ncpus = 0;
    uint64_t events = 0;       // outermost calls (or DMA-API counts when untimed)
    double calls_per_s = 0;
    // All profiled paths (outermost-call time, "total" point).
    double total_ns = 0;
    double total_share_all = 0;
    double total_share_hottest = 0;
    int total_hottest_cpu = -1;
    // Estimated translation-only time: what iommu=pt would save.
    double saving_ns = 0;
    double saving_share_all = 0;
    double saving_share_hottest = 0;
    int saving_hottest_cpu = -1;
    bool saving_lower_bound = false;  // the dma-iommu layer was not timed
    // Of saving_ns, the part in scatter-gather calls (iommu_dma_map_sg/unmap_sg).
    double saving_sg_ns = 0;
    // Under pt, dma-direct still walks every entry of those lists: that work is
    // taken off the saving (docs/accuracy.md), at direct_entry_ns per entry and
    // call (direct_entry_model: how it was obtained, "" when not known).
    uint64_t sg_entries = 0;        // entries passed to the dma-iommu scatter-gather calls
    double direct_entry_ns = 0;
    std::string direct_entry_model;
    double direct_ns = 0;           // what was taken off saving_ns for it
    double residual_ns = 0;    // DMA-API time that remains under pt
    // The DMA API around the dma-iommu layer was timed (--dma-api, --detail, or
    // standing in for the layer); when not, residual_ns is only what the
    // outermost dma-iommu calls did beyond the layer (near 0).
    bool dma_api_timed = false;
    double vfio_ns = 0;        // VFIO map/unmap (stays translated under pt)
    double flush_ns = 0;       // invalidation time, lower bound (largest flush point)
    double flush_fraction = 0; // flush_ns / saving_ns
    uint64_t faults_seen = 0;  // io_page_fault events in the profile
    // The sampler (the probe-free witness), when the profile has stack samples.
    bool sampled = false;
    std::string sample_event;      // "cycles" or "cpu-clock"
    uint64_t samples = 0;          // all samples, all CPUs
    uint64_t samples_translation = 0, samples_dma_api = 0, samples_profiler = 0;
    double sampled_share_all = 0;  // translation-only samples / all samples
    double sampled_ci95 = 0;       // half-width of its 95 % interval (normal approximation)
    double sampled_share_hottest = 0;
    int sampled_hottest_cpu = -1;
    bool saving_from_samples = false;  // no timed probes: the saving above is the sampler's
    bool disagree = false;         // probes and sampler differ beyond the sampling error
};

// dma-direct's cost per scatterlist entry and call under pt, for a profile with
// this calibration: a fixed fraction of the calibrated probe pair cost (the
// fraction measured in the lab, docs/accuracy.md). 0 and "" without calibration.
std::pair<double, std::string> direct_entry_cost(const std::vector<Calibration> &calibration);

struct Verdict {
    std::string verdict;  // one of the k* values above
    std::string summary;  // one sentence
    std::vector<std::string> reasons;
    std::vector<std::string> next_steps;
    std::vector<std::string> cautions;  // security caveats (always for worth-trying)
    VerdictNumbers numbers;
    std::vector<PointEvidence> points;         // catalog order, points that saw calls
    std::vector<DeviceEvidence> top_devices;   // busiest first, at most kTopDevices
    Thresholds thresholds;
    // Host summary the verdict used.
    std::string vendor, default_domain, dma_policy;
    std::string profile_source;  // "live", a file name, or ""
    std::string profile_error;   // why no profile (when there is none)
};

inline constexpr size_t kTopDevices = 5;

// `snap` may be null (profiling failed or was not possible): the host facts
// alone can still give no-translation, fix-faults-first (log faults) and
// already-passthrough; anything else becomes insufficient-data.
Verdict decide(const HostFacts &host, const Snapshot *snap, const Thresholds &t,
               const std::string &profile_error = "");

// Only the numbers (no decision), exposed for tests and renderers.
VerdictNumbers verdict_numbers(const Snapshot &s);

}  // namespace iommuprof
