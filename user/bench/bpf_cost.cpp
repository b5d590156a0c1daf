// iommuprof-bpf-cost: what iommuprof's BPF body costs per probed call, piece by
// piece, with no probes attached: the accounting code of bpf/iommuprof.bpf.c is
// driven through BPF_PROG_TEST_RUN of its ip_selftest program (the same
// do_enter / do_exit / record the fentry, kprobe and tracepoint programs run),
// N times per piece, and the time per run is compared with a run that does
// nothing. Pinned to one CPU. Needs root; runs on any kernel with BPF (the host,
// or a lab guest, where under QEMU -icount the guest clock counts instructions,
// so the numbers are instruction counts: scripts/bench-overhead --icount).
//
//   iommuprof-bpf-cost [--iterations N] [--json FILE]
//
// Pieces (ns per operation, the empty run subtracted):
//   clock            one bpf_ktime_get_ns()
//   task context     find the in-flight frames of the current task (task storage)
//   irq context      same for an interrupt stack (per-CPU array)
//   record (hash)    one histogram update in the hash map (tracepoint events, devices
//                    beyond the rows): hash lookup + counters
//   (calls update their device's row: an array cell)
//   outermost call   enter + exit of a call with nothing in flight (two records)
//   nested call      enter + exit of a call inside another (one record)
//   nested call, 8 deep  the same with 7 calls in flight below it
// Exit status: 0 ok, 1 failure, 77 no privileges.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/core.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "iommuprof.h"
#include "iommuprof.skel.h"
#include "iommuprof/catalog.hpp"

namespace {

using namespace iommuprof;

double now_ns()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
}

struct Runner {
    int fd;
    bool ok = true;
    void run(uint64_t op, uint64_t slot, uint64_t a, uint64_t b, uint64_t sp)
    {
        uint64_t args[5] = {op, slot, a, b, sp};
        LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = args, .ctx_size_in = sizeof(args));
        if (bpf_prog_test_run_opts(fd, &o) != 0)
            ok = false;
    }
};

constexpr uint64_t kIrqStack = 0xfffffe0000123000ULL + 0x3e00;
constexpr uint64_t kDev = IP_PSEUDO_VFIO_BASE | 7;  // a pseudo device: no kernel pointer needed

}  // namespace

int main(int argc, char **argv)
{
    long iters = 200000;
    std::string json_path;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--iterations" && i + 1 < argc) {
            iters = std::max(1000L, atol(argv[++i]));
        } else if (a == "--json" && i + 1 < argc) {
            json_path = argv[++i];
        } else {
            fmt::print(stderr, "usage: iommuprof-bpf-cost [--iterations N] [--json FILE]\n");
            return a == "-h" || a == "--help" ? 0 : 2;
        }
    }
    if (geteuid() != 0) {
        fmt::print(stderr, "iommuprof-bpf-cost: needs root (skipped)\n");
        return 77;
    }
    libbpf_set_print([](libbpf_print_level, const char *, va_list) { return 0; });
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    sched_setaffinity(0, sizeof(one), &one);

    iommuprof_bpf *skel = iommuprof_bpf__open();
    if (!skel) {
        fmt::print(stderr, "iommuprof-bpf-cost: cannot open the BPF object\n");
        return 1;
    }
    bpf_program *p;
    bpf_object__for_each_program(p, skel->obj) bpf_program__set_autoload(p, false);
    bpf_program__set_autoload(skel->progs.ip_selftest, true);
    auto set = [&](int slot, const char *point, int ret) {
        ip_slot_cfg &c = skel->rodata->slot_cfg[slot];
        c.point = unsigned(point_index(point));
        c.dev_arg = -1;
        c.size_arg = -1;
        c.ret_kind = (unsigned char)ret;
        c.flags = 0;
    };
    set(0, "dma_map", IP_RET_DMA_ADDR);
    set(1, "iommu_map", IP_RET_NEG);
    set(2, "qi_submit_sync", IP_RET_NEG);
    skel->rodata->stale_ns = ~0ULL;  // the 7 calls held in flight below must not expire
    // Device rows as iommuprof sets them up (user/loader/session.cpp): calls update array cells.
    int col = 0;
    for (const char *pt : {"dma_map", "iommu_map", "qi_submit_sync"})
        skel->rodata->col_of_point[point_index(pt)] = (unsigned char)++col;
    skel->rodata->col_of_point[IP_POINT_TOPLEVEL] = (unsigned char)++col;
    skel->rodata->ncols = unsigned(col);
    skel->rodata->nrows = 4;
    bpf_map__set_max_entries(skel->maps.rows, 4u * unsigned(col));
    if (iommuprof_bpf__load(skel)) {
        fmt::print(stderr, "iommuprof-bpf-cost: loading the BPF program failed\n");
        return 1;
    }
    Runner r{bpf_program__fd(skel->progs.ip_selftest)};

    // Warm up: create the task's context and the histogram entries.
    for (int i = 0; i < 1000; i++) {
        r.run(0, 0, kDev, 4096, 0);
        r.run(0, 1, 0, 0, 0);
        r.run(1, 1, 0, 0, 0);
        r.run(1, 0, 0x1000, 0, 0);
        r.run(2, 2, kDev, 0, 0);
        r.run(5, 0, 0, 0, kIrqStack);
    }

    struct Piece {
        const char *name;
        int runs;  // test runs per iteration (each one costs one empty run)
        std::function<void()> body;
    };
    std::vector<Piece> pieces = {
        {"empty run", 1, [&] { r.run(3, 0, 0, 0, 0); }},
        {"clock", 1, [&] { r.run(4, 0, 0, 0, 0); }},
        {"task context", 1, [&] { r.run(5, 0, 0, 0, 0); }},
        {"irq context", 1, [&] { r.run(5, 0, 0, 0, kIrqStack); }},
        {"record", 1, [&] { r.run(2, 2, kDev, 0, 0); }},
        {"outermost call", 2,
         [&] {
             r.run(0, 0, kDev, 4096, 0);
             r.run(1, 0, 0x1000, 0, 0);
         }},
    };
    // Nested: the cost of the inner pair = (outer + inner) - outer.
    pieces.push_back({"outer+nested", 4, [&] {
                          r.run(0, 0, kDev, 4096, 0);
                          r.run(0, 1, 0, 0, 0);
                          r.run(1, 1, 0, 0, 0);
                          r.run(1, 0, 0x1000, 0, 0);
                      }});
    for (int d = 0; d < 7; d++)
        r.run(0, 1, 0, 0, 0);  // 7 calls in flight (untimed: their exits come at the end)
    pieces.push_back({"nested, 8 deep", 2, [&] {
                          r.run(0, 2, 0, 0, 0);
                          r.run(1, 2, 0, 0, 0);
                      }});

    std::map<std::string, double> per;  // ns per iteration, median of 5
    for (auto &pc : pieces) {
        std::vector<double> v;
        for (int rep = 0; rep < 5; rep++) {
            double t0 = now_ns();
            for (long i = 0; i < iters / 5; i++)
                pc.body();
            v.push_back((now_ns() - t0) / double(iters / 5));
        }
        std::sort(v.begin(), v.end());
        per[pc.name] = v[2];
    }
    for (int d = 0; d < 7; d++)
        r.run(1, 1, 0, 0, 0);
    if (!r.ok) {
        fmt::print(stderr, "iommuprof-bpf-cost: BPF_PROG_TEST_RUN failed: {}\n", strerror(errno));
        return 1;
    }
    double empty = per["empty run"];
    auto net = [&](const std::string &n, int runs) { return per[n] - runs * empty; };
    nlohmann::json out = {
        {"iterations", iters},
        {"unit", "ns per operation (under QEMU -icount shift=0: instructions)"},
        {"empty_test_run_ns", empty},
        {"clock_ns", net("clock", 1)},
        {"task_context_ns", net("task context", 1)},
        {"irq_context_ns", net("irq context", 1)},
        {"record_ns", net("record", 1)},
        {"outermost_call_ns", net("outermost call", 2)},
        {"nested_call_ns", net("outer+nested", 4) - net("outermost call", 2)},
        {"nested_call_8_deep_ns", net("nested, 8 deep", 2)},
    };
    fmt::print("BPF body cost per operation (ip_selftest via BPF_PROG_TEST_RUN, {} iterations, median of 5; "
               "an empty run = {:.0f} ns, subtracted)\n",
               iters, empty);
    for (auto &[k, label] : std::vector<std::pair<std::string, std::string>>{
             {"clock_ns", "clock read (bpf_ktime_get_ns)"},
             {"task_context_ns", "in-flight context, task (task storage)"},
             {"irq_context_ns", "in-flight context, interrupt (per-CPU)"},
             {"record_ns", "histogram update, hash map (events)"},
             {"outermost_call_ns", "outermost call: enter + exit"},
             {"nested_call_ns", "nested call: enter + exit"},
             {"nested_call_8_deep_ns", "nested call, 8 deep: enter + exit"}})
        fmt::print("  {:<42} {:8.0f} ns\n", label, out[k].get<double>());
    if (!json_path.empty()) {
        std::ofstream f(json_path);
        f << out.dump(2) << "\n";
        if (!f) {
            fmt::print(stderr, "iommuprof-bpf-cost: cannot write {}\n", json_path);
            return 1;
        }
    }
    iommuprof_bpf__destroy(skel);
    return 0;
}
