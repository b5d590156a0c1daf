// Reading the hists map: batched, with a per-key fallback (see hist_map.hpp).
#include "hist_map.hpp"

#include <bpf/bpf.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "iommuprof/error.hpp"
#include "kernel_view.hpp"

namespace iommuprof {

namespace {

// The kernel has no batch operations for this map type.
bool no_batch_ops(int e) { return e == EINVAL || e == ENOTSUPP || e == EOPNOTSUPP; }

[[noreturn]] void read_failed(const char *what, int e)
{
    throw Error(kExitRuntime, std::string("reading the ") + what + " map failed: " + errstr(e));
}

bool any_count(const ip_hist *per_cpu, int possible_cpus)
{
    for (int c = 0; c < possible_cpus; c++)
        if (per_cpu[c].count)
            return true;
    return false;
}

// Indexes [0, n) of a rows map, one bpf_map_lookup_elem each.
void read_row_cells_per_index(int fd, int possible_cpus, unsigned n, const RowVisitor &visit)
{
    std::vector<ip_hist> v(possible_cpus);
    for (__u32 i = 0; i < n; i++)
        if (bpf_map_lookup_elem(fd, &i, v.data()) == 0 && any_count(v.data(), possible_cpus))
            visit(i, v.data());
}

}  // namespace

size_t read_hist_map(int fd, int possible_cpus, const HistVisitor &visit, unsigned chunk)
{
    if (chunk == 0)
        chunk = kHistBatchKeys;
    std::vector<ip_hist_key> keys(chunk);
    std::vector<ip_hist> vals(size_t(chunk) * possible_cpus);
    __u64 in = 0, out = 0;
    bool first = true;
    size_t n = 0;
    for (;;) {
        __u32 count = chunk;
        int err = bpf_map_lookup_batch(fd, first ? nullptr : &in, &out, keys.data(), vals.data(), &count, nullptr);
        int e = err ? errno : 0;
        if (err && e != ENOENT) {
            if (first && no_batch_ops(e))
                return read_hist_map_per_key(fd, possible_cpus, visit);
            read_failed("histogram", e);
        }
        for (__u32 i = 0; i < count; i++)
            visit(keys[i], &vals[size_t(i) * possible_cpus]);
        n += count;
        if (err)  // ENOENT: that was the last batch
            break;
        in = out;
        first = false;
    }
    return n;
}

size_t read_hist_map_per_key(int fd, int possible_cpus, const HistVisitor &visit)
{
    ip_hist_key key{}, next{};
    ip_hist_key *prev = nullptr;
    std::vector<ip_hist> v(possible_cpus);
    size_t n = 0;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        key = next;
        prev = &key;
        if (bpf_map_lookup_elem(fd, &key, v.data()) == 0) {
            visit(key, v.data());
            n++;
        }
    }
    return n;
}

void read_row_cells(int fd, int possible_cpus, unsigned n, const RowVisitor &visit, unsigned chunk)
{
    if (chunk == 0)
        chunk = kHistBatchKeys;
    std::vector<__u32> keys(chunk);
    std::vector<ip_hist> vals(size_t(chunk) * possible_cpus);
    __u32 in = 0, out = 0;
    bool first = true;
    for (unsigned done = 0; done < n;) {
        __u32 count = std::min(chunk, n - done);
        int err = bpf_map_lookup_batch(fd, first ? nullptr : &in, &out, keys.data(), vals.data(), &count, nullptr);
        int e = err ? errno : 0;
        if (err && e != ENOENT) {
            if (first && no_batch_ops(e))
                return read_row_cells_per_index(fd, possible_cpus, n, visit);
            read_failed("rows", e);
        }
        for (__u32 i = 0; i < count && keys[i] < n; i++)
            if (any_count(&vals[size_t(i) * possible_cpus], possible_cpus))
                visit(keys[i], &vals[size_t(i) * possible_cpus]);
        done += count;
        if (err || count == 0)
            return;
        in = out;
        first = false;
    }
}

}  // namespace iommuprof
