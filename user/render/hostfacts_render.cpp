// `iommuprof inspect` text output.
#include <fmt/core.h>

#include "iommuprof/hostfacts.hpp"
#include "iommuprof/render.hpp"
#include "iommuprof/units.hpp"
#include "iommuprof/strings.hpp"

namespace iommuprof {

namespace {

std::string vendor_name(const std::string &v)
{
    if (v == "intel")
        return "Intel VT-d";
    if (v == "amd")
        return "AMD-Vi";
    if (v == "arm")
        return "Arm SMMU";
    if (v == "virtio")
        return "virtio-iommu";
    if (v == "mixed")
        return "several kinds";
    return v.empty() ? "none" : v;
}

std::string mib(uint64_t b) { return units::bytes(double(b)); }

void line(std::string &out, const char *label, const std::string &value)
{
    // Values come from sysfs, the command line and the kernel log: one line each.
    out += fmt::format("{:<22}{}\n", label, esc(value));
}

}  // namespace

std::vector<std::pair<std::string, std::string>> hostfacts_rows(const HostFacts &h)
{
    std::vector<std::pair<std::string, std::string>> rows;
    auto row = [&](const char *label, const std::string &value) { rows.emplace_back(label, value); };
    if (h.root != "/")
        row("Root", h.root);
    row("Kernel", h.kernel.release.empty() ? "unknown" : h.kernel.release);
    row("Command line", h.kernel.cmdline.empty() ? "(unknown)" : h.kernel.cmdline);
    std::vector<std::string> params;
    for (auto &p : h.kernel.iommu_params)
        params.push_back(p.written());
    row("  IOMMU parameters", params.empty() ? "none" : join(params, " "));
    for (auto &c : h.kernel.conflicts)
        row("  conflict", c);
    for (auto &n : h.kernel.notes)
        row("  note", n);

    // IOMMU summary.
    std::vector<std::string> units;
    for (auto &u : h.iommu.units)
        units.push_back(u.name);
    if (h.iommu.active)
        row("IOMMU", fmt::format("active: {}{}", vendor_name(h.iommu.vendor),
                                       units.empty() ? "" : " (" + join(units) + ")"));
    else
        row("IOMMU", units.empty() ? "none active" : "registered (" + join(units) + ") but not in use");
    std::string dd = h.iommu.default_domain;
    if (dd == "translated")
        dd += h.iommu.dma_policy == "strict" ? ", strict invalidation (DMA)"
              : h.iommu.dma_policy == "lazy" ? ", lazy invalidation (DMA-FQ)"
                                             : "";
    else if (dd == "passthrough")
        dd += " (identity)";
    else if (dd == "none")
        dd += h.iommu.active ? "" : " (DMA is not translated)";
    row("Default domain", dd);
    if (!h.groups.empty()) {
        std::vector<std::string> types;
        for (auto &[t, n] : h.iommu.group_types)
            types.push_back(fmt::format("{} {}", t, n));
        row("Groups", fmt::format("{}: {}", h.groups.size(), join(types)));
    }
    if (!h.iommu.log_default_domain.empty() || !h.iommu.log_policy.empty())
        row("  kernel log says",
             fmt::format("default {}{}{}", h.iommu.log_default_domain.empty() ? "?" : h.iommu.log_default_domain,
                         h.iommu.log_policy.empty() ? "" : ", " + h.iommu.log_policy,
                         h.iommu.active ? "" : " (the kernel's default policy; it applies only behind an IOMMU)"));
    for (auto &n : h.iommu.notes)
        row("  note", n);

    // Other facts.
    std::string ir = !h.irq_remapping.enabled ? "unknown"
                     : *h.irq_remapping.enabled ? "enabled"
                                                : "not enabled";
    if (!h.irq_remapping.source.empty())
        ir += " (" + h.irq_remapping.source + ": " + h.irq_remapping.evidence + ")";
    row("Interrupt remapping", ir);

    const auto &sw = h.swiotlb;
    std::string st = !sw.present ? "unknown" : *sw.present ? "present" : "not present";
    if (sw.present == true && sw.size_bytes)
        st += ", " + mib(*sw.size_bytes);
    if (sw.used_slabs && sw.total_slabs)
        st += fmt::format(", {} of {} slabs in use", *sw.used_slabs, *sw.total_slabs);
    if (sw.hiwater_slabs)
        st += fmt::format(" (high water {})", *sw.hiwater_slabs);
    if (!sw.source.empty())
        st += " [" + sw.source + (sw.evidence.empty() ? "" : ": " + sw.evidence) + "]";
    row("swiotlb", st);

    if (h.hugepages.read)
        row("Hugepages", fmt::format("{} x {} ({} free); transparent huge pages in use: {}",
                                           h.hugepages.total, units::bytes(double(h.hugepages.size_kb) * 1024),
                                           h.hugepages.free, units::bytes(double(h.hugepages.anon_kb) * 1024)));
    else
        row("Hugepages", "unknown");

    std::vector<std::string> vfio;
    for (auto &d : h.vfio_devices) {
        const IommuGroup *g = h.group_of(d);
        vfio.push_back(g ? fmt::format("{} (group {}{})", d, g->id, g->vfio_shared ? ", shared with host-owned devices" : "")
                         : d);
    }
    row("VFIO devices", vfio.empty() ? "none" : join(vfio));
    std::string ext = h.external_devices.empty() ? "none" : join(h.external_devices);
    if (!h.thunderbolt.domains.empty())
        ext += fmt::format("; Thunderbolt {}: IOMMU DMA protection {}", join(h.thunderbolt.domains),
                           !h.thunderbolt.iommu_dma_protection       ? "unknown"
                           : *h.thunderbolt.iommu_dma_protection ? "on"
                                                                     : "off");
    row("External-facing", ext);

    if (h.log.source.empty()) {
        row("IOMMU faults", "unknown (kernel log not read)");
    } else if (h.fault_count == 0) {
        row("IOMMU faults", "none in the kernel log");
    } else {
        auto devs = h.fault_devices();
        row("IOMMU faults", fmt::format("{} in the kernel log; devices: {}", h.fault_count,
                                              devs.empty() ? "unknown" : join(devs)));
        for (size_t i = 0; i < h.faults.size() && i < 3; i++)
            row("", h.faults[i].line);
    }
    row("Kernel log", h.log.source.empty() ? "not read (use --dmesg FILE)"
                                                 : fmt::format("{} ({} lines)", h.log.source, h.log.lines));

    return rows;
}

std::string render_hostfacts_text(const HostFacts &h)
{
    std::string out;
    for (auto &[label, value] : hostfacts_rows(h))
        line(out, label.c_str(), value);

    // Groups table.
    if (!h.groups.empty()) {
        out += fmt::format("\n{:<6} {:<10} {:<14} {:<10} {:<32} {}\n", "GROUP", "TYPE", "DEVICE", "ID", "CLASS",
                           "DRIVER");
        for (auto &g : h.groups) {
            bool first = true;
            std::string flags;
            if (g.mixed)
                flags += " [mixed: unrelated devices share this group]";
            if (g.vfio_shared)
                flags += " [VFIO device next to host-owned devices]";
            if (g.devices.empty())
                out += fmt::format("{:<6} {:<10} (no devices){}\n", g.id, g.type.empty() ? "?" : esc(g.type), flags);
            for (auto &d : g.devices) {
                std::string drv = d.driver.empty() ? "-" : d.driver;
                if (d.driver == "vfio-pci")
                    drv += " [VFIO]";
                if (d.removable)
                    drv += " [external]";
                std::string cls = d.class_name.empty() ? (d.class_code.empty() ? "-" : d.class_code) : d.class_name;
                out += fmt::format("{:<6} {:<10} {:<14} {:<10} {:<32} {}\n", first ? std::to_string(g.id) : "",
                                   first ? (g.type.empty() ? "?" : esc(g.type)) : "", esc(d.name),
                                   d.id().empty() ? "-" : esc(d.id()), esc(cls), esc(drv));
                first = false;
            }
            if (!flags.empty())
                out += fmt::format("{:<6}{}\n", "", flags);
        }
    }
    for (auto &w : h.warnings)
        out += "warning: " + esc(w) + "\n";
    return out;
}

}  // namespace iommuprof
