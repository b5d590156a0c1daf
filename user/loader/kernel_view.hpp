// Loader-internal: reading the running kernel into a KernelView.
#pragma once

#include "iommuprof/plan.hpp"

#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif

#include <string>

namespace iommuprof {

// The functions the probe-effect calibration drives (getppid(2) calls the
// inner one once): their probes' cost is what every probed call costs.
// The outer one by the first name the kernel has (BTF for fentry, kallsyms for
// kprobes): the syscall wrapper, or the body the compiler merged it with.
inline constexpr const char *kCalibOuters[] = {"__x64_sys_getppid", "__arm64_sys_getppid", "__do_sys_getppid"};
inline constexpr const char *kCalibInner = "__task_pid_nr_ns";

// strerror of an errno (either sign), naming ENOTSUPP, which libc does not know.
std::string errstr(int e);

void setup_libbpf_logging();
void check_privileges();  // throws Error(kExitRuntime)
void check_btf();         // throws Error(kExitRuntime)
// probe_features: attach a no-op fentry program once to learn whether BPF
// trampolines work (needs privileges).
KernelView read_kernel_view(bool probe_features);
// Sets k.kprobe_multi (and its reason): whether kprobe_multi links attach here.
void probe_kprobe_multi(KernelView &k);


}  // namespace iommuprof
