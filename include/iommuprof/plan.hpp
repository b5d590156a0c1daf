// Attach plan: for each catalog point, which symbol and which method
// (fentry/fexit > kprobe/kretprobe > tracepoint > unavailable), and why.
// Pure: decided from a KernelView, which tests build from captured kallsyms.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "iommuprof/catalog.hpp"
#include "iommuprof/model.hpp"

namespace iommuprof {

// What BTF says about one function (positions of the parameters we read).
struct BtfFunc {
    int nargs = 0;
    int dev_arg = -1;   // parameter of type struct device *
    int size_arg = -1;  // integer parameter named "size" (or mapping_size, mapped_len: dma_iova_destroy)
    int nents_arg = -1; // parameter named "nents" (5.10 VT-d: "nelems") of integer type (scatterlists)
    int btf_id = 0;     // its id in vmlinux's BTF (0: a module's), for tracing multi links
};

// What BTF says about a raw tracepoint's TP_PROTO (btf_trace_<event>).
struct BtfTracepoint {
    int nargs = 0;                    // without the leading void *__data
    std::vector<bool> is_device_ptr;  // per argument
    std::vector<bool> is_integer;
};

struct KernelView {
    std::string release;
    std::string arch = "x86_64";
    // Text symbols (kallsyms t/T), clones included: "domain_flush_pages.constprop.0".
    std::set<std::string> symbols;
    std::map<std::string, std::string> symbol_module;  // symbol -> module, for module symbols
    // available_filter_functions (ftrace-able = fentry-able), when readable.
    std::optional<std::set<std::string>> ftrace_funcs;
    bool have_btf = false;
    std::map<std::string, BtfFunc> btf_funcs;             // looked up for catalog names
    std::map<std::string, BtfTracepoint> btf_tracepoints;  // by event name
    std::set<std::string> tracepoints;                     // "group:event" from tracefs, if mounted
    // Kernel capabilities (loader/features.cpp).
    bool kprobes = false;
    std::string kprobes_why;  // when false
    // kprobe_multi links (5.18+, CONFIG_FPROBE): many functions in one link, one program for
    // all; probed by loading and attaching one (IOMMUPROF_NO_KPROBE_MULTI=1: not used)
    bool kprobe_multi = false;
    std::string kprobe_multi_why;  // when false
    bool fentry = false;
    std::string fentry_why;   // when false
    // Tracing multi links (BPF_TRACE_FENTRY_MULTI / _FEXIT_MULTI, in the kernel's BTF enum
    // bpf_attach_type; seen in Debian's 7.x): one fentry and one fexit program for every
    // function; probed by loading and attaching one (IOMMUPROF_NO_FENTRY_MULTI=1: not used).
    bool fentry_multi = false;
    std::string fentry_multi_why;  // when false
    int fentry_multi_type = 0, fexit_multi_type = 0;  // their attach type values
    // fsession programs (BPF_TRACE_FSESSION, 7.0+): one program runs at a call's entry and at
    // its exit, through one trampoline attach (half the programs of an fentry/fexit pair).
    // fsession_type: its attach type value, when the kernel's BTF has it and the kfunc
    // bpf_session_is_return (0: neither); fsession: an fsession program attached here
    // (IOMMUPROF_NO_FSESSION=1: not used).
    int fsession_type = 0;
    bool fsession = false;
    std::string fsession_why;  // when false
    int fentry_max_args = 6;  // x86-64 trampolines: 6 before 6.6, 12 from 6.6
    bool raw_tp = true;
    std::string raw_tp_why;
    // BPF features of newer kernels the programs use where they exist (older kernels: another
    // way, KernelFeatures::missing says which and what it costs).
    bool task_storage = true;   // task local storage for tracing programs (5.11)
    bool task_btf = true;       // bpf_get_current_task_btf (5.11)
    bool attach_cookie = true;  // BPF attach cookies (5.15)
    bool func_arg = true;       // bpf_get_func_arg / bpf_get_func_ret (5.17)
    bool global_ptr_args = true;  // global BPF functions take pointer arguments (5.12)
    bool tracefs = false;
    bool from_cache = false;  // kallsyms, ftrace functions and tracepoints from the cache of this boot
};

// Symbol lookup with compiler clones (.isra.N, .constprop.N, .part.N).
struct Resolved {
    std::string symbol;  // real name to attach to
    bool clone = false;  // a clone: argument registers are not trusted
    std::vector<std::string> other_clones;
};
std::optional<Resolved> resolve_symbol(const KernelView &k, const std::string &name);

struct PlanOptions {
    bool force_kprobe = false;
    bool no_tracepoints = false;
    std::vector<std::string> only_points;
    // Also planned when no dma-iommu point of only_points can be timed (the
    // DMA API then stands in for the verdict), with a note saying so.
    std::vector<std::string> fallback_points;
};

// One attachment to make: a function (fentry or kprobe) or a tracepoint.
struct PlanEntry {
    Attachment att;           // point, symbol, method, reason (attached=false until done)
    int point_id = 0;         // index of the point in catalog()
    int dev_arg = -1;
    int size_arg = -1;
    int ret_kind = 0;
    int flags = 0;
    std::string tp_event;     // raw tracepoint name when method == Tracepoint
    bool kprobe_fallback = false;  // fentry planned; kprobe usable if fentry attach fails
};

struct Plan {
    std::vector<PlanEntry> entries;  // catalog order; unavailable points have one entry
    std::vector<PointInfo> points;   // every planned point + "total"
};

Plan make_plan(const KernelView &k, const PlanOptions &o = {});

}  // namespace iommuprof
