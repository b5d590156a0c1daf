// The probe catalog. Signatures are from the kernel sources of 6.1, 6.12 and
// 6.16+; where the running kernel has BTF for a function its own parameter
// names win (see plan.cpp).
#include "iommuprof/catalog.hpp"

#include "iommuprof.h"  // bpf/: enum ip_ret_kind, ip_slot_flags

namespace iommuprof {

namespace {

constexpr int NONE = IP_RET_NONE, NEG = IP_RET_NEG, ZERO = IP_RET_ZERO, DMA = IP_RET_DMA_ADDR,
              BYTES = IP_RET_BYTES;

SymbolSpec fn(const char *name, int dev = -1, int size = -1, int ret = NONE)
{
    return SymbolSpec{name, dev, size, ret};
}
// A scatter-gather function: `nents` (argument `entries`) is counted as entries.
SymbolSpec fn_sg(const char *name, int dev, int entries, int ret = NONE)
{
    return SymbolSpec{name, dev, entries, ret, true};
}
TracepointSpec tp(const char *group, const char *event, int dev = -1, int size = -1)
{
    return TracepointSpec{group, event, dev, size};
}

std::vector<ProbeSpec> build()
{
    using C = Category;
    std::vector<ProbeSpec> v;
    auto add = [&](ProbeSpec p) { v.push_back(std::move(p)); };

    // ---- DMA API: what drivers call; still runs under iommu=pt (dma-direct) ----
    add({"dma_map", C::DmaApi, "", "", "map one page/phys range for DMA",
         {{fn("dma_map_phys", 0, 2, DMA), fn("dma_map_page_attrs", 0, 3, DMA)}},
         {tp("dma", "dma_map_phys", 0, 3), tp("dma", "dma_map_page", 0, 3)}});
    add({"dma_unmap", C::DmaApi, "", "", "unmap one page/phys range",
         {{fn("dma_unmap_phys", 0, 2), fn("dma_unmap_page_attrs", 0, 2)}},
         {tp("dma", "dma_unmap_phys", 0, 2), tp("dma", "dma_unmap_page", 0, 2)}});
    add({"dma_map_sg", C::DmaApi, "", "", "map a scatterlist",
         {{fn_sg("__dma_map_sg_attrs", 0, 2, NEG), fn_sg("dma_map_sg_attrs", 0, 2, ZERO)}},
         {tp("dma", "dma_map_sg", 0)}});
    add({"dma_unmap_sg", C::DmaApi, "", "", "unmap a scatterlist",
         {{fn_sg("dma_unmap_sg_attrs", 0, 2)}},
         {tp("dma", "dma_unmap_sg", 0)}});

    // ---- dma-iommu layer: translated mode only ----
    // Before 5.11 VT-d had DMA ops of its own (intel_map_page ...: the same role, for Intel's
    // devices, while AMD-Vi's went through dma-iommu): a second group, never nested in the first.
    add({"iommu_dma_map", C::DmaIommu, "", "", "dma-iommu: allocate IOVA + map",
         {{fn("iommu_dma_map_phys", 0, 2, DMA), fn("iommu_dma_map_page", 0, 3, DMA)},
          {fn("intel_map_page", 0, 3, DMA)}}, {}});
    add({"iommu_dma_unmap", C::DmaIommu, "", "", "dma-iommu: unmap + free IOVA",
         {{fn("iommu_dma_unmap_phys", 0, 2), fn("iommu_dma_unmap_page", 0, 2)}, {fn("intel_unmap_page", 0, 2)}},
         {}});
    add({"iommu_dma_map_sg", C::DmaIommu, "", "", "dma-iommu: map a scatterlist",
         {{fn_sg("iommu_dma_map_sg", 0, 2, NEG)}, {fn_sg("intel_map_sg", 0, 2, ZERO)}}, {}});
    add({"iommu_dma_unmap_sg", C::DmaIommu, "", "", "dma-iommu: unmap a scatterlist",
         {{fn_sg("iommu_dma_unmap_sg", 0, 2)}, {fn_sg("intel_unmap_sg", 0, 2)}}, {}});
    // The two-step IOVA API (6.16+; the block layer maps multi-page requests with it from 6.17):
    // one IOVA range per request, pages linked into it, one sync. It maps through the IOMMU only:
    // under pt dma_iova_try_alloc fails at once and the caller maps each segment with
    // dma_map_phys, so all of it is dma-iommu work. Each is called by the driver (the device is
    // their first argument) and none calls another, except dma_iova_destroy, which frees.
    add({"dma_iova_alloc", C::DmaIommu, "", "", "two-step IOVA API: allocate the IOVA range (6.16+)",
         {{fn("dma_iova_try_alloc", 0, 3)}}, {}});
    add({"dma_iova_link", C::DmaIommu, "", "", "two-step IOVA API: map pages into the range (6.16+)",
         {{fn("dma_iova_link", 0, 4, NEG)}}, {}});
    add({"dma_iova_sync", C::DmaIommu, "", "", "two-step IOVA API: IOTLB sync after linking (6.16+)",
         {{fn("dma_iova_sync", 0, 3, NEG)}}, {}});
    add({"dma_iova_unlink", C::DmaIommu, "", "", "two-step IOVA API: unmap pages (6.16+)",
         {{fn("dma_iova_unlink", 0, 3)}}, {}});
    add({"dma_iova_destroy", C::DmaIommu, "", "", "two-step IOVA API: unmap and free the range (6.16+)",
         {{fn("dma_iova_destroy", 0, 2)}}, {}});
    add({"dma_iova_free", C::DmaIommu, "", "", "two-step IOVA API: free an unmapped range (6.16+)",
         {{fn("dma_iova_free", 0)}}, {}});

    // ---- IOMMU core: page-table updates ----
    add({"iommu_map", C::IommuCore, "", "", "IOMMU page-table map",
         {{fn("iommu_map_nosync", -1, 3, NEG), fn("iommu_map", -1, 3, NEG)},
          {fn("iommu_map_atomic", -1, 3, NEG)}},
         {tp("iommu", "map", -1, 2)}});
    add({"iommu_map_sg", C::IommuCore, "", "", "IOMMU page-table map of a scatterlist",
         {{fn("iommu_map_sg", -1, -1, BYTES)}, {fn("iommu_map_sg_atomic", -1, -1, BYTES)}}, {}});
    add({"iommu_unmap_fast", C::IommuCore, "", "",
         "IOMMU unmap with deferred sync (the DMA-API path)",
         {{fn("iommu_unmap_fast", -1, 2, ZERO)}},
         // iommu:unmap fires in __iommu_unmap, i.e. for every unmap.
         {tp("iommu", "unmap", -1, 2)}});
    add({"iommu_unmap", C::IommuCore, "", "", "IOMMU unmap + sync (VFIO / explicit domains)",
         {{fn("iommu_unmap", -1, 2, ZERO)}}, {}});
    // Page-table updates: the vendor's own code up to 6.18 (before 5.15: VT-d's __domain_mapping,
    // which its own DMA ops of 5.10 call directly, and AMD-Vi's amd_iommu_map, a page at a time);
    // from 6.19 the generic IOMMU page table (iommupt), one set of functions per format (7.0/7.1
    // call *_map_range directly from iommu_map_nosync, 6.19 through pt_iommu_*_map_pages). Every
    // format is built in, so each is its own point rather than an alternative of another.
    add({"intel_iommu_map_pages", C::IommuCore, "intel", "", "VT-d page-table update (second stage)",
         {{fn("vtdss_map_range", -1, -1, NEG), fn("pt_iommu_vtdss_map_pages", -1, -1, NEG),
           fn("intel_iommu_map_pages", -1, -1, NEG), fn("__domain_mapping", -1, -1, NEG)}},
         {}});
    add({"amd_iommu_map_pages", C::IommuCore, "amd", "", "AMD-Vi page-table update (v1)",
         {{fn("amdv1_map_range", -1, -1, NEG), fn("pt_iommu_amdv1_map_pages", -1, -1, NEG),
           fn("amd_iommu_map_pages", -1, -1, NEG), fn("amd_iommu_map", -1, -1, NEG)}},
         {}});
    add({"x86_64_map_range", C::IommuCore, "", "",
         "generic page table, x86-64 format: VT-d first stage, AMD-Vi v2 (6.19+)",
         {{fn("x86_64_map_range", -1, -1, NEG), fn("pt_iommu_x86_64_map_pages", -1, -1, NEG)}}, {}});
    add({"viommu_map_pages", C::IommuCore, "virtio", "virtio_iommu", "virtio-iommu MAP request",
         {{fn("viommu_map_pages", -1, -1, NEG)}}, {}});
    // ... and their unmap side (size_t: the bytes unmapped; 5.10 VT-d's domain_unmap returns the
    // page-table pages to free). pt_iommu_*_unmap_pages mirrors 6.19's map side, not seen in a guest.
    add({"intel_iommu_unmap_pages", C::IommuCore, "intel", "", "VT-d page-table clear (second stage)",
         {{fn("vtdss_unmap_range", -1, -1, BYTES), fn("pt_iommu_vtdss_unmap_pages", -1, -1, BYTES),
           fn("intel_iommu_unmap_pages", -1, -1, BYTES), fn("domain_unmap")}},
         {}});
    add({"amd_iommu_unmap_pages", C::IommuCore, "amd", "", "AMD-Vi page-table clear (v1)",
         {{fn("amdv1_unmap_range", -1, -1, BYTES), fn("pt_iommu_amdv1_unmap_pages", -1, -1, BYTES),
           fn("amd_iommu_unmap_pages", -1, -1, BYTES), fn("amd_iommu_unmap", -1, -1, BYTES)}},
         {}});
    add({"x86_64_unmap_range", C::IommuCore, "", "",
         "generic page table, x86-64 format: clear (6.19+)",
         {{fn("x86_64_unmap_range", -1, -1, BYTES), fn("pt_iommu_x86_64_unmap_pages", -1, -1, BYTES)}}, {}});
    add({"viommu_unmap_pages", C::IommuCore, "virtio", "virtio_iommu", "virtio-iommu UNMAP request",
         {{fn("viommu_unmap_pages", -1, -1, BYTES)}}, {}});

    // ---- IOVA allocator ----
    add({"iova_alloc", C::Iova, "", "", "IOVA allocation (per-CPU rcache, then rbtree)",
         {{fn("alloc_iova_fast", -1, -1, ZERO)}}, {}});
    add({"iova_free", C::Iova, "", "", "IOVA free", {{fn("free_iova_fast")}}, {}});

    // ---- IOTLB invalidation: Intel VT-d ----
    add({"cache_tag_flush_range", C::Flush, "intel", "", "VT-d range invalidation (6.10+)",
         {{fn("cache_tag_flush_range")}}, {}});
    add({"cache_tag_flush_range_np", C::Flush, "intel", "",
         "VT-d invalidation after map, caching mode (6.10+)", {{fn("cache_tag_flush_range_np")}}, {}});
    add({"cache_tag_flush_all", C::Flush, "intel", "", "VT-d domain-wide invalidation (6.10+)",
         {{fn("cache_tag_flush_all")}}, {}});
    add({"iommu_flush_iotlb_psi", C::Flush, "intel", "", "VT-d page-selective invalidation (<6.10)",
         {{fn("iommu_flush_iotlb_psi")}}, {}});
    add({"intel_flush_iotlb_all", C::Flush, "intel", "", "VT-d flush all", {{fn("intel_flush_iotlb_all")}}, {}});
    add({"qi_flush_iotlb", C::Flush, "intel", "", "VT-d queued IOTLB invalidation descriptor",
         {{fn("qi_flush_iotlb")}}, {}});
    add({"qi_submit_sync", C::Flush, "intel", "", "VT-d invalidation queue submit + wait (hardware)",
         {{fn("qi_submit_sync", -1, -1, NEG)}}, {}});

    // ---- IOTLB invalidation: AMD-Vi ----
    add({"amd_iommu_domain_flush_pages", C::Flush, "amd", "", "AMD-Vi range invalidation",
         {{fn("amd_iommu_domain_flush_pages")}}, {}});
    add({"domain_flush_pages", C::Flush, "amd", "", "AMD-Vi range invalidation (6.1: clone)",
         {{fn("__domain_flush_pages"), fn("domain_flush_pages")}}, {}});
    add({"amd_iommu_flush_iotlb_all", C::Flush, "amd", "", "AMD-Vi flush all",
         {{fn("amd_iommu_flush_iotlb_all")}}, {}});
    add({"amd_iommu_iotlb_sync", C::Flush, "amd", "", "AMD-Vi IOTLB sync", {{fn("amd_iommu_iotlb_sync")}}, {}});
    add({"iommu_completion_wait", C::Flush, "amd", "", "AMD-Vi COMPLETION_WAIT (hardware)",
         {{fn("iommu_completion_wait", -1, -1, NEG)}}, {}});
    add({"iommu_queue_command_sync", C::Flush, "amd", "", "AMD-Vi command submit",
         {{fn("__iommu_queue_command_sync", -1, -1, NEG)}}, {}});

    // ---- IOTLB invalidation: virtio-iommu ----
    add({"viommu_sync_req", C::Flush, "virtio", "virtio_iommu", "virtio-iommu request round trip",
         {{fn("viommu_sync_req", -1, -1, NEG)}}, {}});
    add({"viommu_iotlb_sync", C::Flush, "virtio", "virtio_iommu", "virtio-iommu IOTLB sync",
         {{fn("viommu_iotlb_sync")}}, {}});
    add({"viommu_flush_iotlb_all", C::Flush, "virtio", "virtio_iommu", "virtio-iommu flush all",
         {{fn("viommu_flush_iotlb_all")}}, {}});

    // ---- IOTLB invalidation: Arm SMMUv3 (listed for arm64 hosts) ----
    add({"arm_smmu_tlb_inv_range", C::Flush, "arm-smmu-v3", "", "SMMUv3 range invalidation",
         {{fn("arm_smmu_tlb_inv_range_domain"), fn("arm_smmu_tlb_inv_range_iova")}}, {}, 0, "arm64"});
    add({"arm_smmu_cmdq_issue", C::Flush, "arm-smmu-v3", "", "SMMUv3 command queue submit",
         {{fn("arm_smmu_cmdq_issue_cmdlist", -1, -1, NEG)}}, {}, 0, "arm64"});
    add({"arm_smmu_atc_inv", C::Flush, "arm-smmu-v3", "", "SMMUv3 ATS invalidation",
         {{fn("arm_smmu_atc_inv_domain", -1, -1, NEG)}}, {}, 0, "arm64"});

    // ---- deferred flush queue (lazy mode) ----
    add({"fq_flush_timeout", C::FlushQueue, "", "", "flush-queue timer: batched invalidation",
         {{fn("fq_flush_timeout")}}, {}, IP_F_SET_FQ});
    add({"fq_flush_iotlb", C::FlushQueue, "", "", "flush-queue IOTLB flush", {{fn("fq_flush_iotlb")}}, {}});

    // ---- VFIO: guest-assigned devices, translated even under iommu=pt ----
    add({"vfio_dma_map", C::Vfio, "", "vfio_iommu_type1", "VFIO_IOMMU_MAP_DMA (pin + map)",
         {{fn("vfio_dma_do_map", -1, -1, NEG)}}, {}, IP_F_SET_VFIO});
    add({"vfio_dma_unmap", C::Vfio, "", "vfio_iommu_type1", "VFIO_IOMMU_UNMAP_DMA",
         {{fn("vfio_dma_do_unmap", -1, -1, NEG)}}, {}, IP_F_SET_VFIO});

    // ---- events ----
    add({"swiotlb_map", C::Bounce, "", "", "swiotlb bounce-buffer slot map",
         {{fn("swiotlb_tbl_map_single", 0, 2, DMA)}}, {}});
    add({"swiotlb_bounced", C::Bounce, "", "", "DMA bounced through swiotlb",
         {}, {tp("swiotlb", "swiotlb_bounced", 0, 2)}, IP_F_NO_TIMING});
    add({"io_page_fault", C::Fault, "", "", "IOMMU fault reported by the driver",
         {}, {tp("iommu", "io_page_fault", 0, -1)}, IP_F_NO_TIMING | IP_F_FAULT});
    return v;
}

}  // namespace

const std::vector<ProbeSpec> &catalog()
{
    static const std::vector<ProbeSpec> c = build();
    return c;
}

const ProbeSpec *find_probe(const std::string &name)
{
    for (auto &p : catalog())
        if (p.name == name)
            return &p;
    return nullptr;
}

std::vector<std::string> verdict_points()
{
    std::vector<std::string> v;
    for (auto &p : catalog())
        if (p.category == Category::DmaIommu || p.category == Category::Vfio || p.category == Category::Fault ||
            p.name == "fq_flush_timeout" || p.name == "swiotlb_bounced")
            v.push_back(p.name);
    return v;
}

std::vector<std::string> dma_api_points()
{
    std::vector<std::string> v;
    for (auto &p : catalog())
        if (p.category == Category::DmaApi)
            v.push_back(p.name);
    return v;
}

int point_index(const std::string &name)
{
    const ProbeSpec *p = find_probe(name);
    return p ? int(p - catalog().data()) : -1;
}

}  // namespace iommuprof
