// iommuprof-snapshot-bench: cost of one snapshot read of the hists map as its
// key count grows (many devices x points, every key on every CPU).
//
// Creates a map of the same type as `hists` in bpf/iommuprof.bpf.c
// (BPF_MAP_TYPE_PERCPU_HASH {struct ip_hist_key} -> struct ip_hist, preallocated,
// max_entries = max(N, IP_HIST_ENTRIES)), fills N keys, and times a full read
// with the session's own code (read_hist_map in user/loader/hist_map.cpp:
// bpf_map_lookup_batch, 256 keys per call) against a larger batch and against
// one get_next_key + lookup_elem pair per key. Needs root (map creation), no
// probes: runs on any kernel with BPF, the host's included.
//
//   iommuprof-snapshot-bench [--keys 1024,4096,...] [--reps N] [--json FILE] [--smoke]
//
// Exit status: 0 ok, 1 a read returned wrong data, 77 no privileges (skipped).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "hist_map.hpp"
#include "iommuprof.h"

using namespace iommuprof;
using clk = std::chrono::steady_clock;

namespace {

constexpr unsigned kPoints = 40;  // about the catalog's size: keys = devices x points

ip_hist_key key_of(size_t i)
{
    // A kernel pointer per device, like a struct device *.
    return ip_hist_key{unsigned(i % kPoints), 0, 0xffff888100000000ULL + (i / kPoints) * 0x400};
}

struct Method {
    std::string name;
    std::function<size_t(int fd, int ncpu, const HistVisitor &)> read;
};

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char **argv)
{
    std::vector<size_t> sizes{64, 256, 1024, 4096, 8192, 16384, 65536};
    int reps = 15;
    std::string json_path;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--keys" && i + 1 < argc) {
            sizes.clear();
            std::string s = argv[++i];
            for (size_t p = 0; p < s.size();) {
                size_t q = s.find(',', p);
                sizes.push_back(std::stoul(s.substr(p, q - p)));
                p = q == std::string::npos ? s.size() : q + 1;
            }
        } else if (a == "--reps" && i + 1 < argc) {
            reps = std::max(1, atoi(argv[++i]));
        } else if (a == "--json" && i + 1 < argc) {
            json_path = argv[++i];
        } else if (a == "--smoke") {
            sizes = {256, 1024, 4096};
            reps = 3;
        } else {
            fmt::print(stderr, "usage: iommuprof-snapshot-bench [--keys N,N,...] [--reps N] [--json FILE] [--smoke]\n");
            return 2;
        }
    }
    const int ncpu = libbpf_num_possible_cpus();
    const std::vector<Method> methods{
        {"batch256", [](int fd, int n, const HistVisitor &v) { return read_hist_map(fd, n, v); }},
        {"batch4096", [](int fd, int n, const HistVisitor &v) { return read_hist_map(fd, n, v, 4096); }},
        {"per_key", [](int fd, int n, const HistVisitor &v) { return read_hist_map_per_key(fd, n, v); }},
    };

    nlohmann::json out{{"possible_cpus", ncpu},
                       {"value_bytes_per_key", sizeof(ip_hist) * size_t(ncpu)},
                       {"reps", reps},
                       {"results", nlohmann::json::array()}};
    fmt::print("snapshot read of a PERCPU_HASH {{point, dev}} -> ip_hist map, {} possible CPUs, {} B per key "
               "(median of {} reads)\n",
               ncpu, sizeof(ip_hist) * size_t(ncpu), reps);
    fmt::print("{:>7} {:>11} | {:>11} {:>9} | {:>11} {:>9} | {:>11} {:>9} | {:>8}\n", "keys", "max_entries",
               "batch256 ms", "ns/key", "batch4k ms", "ns/key", "per-key ms", "ns/key", "per-key/batch");
    int bad = 0;
    for (size_t n : sizes) {
        __u32 max_entries = __u32(std::max<size_t>(n, IP_HIST_ENTRIES));
        int fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_HASH, "hists", sizeof(ip_hist_key), sizeof(ip_hist),
                                max_entries, nullptr);
        if (fd < 0) {
            int e = errno;
            fmt::print(stderr, "iommuprof-snapshot-bench: creating a {}-entry map failed: {}\n", max_entries,
                       strerror(e));
            return e == EPERM || e == EACCES ? 77 : 1;
        }
        std::vector<ip_hist> vals(ncpu);
        unsigned long long want = 0;
        for (size_t i = 0; i < n; i++) {
            for (int c = 0; c < ncpu; c++) {
                vals[c] = ip_hist{};
                vals[c].count = i + 1 + c;
                vals[c].sum_ns = (i + 1) * 1000;
                vals[c].buckets[(i + c) % IP_BUCKETS] = vals[c].count;
                want += vals[c].count;
            }
            ip_hist_key k = key_of(i);
            if (bpf_map_update_elem(fd, &k, vals.data(), BPF_NOEXIST)) {
                fmt::print(stderr, "iommuprof-snapshot-bench: filling key {} failed: {}\n", i, strerror(errno));
                return 1;
            }
        }
        nlohmann::json r{{"keys", n}, {"max_entries", max_entries}};
        std::vector<double> ms_of;
        for (const auto &m : methods) {
            std::vector<double> ms;
            for (int rep = 0; rep < reps; rep++) {
                unsigned long long got = 0;
                auto t0 = clk::now();
                size_t seen = m.read(fd, ncpu, [&](const ip_hist_key &, const ip_hist *pc) {
                    for (int c = 0; c < ncpu; c++)
                        got += pc[c].count;
                });
                ms.push_back(std::chrono::duration<double, std::milli>(clk::now() - t0).count());
                if (seen != n || got != want) {
                    fmt::print(stderr, "iommuprof-snapshot-bench: {} read {} keys (want {}), count sum {} (want {})\n",
                               m.name, seen, n, got, want);
                    bad++;
                }
            }
            double med = median(ms);
            ms_of.push_back(med);
            r[m.name] = {{"ms", med}, {"ns_per_key", med * 1e6 / double(n)},
                         {"ns_per_key_cpu", med * 1e6 / double(n) / ncpu}};
        }
        r["per_key_over_batch256"] = ms_of[2] / ms_of[0];
        fmt::print("{:>7} {:>11} | {:>11.3f} {:>9.0f} | {:>11.3f} {:>9.0f} | {:>11.3f} {:>9.0f} | {:>7.2f}x\n", n,
                   max_entries, ms_of[0], ms_of[0] * 1e6 / double(n), ms_of[1], ms_of[1] * 1e6 / double(n),
                   ms_of[2], ms_of[2] * 1e6 / double(n), ms_of[2] / ms_of[0]);
        out["results"].push_back(r);
        close(fd);
    }
    // The rows map (PERCPU_ARRAY of ip_hist, one cell per device x point): what a snapshot reads
    // for the devices that have a row (user/loader/session.cpp read_rows).
    fmt::print("snapshot read of the rows map (PERCPU_ARRAY of ip_hist), {} possible CPUs (median of {} reads)\n", ncpu,
               reps);
    fmt::print("{:>7} | {:>11} {:>9} | {:>11} {:>9} | {:>8}\n", "cells", "batch256 ms", "ns/cell", "per-idx ms",
               "ns/cell", "per-idx/batch");
    out["rows"] = nlohmann::json::array();
    for (size_t n : sizes) {
        int fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "rows", sizeof(__u32), sizeof(ip_hist), __u32(n), nullptr);
        if (fd < 0) {
            fmt::print(stderr, "iommuprof-snapshot-bench: creating a {}-cell array failed: {}\n", n, strerror(errno));
            return 1;
        }
        std::vector<ip_hist> vals(ncpu);
        unsigned long long want = 0;
        for (__u32 i = 0; i < n; i++) {
            for (int c = 0; c < ncpu; c++) {
                vals[c] = ip_hist{};
                vals[c].count = i + 1 + c;
                want += vals[c].count;
            }
            bpf_map_update_elem(fd, &i, vals.data(), BPF_ANY);
        }
        auto timed = [&](const std::function<void(const RowVisitor &)> &read) {
            std::vector<double> ms;
            for (int rep = 0; rep < reps; rep++) {
                unsigned long long got = 0;
                auto t0 = clk::now();
                read([&](unsigned, const ip_hist *pc) {
                    for (int c = 0; c < ncpu; c++)
                        got += pc[c].count;
                });
                ms.push_back(std::chrono::duration<double, std::milli>(clk::now() - t0).count());
                if (got != want) {
                    fmt::print(stderr, "iommuprof-snapshot-bench: rows read a count sum of {} (want {})\n", got, want);
                    bad++;
                }
            }
            return median(ms);
        };
        double b = timed([&](const RowVisitor &v) { read_row_cells(fd, ncpu, unsigned(n), v); });
        double p1 = timed([&](const RowVisitor &v) {
            std::vector<ip_hist> pc(ncpu);
            for (__u32 i = 0; i < n; i++)
                if (bpf_map_lookup_elem(fd, &i, pc.data()) == 0)
                    v(i, pc.data());
        });
        out["rows"].push_back({{"cells", n},
                               {"batch256", {{"ms", b}, {"ns_per_cell", b * 1e6 / double(n)}}},
                               {"per_index", {{"ms", p1}, {"ns_per_cell", p1 * 1e6 / double(n)}}}});
        fmt::print("{:>7} | {:>11.3f} {:>9.0f} | {:>11.3f} {:>9.0f} | {:>7.2f}x\n", n, b, b * 1e6 / double(n), p1,
                   p1 * 1e6 / double(n), p1 / b);
        close(fd);
    }
    // Linear: the cost per key stays flat as keys grow (largest size against 1024 keys or the smallest above it).
    auto flat = [&](const nlohmann::json &rs, const char *count, const char *method, const char *per) {
        double lo = 0, hi = 0;
        for (const auto &r : rs)
            if (r[count].get<size_t>() >= 1024 && lo == 0)
                lo = r[method][per].get<double>();
        if (!rs.empty())
            hi = rs.back()[method][per].get<double>();
        return lo > 0 ? hi / lo : 0.0;
    };
    out["hash_ns_per_key_growth"] = flat(out["results"], "keys", "batch256", "ns_per_key");
    out["rows_ns_per_cell_growth"] = flat(out["rows"], "cells", "batch256", "ns_per_cell");
    fmt::print("scaling: ns per key at {} keys / at 1024 keys: hash map {:.2f}x, rows map {:.2f}x (1.00x = linear)\n",
               sizes.back(), out["hash_ns_per_key_growth"].get<double>(), out["rows_ns_per_cell_growth"].get<double>());
    if (!json_path.empty()) {
        std::ofstream f(json_path);
        f << out.dump(2) << "\n";
        if (!f) {
            fmt::print(stderr, "iommuprof-snapshot-bench: cannot write {}\n", json_path);
            return 1;
        }
    }
    return bad ? 1 : 0;
}
