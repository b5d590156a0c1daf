// Loader-internal: reading a hists map (bpf/iommuprof.bpf.c): BPF_MAP_TYPE_PERCPU_HASH
// {struct ip_hist_key} -> struct ip_hist per possible CPU. Shared by the session's
// snapshot and the snapshot-scaling benchmark (user/bench/snapshot_scaling.cpp).
#pragma once

#include <cstddef>
#include <functional>

#include "iommuprof.h"

namespace iommuprof {

// Called once per key with `possible_cpus` values (one per possible CPU).
using HistVisitor = std::function<void(const ip_hist_key &key, const ip_hist *per_cpu)>;

// Keys per bpf_map_lookup_batch call in read_hist_map.
inline constexpr unsigned kHistBatchKeys = 256;

// Every entry, `chunk` keys per bpf_map_lookup_batch call; a kernel that refuses the
// first batch (no batch ops for this map type: EINVAL, ENOTSUPP, EOPNOTSUPP) is read
// with read_hist_map_per_key instead. Returns the number of keys visited. Throws
// Error(kExitRuntime) on any other failure.
size_t read_hist_map(int fd, int possible_cpus, const HistVisitor &visit, unsigned chunk = kHistBatchKeys);

// Every entry, one bpf_map_get_next_key + one bpf_map_lookup_elem per key.
size_t read_hist_map_per_key(int fd, int possible_cpus, const HistVisitor &visit);

// Called once per array index with `possible_cpus` values.
using RowVisitor = std::function<void(unsigned idx, const ip_hist *per_cpu)>;

// Indexes [0, n) of a rows map (BPF_MAP_TYPE_PERCPU_ARRAY of struct ip_hist), batched
// (bpf_map_lookup_batch), one lookup per index where the kernel has no batch ops.
// Indexes with no count on any CPU are not visited. Throws Error(kExitRuntime).
void read_row_cells(int fd, int possible_cpus, unsigned n, const RowVisitor &visit, unsigned chunk = kHistBatchKeys);

}  // namespace iommuprof
