// Probe catalog: logical probe points and the kernel symbols / tracepoints that
// implement them across kernel versions (6.1, 6.12, 6.16+).
#pragma once

#include <string>
#include <vector>

#include "iommuprof/model.hpp"

namespace iommuprof {

// A candidate kernel function for a point, with its argument layout as known
// from the kernel source. When the running kernel's BTF describes the function,
// the positions are taken from BTF instead (parameters named `dev` / `size`).
struct SymbolSpec {
    std::string name;
    int dev_arg = -1;   // index of `struct device *dev`
    int size_arg = -1;  // index of the byte size (of `nents` when entries)
    int ret_kind = 0;   // enum ip_ret_kind
    bool entries = false;  // size_arg counts scatterlist entries, not bytes
};

struct TracepointSpec {
    std::string group;  // "iommu"
    std::string event;  // "map"
    int dev_arg = -1;   // raw tracepoint argument index (TP_PROTO order)
    int size_arg = -1;
    std::string full() const { return group + ":" + event; }
};

struct ProbeSpec {
    std::string name;
    Category category = Category::DmaApi;
    std::string vendor;       // "", "intel", "amd", "virtio", "arm-smmu-v3"
    std::string module;       // kernel module the symbols live in when modular
    std::string description;
    // Each group is a list of alternatives: the first one the kernel has is
    // attached. Several groups = several functions that together make the
    // point (e.g. iommu_map and 6.1's iommu_map_atomic).
    std::vector<std::vector<SymbolSpec>> groups;
    // Counting fallback, first existing wins. Attached only when no function
    // of the point could be attached.
    std::vector<TracepointSpec> tracepoints;
    int flags = 0;            // enum ip_slot_flags
    std::string arch;         // "" = any, else only on this arch ("arm64")
};

const std::vector<ProbeSpec> &catalog();
const ProbeSpec *find_probe(const std::string &name);
// The points the verdict needs (the default of record, run and verdict): the
// dma-iommu layer per device (what pt removes), the lazy flush-queue timer,
// VFIO and the count-only events (faults, bounces). Leaves out the DMA API
// around the dma-iommu layer (its own cost stays under pt: `--dma-api`, or
// attached instead when no dma-iommu point can be timed) and what nests inside
// it (iommu_map, IOVA, page tables, flushes): two probed calls per map and
// unmap pair, not four. `--detail` attaches the whole catalog.
std::vector<std::string> verdict_points();
// The DMA API points (dma_map, dma_unmap, dma_map_sg, dma_unmap_sg, ...).
std::vector<std::string> dma_api_points();
// The point's id (its index in catalog(), as in the BPF side's slot_cfg.point), -1 if unknown.
int point_index(const std::string &name);

}  // namespace iommuprof
