// Loader-internal: reading the running kernel into a KernelView.
#pragma once

#include "iommuprof/plan.hpp"

#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif

#include <string>

namespace iommuprof {

// strerror of an errno (either sign), naming ENOTSUPP, which libc does not know.
std::string errstr(int e);

void setup_libbpf_logging();
void check_privileges();  // throws Error(kExitRuntime)
void check_btf();         // throws Error(kExitRuntime)
// probe_features: attach a no-op fentry program once to learn whether BPF
// trampolines work (needs privileges).
KernelView read_kernel_view(bool probe_features);


}  // namespace iommuprof
