// Host-kernel tests (need root): every BPF program through the verifier, the
// accounting logic driven through BPF_PROG_TEST_RUN, and a real session that
// attaches the raw tracepoints of the running kernel.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "iommuprof.h"
#include "iommuprof.skel.h"
#include "iommuprof/catalog.hpp"
#include "iommuprof/session.hpp"

using namespace iommuprof;

namespace {

int point_id(const std::string &name)
{
    for (size_t i = 0; i < catalog().size(); i++)
        if (catalog()[i].name == name)
            return int(i);
    return -1;
}

class BpfLogic : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (geteuid() != 0)
            GTEST_SKIP() << "needs root";
        skel = iommuprof_bpf__open();
        ASSERT_NE(skel, nullptr);
        bpf_program *p;
        bpf_object__for_each_program(p, skel->obj)
        {
            // fentry/fexit need a target at load time: covered by the VM lab.
            auto t = bpf_program__expected_attach_type(p);
            if (t == BPF_TRACE_FENTRY || t == BPF_TRACE_FEXIT)
                bpf_program__set_autoload(p, false);
        }
        auto set = [&](int slot, const char *point, int ret, int flags) {
            ip_slot_cfg &c = skel->rodata->slot_cfg[slot];
            c.point = unsigned(point_id(point));
            c.dev_arg = -1;
            c.size_arg = -1;
            c.ret_kind = (unsigned char)ret;
            c.flags = (unsigned char)flags;
        };
        set(0, "dma_map", IP_RET_DMA_ADDR, 0);
        set(1, "iommu_map", IP_RET_NEG, 0);
        set(2, "qi_submit_sync", IP_RET_NEG, 0);
        set(3, "fq_flush_timeout", IP_RET_NONE, IP_F_SET_FQ);
        set(4, "io_page_fault", IP_RET_NONE, IP_F_NO_TIMING | IP_F_FAULT);
        ASSERT_EQ(iommuprof_bpf__load(skel), 0) << "verifier rejected a program (IOMMUPROF_DEBUG=1 for the log)";
        ncpu = libbpf_num_possible_cpus();
    }
    void TearDown() override
    {
        if (skel)
            iommuprof_bpf__destroy(skel);
    }

    // sp names the simulated execution context: task stack by default.
    static constexpr uint64_t kTaskStack = 0xffffc90000a4c000ULL + 0x1f00;
    static constexpr uint64_t kIrqStack = 0xfffffe0000123000ULL + 0x3e00;
    uint64_t sp = kTaskStack;

    void run(uint64_t op, uint64_t slot, uint64_t a = 0, uint64_t b = 0)
    {
        uint64_t args[5] = {op, slot, a, b, sp};
        LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = args, .ctx_size_in = sizeof(args));
        ASSERT_EQ(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.ip_selftest), &o), 0);
    }
    void enter(int slot, uint64_t dev = 0, uint64_t bytes = 0) { run(0, slot, dev, bytes); }
    void exit_(int slot, uint64_t ret = 0) { run(1, slot, ret); }

    // Sum over CPUs of one (point, dev) cell; count 0 if absent.
    ip_hist hist(int point, uint64_t dev)
    {
        ip_hist_key k{unsigned(point), 0, dev};
        std::vector<ip_hist> v(ncpu);
        ip_hist sum{};
        if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.hists), &k, v.data()) == 0)
            for (auto &h : v) {
                sum.count += h.count;
                sum.sum_ns += h.sum_ns;
                sum.bytes += h.bytes;
                sum.errors += h.errors;
                for (int i = 0; i < IP_BUCKETS; i++)
                    sum.buckets[i] += h.buckets[i];
            }
        return sum;
    }
    uint64_t stat(uint32_t which)
    {
        std::vector<uint64_t> v(ncpu);
        uint64_t s = 0;
        if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.stats), &which, v.data()) == 0)
            for (auto x : v)
                s += x;
        return s;
    }
    uint64_t bucket_total(const ip_hist &h)
    {
        uint64_t n = 0;
        for (auto b : h.buckets)
            n += b;
        return n;
    }

    iommuprof_bpf *skel = nullptr;
    int ncpu = 1;
};

TEST_F(BpfLogic, NestedCallsAreTimedInclusivelyAndTotalCountsTheStackOnce)
{
    const uint64_t dev = IP_PSEUDO_VFIO_BASE | 4242;  // a pseudo device: no kernel pointer needed
    enter(0, dev, 4096);
    enter(1);  // iommu_map: no device argument, inherits the caller's
    enter(2);
    exit_(2, 0);
    exit_(1, 0);
    exit_(0, 0x1000);
    ip_hist m = hist(point_id("dma_map"), dev), im = hist(point_id("iommu_map"), dev),
            q = hist(point_id("qi_submit_sync"), dev), tot = hist(IP_POINT_TOPLEVEL, dev);
    EXPECT_EQ(m.count, 1u);
    EXPECT_EQ(m.bytes, 4096u);
    EXPECT_EQ(m.errors, 0u);
    EXPECT_EQ(im.count, 1u) << "nested call not attributed to the caller's device";
    EXPECT_EQ(q.count, 1u);
    EXPECT_EQ(hist(point_id("iommu_map"), IP_PSEUDO_NODEV).count, 0u);
    EXPECT_EQ(tot.count, 1u) << "outermost total must count the nested stack once";
    EXPECT_EQ(tot.sum_ns, m.sum_ns) << "with no interrupting context, total == outermost call";
    EXPECT_GE(m.sum_ns, im.sum_ns);
    EXPECT_GE(im.sum_ns, q.sum_ns);
    EXPECT_EQ(bucket_total(m), 1u);
    EXPECT_EQ(stat(IP_STAT_UNMATCHED_EXIT), 0u);
    EXPECT_EQ(stat(IP_STAT_DROPPED_FRAMES), 0u);
}

TEST_F(BpfLogic, InterruptMappingInsideATaskMapKeepsBothTimingsApart)
{
    // A task's dma_map is interrupted by NAPI refill on the IRQ stack that maps
    // for another device: the softirq's frames must not pop the task's.
    const uint64_t nic = IP_PSEUDO_VFIO_BASE | 1, disk = IP_PSEUDO_VFIO_BASE | 2;
    enter(0, disk, 4096);
    enter(1);
    sp = kIrqStack;
    enter(0, nic, 2048);
    enter(1);
    exit_(1, 0);
    exit_(0, 0x2000);
    sp = kTaskStack;
    exit_(1, 0);
    exit_(0, 0x1000);
    EXPECT_EQ(hist(point_id("dma_map"), disk).count, 1u);
    EXPECT_EQ(hist(point_id("dma_map"), nic).count, 1u);
    EXPECT_EQ(hist(point_id("iommu_map"), disk).count, 1u) << "task's nested map lost its device";
    EXPECT_EQ(hist(point_id("iommu_map"), nic).count, 1u) << "interrupt's nested map lost its device";
    EXPECT_EQ(hist(point_id("dma_map"), nic).bytes, 2048u);
    EXPECT_EQ(stat(IP_STAT_UNMATCHED_EXIT), 0u);
    EXPECT_EQ(stat(IP_STAT_DROPPED_FRAMES), 0u);
    // Both are outermost in their own context; the interrupt's time is
    // subtracted from the task's so the total never counts it twice.
    ip_hist td = hist(IP_POINT_TOPLEVEL, disk), tn = hist(IP_POINT_TOPLEVEL, nic);
    ip_hist md = hist(point_id("dma_map"), disk);
    EXPECT_EQ(td.count, 1u);
    EXPECT_EQ(tn.count, 1u);
    EXPECT_EQ(td.sum_ns + tn.sum_ns, md.sum_ns) << "total must equal the wall time of the outer call";
}

TEST_F(BpfLogic, FailedMapIsCountedAsErrorWithoutBytes)
{
    enter(0, 0, 8192);
    exit_(0, ~0ULL);  // DMA_MAPPING_ERROR
    ip_hist m = hist(point_id("dma_map"), IP_PSEUDO_NODEV);
    EXPECT_EQ(m.count, 1u);
    EXPECT_EQ(m.errors, 1u);
    EXPECT_EQ(m.bytes, 0u);
    enter(1);
    exit_(1, uint64_t(-12));  // -ENOMEM
    EXPECT_EQ(hist(point_id("iommu_map"), IP_PSEUDO_NODEV).errors, 1u);
}

TEST_F(BpfLogic, UnmatchedAndLostExitsAreCountedNotMisattributed)
{
    exit_(1, 0);  // attached mid-call: exit without entry
    EXPECT_EQ(stat(IP_STAT_UNMATCHED_EXIT), 1u);
    EXPECT_EQ(hist(point_id("iommu_map"), IP_PSEUDO_NODEV).count, 0u);
    enter(0);
    enter(1);   // its exit is never seen
    exit_(0, 0x1000);
    EXPECT_EQ(stat(IP_STAT_DROPPED_FRAMES), 1u);
    EXPECT_EQ(hist(point_id("dma_map"), IP_PSEUDO_NODEV).count, 1u);
    EXPECT_EQ(hist(point_id("iommu_map"), IP_PSEUDO_NODEV).count, 0u);
    EXPECT_EQ(hist(IP_POINT_TOPLEVEL, IP_PSEUDO_NODEV).count, 1u) << "stack must be empty again";
}

TEST_F(BpfLogic, FlushQueueTimerOwnsItsNestedFlushes)
{
    enter(3);
    enter(2);
    exit_(2, 0);
    exit_(3, 0);
    EXPECT_EQ(hist(point_id("qi_submit_sync"), IP_PSEUDO_FQ).count, 1u);
    EXPECT_EQ(hist(point_id("fq_flush_timeout"), IP_PSEUDO_FQ).count, 1u);
}

TEST_F(BpfLogic, DepthOverflowIsBoundedAndCounted)
{
    for (int i = 0; i < IP_MAX_DEPTH + 1; i++)
        enter(1);
    EXPECT_EQ(stat(IP_STAT_DEPTH_OVERFLOW), 1u);
    for (int i = 0; i < IP_MAX_DEPTH + 1; i++)
        exit_(1, 0);
    EXPECT_EQ(hist(point_id("iommu_map"), IP_PSEUDO_NODEV).count, uint64_t(IP_MAX_DEPTH));
    EXPECT_EQ(stat(IP_STAT_UNMATCHED_EXIT), 0u);
    EXPECT_EQ(hist(IP_POINT_TOPLEVEL, IP_PSEUDO_NODEV).count, 1u);
}

TEST_F(BpfLogic, EventsCountBytesWithoutLatency)
{
    run(2, 4, 0, 0);
    run(2, 4, 0, 0);
    ip_hist f = hist(point_id("io_page_fault"), IP_PSEUDO_NODEV);
    EXPECT_EQ(f.count, 2u);
    EXPECT_EQ(bucket_total(f), 0u);
    EXPECT_EQ(f.sum_ns, 0u);
}

TEST(HostSession, AttachesTracepointsForRealAndReadsMaps)
{
    if (geteuid() != 0)
        GTEST_SKIP() << "needs root";
    auto s = Session::open({});
    int attached = 0, tracepoints = 0;
    for (auto &a : s->plan()) {
        attached += a.attached;
        tracepoints += a.attached && a.method == Method::Tracepoint;
        if (a.method == Method::Unavailable)
            EXPECT_FALSE(a.reason.empty()) << a.point;
    }
    EXPECT_GT(attached, 0);
    if (!s->features().kprobes && !s->features().fentry) {
        EXPECT_EQ(attached, tracepoints) << "only tracepoints can attach on this kernel";
        EXPECT_GE(tracepoints, 4);  // iommu:map, iommu:unmap, io_page_fault, swiotlb_bounced (+ dma:* on 6.12+)
    }
    Snapshot snap = s->snapshot();
    EXPECT_GT(snap.duration_s, 0);
    EXPECT_GE(snap.ncpus, 1);
    EXPECT_NE(snap.point(kTotalPoint), nullptr);
}

}  // namespace
