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
            if (first && (e == EINVAL || e == ENOTSUPP || e == EOPNOTSUPP))
                return read_hist_map_per_key(fd, possible_cpus, visit);
            throw Error(kExitRuntime, std::string("reading the histogram map failed: ") +
                                          (e == ENOTSUPP ? "not supported (ENOTSUPP)" : strerror(e)));
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
    auto used = [&](const ip_hist *v) {
        for (int c = 0; c < possible_cpus; c++)
            if (v[c].count)
                return true;
        return false;
    };
    __u32 in = 0, out = 0;
    bool first = true, batch = true;
    unsigned done = 0;
    while (batch && done < n) {
        __u32 count = std::min(chunk, n - done);
        int err = bpf_map_lookup_batch(fd, first ? nullptr : &in, &out, keys.data(), vals.data(), &count, nullptr);
        int e = err ? errno : 0;
        if (err && e != ENOENT) {
            if (first && (e == EINVAL || e == ENOTSUPP || e == EOPNOTSUPP)) {
                batch = false;
                break;
            }
            throw Error(kExitRuntime, std::string("reading the rows map failed: ") +
                                          (e == ENOTSUPP ? "not supported (ENOTSUPP)" : strerror(e)));
        }
        for (__u32 i = 0; i < count && keys[i] < n; i++)
            if (used(&vals[size_t(i) * possible_cpus]))
                visit(keys[i], &vals[size_t(i) * possible_cpus]);
        done += count;
        if (err || count == 0)
            return;
        in = out;
        first = false;
    }
    if (batch)
        return;
    std::vector<ip_hist> v(possible_cpus);
    for (__u32 i = 0; i < n; i++)
        if (bpf_map_lookup_elem(fd, &i, v.data()) == 0 && used(v.data()))
            visit(i, v.data());
}

}  // namespace iommuprof
