// Classifying sampled kernel stacks (the probe-free witness): pure, no kernel.
#include <algorithm>
#include <cmath>
#include <set>
#include <string_view>

#include "iommuprof/catalog.hpp"
#include "iommuprof/aggregate.hpp"

namespace iommuprof {

const char *to_string(SampleClass c)
{
    switch (c) {
    case SampleClass::Profiler: return "profiler";
    case SampleClass::Vfio: return "vfio";
    case SampleClass::Translation: return "translation";
    case SampleClass::DmaApi: return "dma-api";
    case SampleClass::Idle: return "idle";
    case SampleClass::Other: return "other";
    }
    return "?";
}

namespace {

struct Sets {
    std::set<std::string, std::less<>> translation, dma_api, vfio;
};

const Sets &sets()
{
    static const Sets s = [] {
        Sets r;
        for (auto &p : catalog())
            for (auto &g : p.groups)
                for (auto &sym : g) {
                    switch (p.category) {
                    case Category::DmaApi: r.dma_api.insert(sym.name); break;
                    case Category::Vfio: r.vfio.insert(sym.name); break;
                    case Category::DmaIommu:
                    case Category::IommuCore:
                    case Category::Iova:
                    case Category::Flush:
                    case Category::FlushQueue: r.translation.insert(sym.name); break;
                    default: break;
                    }
                }
        // The dma-iommu layer's internals and entry points the catalog does not
        // probe, and the two-step IOVA API (6.17+: under pt it is not used).
        for (const char *n :
             {"iommu_dma_map_page", "iommu_dma_unmap_page", "iommu_dma_map_phys", "iommu_dma_unmap_phys",
              "iommu_dma_map_sg", "iommu_dma_unmap_sg", "iommu_dma_map_resource", "iommu_dma_unmap_resource",
              "__iommu_dma_map", "__iommu_dma_unmap", "iommu_dma_alloc_iova", "iommu_dma_free_iova",
              "iommu_dma_sync_single_for_cpu", "iommu_dma_sync_single_for_device", "iommu_dma_sync_sg_for_cpu",
              "iommu_dma_sync_sg_for_device", "iommu_dma_alloc", "iommu_dma_free", "dma_iova_try_alloc",
              "dma_iova_link", "dma_iova_sync", "dma_iova_unlink", "dma_iova_destroy", "dma_iova_free",
              "iommu_map", "__iommu_map", "iommu_map_nosync", "iommu_unmap_fast", "__iommu_unmap",
              "iommu_iotlb_sync", "iommu_iotlb_sync_map", "alloc_iova_fast", "free_iova_fast", "queue_iova",
              "fq_flush_timeout", "fq_flush_iotlb", "iommu_dma_flush_iotlb_all"})
            r.translation.insert(n);
        for (const char *n : {"dma_map_page_attrs", "dma_unmap_page_attrs", "dma_map_sg_attrs", "dma_unmap_sg_attrs",
                              "__dma_map_sg_attrs", "dma_map_sgtable", "dma_map_phys", "dma_unmap_phys",
                              "dma_map_resource", "dma_unmap_resource", "dma_sync_single_for_cpu",
                              "dma_sync_single_for_device", "__dma_sync_single_for_cpu",
                              "__dma_sync_single_for_device", "dma_sync_sg_for_cpu", "dma_sync_sg_for_device"})
            r.dma_api.insert(n);
        for (const char *n : {"vfio_iommu_type1_ioctl", "vfio_dma_do_map", "vfio_dma_do_unmap", "vfio_pin_map_dma",
                              "vfio_unmap_unpin", "vfio_remove_dma", "vfio_iommu_map"})
            r.vfio.insert(n);
        return r;
    }();
    return s;
}

template <size_t N>
bool starts_with_any(std::string_view f, const std::string_view (&prefixes)[N])
{
    for (auto p : prefixes)
        if (f.substr(0, p.size()) == p)
            return true;
    return false;
}

bool is_profiler(std::string_view f)
{
    static constexpr std::string_view prefixes[] = {
        "bpf_prog_",     "bpf_trampoline_",  "__bpf_prog_enter", "__bpf_prog_exit", "bpf_get_stack",
        "kprobe_ftrace_handler", "kprobe_int3_handler", "pre_handler_kretprobe", "kretprobe_",
        "__kretprobe_trampoline", "arch_rethook_", "rethook_", "trampoline_handler", "bpf_get_func_arg",
        "bpf_ktime_get_ns", "bpf_task_storage_get", "__bpf_trace_run", "bpf_trace_run"};
    return starts_with_any(f, prefixes);
}

// Where an interrupt (or softirq, or exception) entered: frames beyond it, toward the
// root, belong to the context it interrupted, whose work it is not.
bool is_entry(std::string_view f)
{
    static constexpr std::string_view prefixes[] = {"asm_", "irq_exit", "__irq_exit", "handle_softirqs", "__do_softirq",
                                                    "do_softirq", "run_ksoftirqd", "sysvec_", "common_interrupt",
                                                    "__sysvec_", "do_nmi", "exc_nmi"};
    return starts_with_any(f, prefixes);
}

}  // namespace

SampleClass classify_stack(const std::vector<std::string> &frames, bool idle_task)
{
    const Sets &s = sets();
    bool prof = false, vfio = false, trans = false, dma = false, first = true;
    for (auto &full : frames) {
        std::string_view f = full;
        f = f.substr(0, f.find('.'));  // clones: name.constprop.0
        if (is_entry(f))
            break;  // an interrupt's own work ends here
        bool t = s.translation.count(f) > 0, d = s.dma_api.count(f) > 0, p = is_profiler(f);
        // The profiler's own code only when it is the innermost known frame: a
        // traced function's caller is the BPF trampoline, which must not turn the
        // function's own samples into the profiler's.
        if (first && p)
            prof = true;
        if (t || d || p)
            first = false;
        vfio |= s.vfio.count(f) > 0;
        trans |= t;
        dma |= d;
    }
    if (prof)
        return SampleClass::Profiler;
    if (vfio)
        return SampleClass::Vfio;
    if (trans)
        return SampleClass::Translation;
    if (dma)
        return SampleClass::DmaApi;
    return idle_task ? SampleClass::Idle : SampleClass::Other;
}

}  // namespace iommuprof
