// Before/after comparison of two saved profiles (docs/compare.md).
// compare_profiles() is pure; the renderers live in user/render/compare_render.cpp.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>


#include "iommuprof/aggregate.hpp"
#include "iommuprof/profile.hpp"

namespace iommuprof {

// IOMMU mode of a host as one short string: "translated (strict)",
// "translated (lazy)", "translated", "passthrough", "mixed (...)", "no IOMMU"
// or "unknown".
std::string iommu_mode(const HostFacts &h);

// One side of a row: figures over the whole profile.
struct CompareSide {
    bool attached = false;    // the point was attached in this profile
    bool timed = false;       // latency figures are meaningful
    double calls_per_s = 0;
    double bytes_per_s = 0;
    double errors_per_s = 0;
    double p50_ns = 0;        // 0 when not timed or no calls
    double p99_ns = 0;
    double cpu_share = 0;     // time in this point / (ncpus * duration), 0..1
    Hist hist;                // summed histogram (for mini histograms)
};

struct CompareRow {
    std::string point;
    Category category = Category::DmaApi;
    std::string device;       // "" for the point row (all devices summed)
    CompareSide before, after;
    // after/before - 1; NaN when before is 0 (a point that appears)
    double calls_change = 0;
    double p99_change = 0;
    double cpu_share_change = 0;  // after - before (fraction, not relative)
};

// Calls per second summed over one category (all points, all devices).
struct CategoryRow {
    Category category = Category::DmaApi;
    bool translation_only = false;  // its cost disappears under iommu=pt
    double before_calls_per_s = 0, after_calls_per_s = 0;
    double before_cpu_share = 0, after_cpu_share = 0;
    double calls_change = 0;  // after/before - 1; NaN when before is 0
};

// Per packet, one device that network interfaces sit on (net_by_device).
struct NetCompareSide {
    bool present = false;       // the profile has packet counters of the device
    uint64_t packets = 0;
    double packets_per_s = 0;
    double maps_per_packet = NAN;     // NaN: no packet
    double cpu_ns_per_packet = NAN;   // NaN: no packet
};
struct NetCompareRow {
    std::string device;
    std::vector<std::string> ifaces;  // both profiles' names, once each
    NetCompareSide before, after;
    double cpu_per_packet_change = NAN;  // after/before - 1; NaN when either is not a number or before is 0
};

struct ProfileSummary {
    std::string label, created, kernel, mode;
    std::vector<std::string> iommu_params;  // "iommu=pt", "iommu.strict=1"
    double duration_s = 0;
    int ncpus = 0;
    double dma_calls_per_s = 0;   // the workload measure (see docs/compare.md)
    std::string workload_measure; // which points dma_calls_per_s counts
    CpuShare cpu;                 // share of the "total" point (all profiled paths)
    double translation_calls_per_s = 0;  // translation-only categories
    // CPU time in all profiled paths ("total" point) per workload call: the
    // cost of one DMA-API call, independent of the rate. 0 when untimed.
    double ns_per_call = 0;
    uint64_t anomalies = 0;       // sum of the kernel-side overflow counters
};

struct Comparison {
    ProfileSummary before, after;
    bool mode_changed = false;
    bool mode_known = false;      // both modes are known
    // after / before DMA-API calls per second; NaN when before saw none.
    double workload_ratio = 0;
    bool workload_differs = false;  // outside [1/kWorkloadTolerance, kWorkloadTolerance]
    std::vector<CategoryRow> categories;  // categories seen in either profile, Category order
    // For each point (union of both profiles, catalog order): its summary row
    // (device "") followed by one row per device, busiest first.
    std::vector<CompareRow> rows;
    // Network devices of either profile, by packets (before, then after), most first.
    std::vector<NetCompareRow> net;
    // Loud warnings first ("mode did not change", "workload differs"), then
    // the lesser ones (different kernel, CPU count, anomalies, ...).
    std::vector<std::string> warnings;
    size_t loud_warnings = 0;  // warnings[0 .. loud_warnings) are the loud ones
    // One paragraph: "IOMMU CPU share fell from X % to Y %; p99 dma_map from
    // A µs to B µs; ..."
    std::string conclusion;
};

// Workload considered "a lot" different beyond this factor either way.
inline constexpr double kWorkloadTolerance = 1.5;

Comparison compare_profiles(const Profile &before, const Profile &after);

}  // namespace iommuprof
