// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Feature probes (in the spirit of bpftrace's bpffeature): can this kernel
 * attach fentry (BPF trampolines) and kprobes? Empty bodies; userspace loads,
 * attaches and detaches them once at start-up. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("fentry")
int probe_fentry(void *ctx) { return 0; }

SEC("kprobe")
int probe_kprobe(void *ctx) { return 0; }
