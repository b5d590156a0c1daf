// Analysis of snapshots: sums over devices, CPUs and points, CPU shares, and the
// classification of sampled stacks (user/analysis/aggregate.cpp, sampling.cpp).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "iommuprof/model.hpp"

namespace iommuprof {

// frames: function names, leaf first (kallsyms names; clone suffixes allowed).
// Only the frames up to the first interrupt or softirq entry count: an interrupt
// that arrives inside dma_map is the interrupt's work, not the mapping's.
SampleClass classify_stack(const std::vector<std::string> &frames, bool idle_task);

// ---- Aggregations (user/analysis/aggregate.cpp) ----

// The same snapshot with the raw (uncompensated) time sums: sum_ns + comp_ns.
// Percentiles and maxima stay compensated (the kernel keeps one distribution).
Snapshot raw_times(const Snapshot &s);
// raw_times() as the verdict judges it (`verdict --raw`): the calibration stays, since it
// also prices dma-direct's per-entry walk under pt, which is not a probe effect.
Snapshot raw_times_judged(const Snapshot &s);

struct PointDevice {
    std::string point;
    std::string device;
    Hist hist;
};
struct PointCpu {
    std::string point;
    int cpu = 0;
    Hist hist;
};

// Sum over CPUs: one entry per (point, device), catalog order then device.
std::vector<PointDevice> by_device(const Snapshot &s);
// Sum over devices: one entry per (point, cpu).
std::vector<PointCpu> by_cpu(const Snapshot &s);
// Sum over devices and CPUs: one Hist per point name.
std::map<std::string, Hist> by_point(const Snapshot &s);
// Sum over points of one category and device (devices summed when device empty).
Hist sum_category(const Snapshot &s, Category c);

// CPU-time share figures from the outermost-call totals ("total" point).
// Both fractions are clamped to [0, 1] (a profile whose calls straddle its
// window, or a corrupted one, cannot claim more than all of a CPU).
struct CpuShare {
    double all_cpus = 0;     // fraction of ncpus * duration
    double hottest_cpu = 0;  // fraction of duration on the busiest CPU
    int hottest = -1;        // that CPU; -1 when the point has no cell
};
CpuShare cpu_share(const Snapshot &s, const std::string &point = kTotalPoint);
// cpu_share() of every point that has cells, in one pass over the cells.
std::map<std::string, CpuShare> cpu_share_by_point(const Snapshot &s);

// Traffic of one device that network interfaces sit on, beside the DMA calls made for it
// in the same window: what a packet costs in mappings and CPU time.
struct NetDeviceTraffic {
    std::string device;
    std::vector<std::string> ifaces;  // "eth0", or "NETNS/eth0" outside the profiler's namespace
    uint64_t rx_packets = 0, tx_packets = 0, rx_bytes = 0, tx_bytes = 0;
    // DMA-API map calls (single and scatterlist) for the device, and unmap calls; where the
    // DMA API was not probed, the dma-iommu layer's (iommu_dma_map*, one per DMA-API call)
    uint64_t maps = 0;
    uint64_t unmaps = 0;
    uint64_t cpu_ns = 0;   // outermost-call time (compensated) for the device
    uint64_t packets() const { return rx_packets + tx_packets; }
    double packets_per_s = 0;
    double maps_per_packet = 0;     // NaN when no packet moved
    double cpu_ns_per_packet = 0;   // NaN when no packet moved
};
// One entry per device with an interface on it, by device name; empty when the
// snapshot carries no packet counters.
std::vector<NetDeviceTraffic> net_by_device(const Snapshot &s);

}  // namespace iommuprof
