// Host-wide summary derived from the per-group facts (user/host/hostfacts.cpp).
#pragma once

#include "iommuprof/hostfacts.hpp"

namespace iommuprof::host {

// Recomputes iommu.{active, vendor, default_domain, dma_policy, group_types,
// notes} and the per-group flags from the facts already gathered. Idempotent.
void summarize(HostFacts &h);

// "0x020000" -> "Ethernet controller" ("" when unknown).
std::string pci_class_name(const std::string &class6);

}  // namespace iommuprof::host
