// Plain data shared by every stage after the kernel: snapshot, analysis,
// renderers, profile files. Nothing here touches the kernel.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace iommuprof {

// log2 latency buckets in ns: bucket 0 = [0,2), bucket i = [2^i, 2^(i+1)),
// the last bucket is open-ended.
inline constexpr int kBuckets = 32;

struct Hist {
    uint64_t count = 0;
    uint64_t sum_ns = 0;
    uint64_t bytes = 0;
    uint64_t errors = 0;
    uint64_t max_ns = 0;
    // The probe effect: sum_ns, max_ns and the buckets are compensated for the
    // profiler's own probes (see Calibration); comp_ns is what was subtracted,
    // so the raw time is sum_ns + comp_ns; nested is the number of probed calls
    // that ran inside the timed calls.
    uint64_t comp_ns = 0;
    uint64_t nested = 0;
    // Calls during which another context (an interrupt that mapped or unmapped,
    // a preempting task) completed probed calls on the same CPU, and their time:
    // inclusive times count that context's unprobed work too.
    uint64_t intr_count = 0;
    uint64_t intr_sum_ns = 0;
    // Scatterlist entries passed to the calls (scatter-gather points): the
    // work dma-direct would still do per entry under iommu=pt.
    uint64_t entries = 0;
    // sum_ns with the interrupted calls replaced by the mean of the others (the
    // verdict's estimate); sum_ns when every call was interrupted.
    double clean_sum_ns() const;
    std::array<uint64_t, kBuckets> buckets{};
    uint64_t raw_sum_ns() const;  // saturating: never wraps

    // Saturating: a sum of counters stops at UINT64_MAX instead of wrapping.
    Hist &operator+=(const Hist &o);
    // Sum of the buckets (saturating): the number of timed calls.
    uint64_t bucket_total() const;
    // Counters since `earlier` (a snapshot of the same cumulative cell).
    // max_ns cannot be differenced: it is kept from *this (cumulative).
    Hist since(const Hist &earlier) const;
    bool timed() const;  // has latency samples
    double mean_ns() const;
    // Percentile (q in [0,1]) estimated from the buckets, interpolating
    // linearly inside the bucket and clamped to max_ns when known.
    double percentile_ns(double q) const;
    bool operator==(const Hist &o) const = default;
};

// Lower and upper bound (ns) of bucket i; the last bucket's upper bound is
// the largest uint64.
uint64_t bucket_lo(int i);
uint64_t bucket_hi(int i);

enum class Category {
    DmaApi,      // dma_map_*/dma_unmap_*: what drivers call; remains under pt
    DmaIommu,    // iommu_dma_* layer (dma-iommu.c): translated mode only
    IommuCore,   // iommu_map/iommu_unmap*: page-table updates
    Iova,        // IOVA allocator
    Flush,       // vendor IOTLB invalidation (Intel, AMD, virtio, SMMU)
    FlushQueue,  // deferred (lazy) flush queue
    Vfio,        // VFIO type1 map/unmap (guest-assigned devices)
    Fault,       // iommu:io_page_fault
    Bounce,      // swiotlb bounce buffering
    Total,       // outermost calls only: CPU time in the profiled paths
};
const char *to_string(Category c);
std::optional<Category> category_from_string(const std::string &s);
// True for categories whose cost disappears under iommu=pt.
bool translation_only(Category c);

enum class Method { Fentry, Kprobe, Tracepoint, Unavailable };
const char *to_string(Method m);
std::optional<Method> method_from_string(const std::string &s);

// One line of the attach plan: a logical point and what it was bound to.
struct Attachment {
    std::string point;      // logical point name, e.g. "iommu_map"
    Category category = Category::DmaApi;
    std::string symbol;     // kernel symbol or "group:event" tracepoint; empty if none
    Method method = Method::Unavailable;
    std::string reason;     // why this method (or why unavailable)
    bool attached = false;  // the attach actually succeeded
    bool operator==(const Attachment &o) const = default;
};

// What the running kernel offers the probes (user/loader/kernel_view.cpp finds out).
struct KernelFeatures {
    std::string release;
    bool btf = false;
    bool fentry = false;
    std::string fentry_why;  // when !fentry
    bool kprobes = false;
    std::string kprobes_why;  // when !kprobes
    bool raw_tp = false;
    bool tracefs = false;     // optional: used for available_filter_functions
    bool kprobe_multi = false;     // kprobes go through kprobe_multi links (many functions per link)
    std::string kprobe_multi_why;  // when kprobes && !kprobe_multi
    bool fentry_multi = false;     // fentry/fexit go through tracing multi links (one program for all)
    std::string fentry_multi_why;  // when fentry && !fentry_multi
    bool fsession = false;         // fentry/fexit as fsession programs (one per function for entry and exit)
    std::string fsession_why;      // when fentry && !fentry_multi && !fsession
    // BPF features this kernel lacks, each with the way the probes take instead ("no attach
    // cookies (5.15): a kprobe program per function"); empty on 5.17+.
    std::vector<std::string> missing;
};

// One histogram cell: (point, device, cpu).
struct Cell {
    std::string point;
    std::string device;  // dev_name() or a pseudo device like "[flush-queue]"
    int cpu = 0;
    Hist hist;
    bool operator==(const Cell &o) const = default;
};

struct PointInfo {
    std::string name;
    Category category = Category::DmaApi;
    bool timed = true;  // false: count-only (tracepoint) or unavailable
    bool operator==(const PointInfo &o) const = default;
};

// Kernel-side anomaly and overflow counters (bpf/iommuprof.h enum ip_stat).
struct Counters {
    uint64_t hist_full = 0;
    uint64_t devname_full = 0;
    uint64_t ctx_full = 0;
    uint64_t depth_overflow = 0;
    uint64_t unmatched_exit = 0;
    uint64_t dropped_frames = 0;
    uint64_t migrated = 0;
    // Runs of the profiler's programs the kernel skipped because the same program was
    // already running on that CPU (an interrupt entered a probed function while its probe
    // ran): those calls' entries or exits are missing (bpf_prog_info.recursion_misses of
    // the fentry/fexit and tracepoint programs; the kernel counts kprobe programs' skips
    // only from 6.7, so with kprobes this can read low).
    uint64_t recursion_misses = 0;
    // Softirq-in-task nesting: softirqs that completed probed calls (with those of any
    // hardirq before them on that CPU) while the task they interrupted was inside a probed
    // call, and those calls. Counted at every softirq end while function probes are attached.
    uint64_t softirq_nested = 0;
    uint64_t softirq_nested_calls = 0;
    // Task contexts kept in the fallback map because task storage could not be created
    // (Debian's 7.x kernels): not an anomaly, the calls are timed all the same.
    uint64_t task_ctx_fallback = 0;
    Counters since(const Counters &earlier) const;
    bool operator==(const Counters &o) const = default;
};

// The profiler's own per-call cost, measured on the running kernel before the
// probes attach (user/loader/session.cpp), or by an earlier start of the boot, and subtracted from every timed
// call in the kernel (bpf/iommuprof.bpf.c).
struct Calibration {
    std::string method;     // "fentry" or "kprobe"
    double inner_ns = 0;    // own probe cost inside a call's measured time
    double pair_ns = 0;     // whole cost of one probed call, seen from a call around it
    double outer_ns = 0;    // the driven outer function's time, probed alone (raw)
    int repeats = 0;        // measurement repeats (minimum taken)
    uint64_t calls = 0;     // calls per repeat
    std::string functions;  // "outer > inner": the functions the calibration drove
    bool reused = false;    // measured by an earlier start of this boot (kept in the cache directory)
    bool operator==(const Calibration &o) const = default;
};

// ---- Sampling: the probe-free witness (bpf/sampler.bpf.c) ----

// What a sampled kernel stack was doing, by the first rule that matches a frame:
// the profiler's own probes (BPF programs, trampolines, kprobe handlers), VFIO's
// map/unmap (stays translated under pt), translation-only work (the dma-iommu
// layer and everything below it: what iommu=pt removes), the DMA API (remains
// under pt), the idle task, anything else.
enum class SampleClass { Profiler, Vfio, Translation, DmaApi, Idle, Other };
const char *to_string(SampleClass c);


struct SampleCounts {
    uint64_t total = 0;  // every sample (busy, idle, user mode)
    uint64_t translation = 0;
    uint64_t dma_api = 0;
    uint64_t profiler = 0;
    uint64_t vfio = 0;
    uint64_t idle = 0;
    SampleCounts &operator+=(const SampleCounts &o);  // saturating
    bool operator==(const SampleCounts &o) const = default;
};

// Half-width of the 95 % interval of the share k/n (normal approximation; never
// narrower than one sample's worth, so 0 of n does not claim certainty).
double share_ci95(uint64_t k, uint64_t n);

// Saturating a - b: counters read at two moments never go negative.
inline uint64_t sat_sub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }
// Saturating a + b: sums of u64 counters (cells, buckets, CPUs) stop at
// UINT64_MAX instead of wrapping to a small number.
inline uint64_t sat_add(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }
// A fraction that is a share of something (CPU time, samples): finite and in
// [0, 1]; NaN and negative values become 0, anything above 1 becomes 1.
inline double clamp_share(double f) { return f > 0 ? (f < 1 ? f : 1.0) : 0.0; }

struct SampleStats {
    std::string event;   // "cycles" or "cpu-clock"
    double freq_hz = 0;  // samples per second per CPU asked for
    std::map<int, SampleCounts> cpus;
    uint64_t lost = 0;   // samples whose kernel stack was not recorded (maps full)
    // Stacks of the DMA paths and of the profiler's probes, folded ("root;...;leaf"),
    // the format flame graph tools read.
    std::map<std::string, uint64_t> folded;
    SampleCounts sum() const;
    SampleStats since(const SampleStats &earlier) const;
    // What a CPU's share is taken of: its samples, or the samples its time was worth
    // (freq_hz x duration) when it has fewer: on tickless hosts an idle CPU may take
    // no samples at all, and its time must still count.
    uint64_t cpu_denominator(int cpu, double duration_s) const;
    // The same over `ncpus` CPUs (CPUs without a sample count at freq_hz x duration).
    uint64_t denominator(double duration_s, int ncpus) const;
    bool operator==(const SampleStats &o) const = default;
};

// Packet counters of one network interface that sits on a device (a NIC, a
// virtio-net function, a VF), read with every snapshot from every network
// namespace (user/loader/netdev.cpp): over a snapshot's window, so the traffic
// the DMA calls served can be counted per device.
struct NetIface {
    std::string device;  // the DMA device: the PCI function under it, named as dev_name() names it
    std::string name;    // interface name in its namespace
    std::string netns;   // "" for the profiler's own namespace, the name under /run/netns, or "net:[INODE]"
    uint64_t rx_packets = 0;
    uint64_t tx_packets = 0;
    uint64_t rx_bytes = 0;
    uint64_t tx_bytes = 0;
    bool operator==(const NetIface &o) const = default;
};
// later - earlier per interface (matched by namespace and name); interfaces that were
// not there earlier are left out (their packets in the window are not known).
std::vector<NetIface> net_since(const std::vector<NetIface> &later, const std::vector<NetIface> &earlier);

// Name of the pseudo point holding outermost-call time.
inline constexpr const char *kTotalPoint = "total";

// Everything read out of the kernel at one moment (cumulative since attach),
// or the difference of two such moments.
struct Snapshot {
    double duration_s = 0;  // wall time covered
    int ncpus = 0;          // online CPUs during the profile
    std::vector<PointInfo> points;  // every point of the plan, in catalog order, plus "total"
    std::vector<Cell> cells;        // non-empty cells only
    Counters counters;
    // How the times were compensated for the probe effect; empty: they were
    // not (no function probes, calibration impossible, or an older profile).
    std::vector<Calibration> calibration;
    // Stack samples taken beside (or instead of) the probes; none when not sampled.
    std::optional<SampleStats> samples;
    // Packets over the window of every interface on a device; none when not read
    // (older profiles, or no network interface sits on a device).
    std::vector<NetIface> net;
    bool operator==(const Snapshot &o) const = default;

    // cells(later) - cells(earlier), duration = later - earlier.
    Snapshot since(const Snapshot &earlier) const;
    const PointInfo *point(const std::string &name) const;
};

}  // namespace iommuprof
