// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Empty probes: the floor of the overhead benchmark (scripts/bench-overhead).
 * Every program returns at once, so attaching them to the functions iommuprof
 * attaches to measures what the attach mechanism alone costs per call (the
 * BPF trampoline for fentry/fexit, the int3/ftrace handler and the return
 * trampoline for kprobe/kretprobe), without any of iommuprof's own work.
 *
 * Shaped like bpf/iommuprof.bpf.c: fentry/fexit need their target at load
 * time, so they are stamped out per slot (one slot per attached function);
 * one kprobe, one kretprobe and one raw tracepoint program are attached many
 * times. Loaded by user/bench/empty_probes.cpp.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "iommuprof.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("kprobe")
int empty_kprobe(void *ctx)
{
	return 0;
}

SEC("kretprobe")
int empty_kretprobe(void *ctx)
{
	return 0;
}

SEC("raw_tp")
int empty_rawtp(void *ctx)
{
	return 0;
}

/* Through tracing multi links, as iommuprof does where the kernel has them: one program
 * each for every function (sections libbpf 1.1 does not know; the loader sets the types). */
SEC("iommuprof.fentry_multi")
int empty_fentry_multi(void *ctx)
{
	return 0;
}

SEC("iommuprof.fexit_multi")
int empty_fexit_multi(void *ctx)
{
	return 0;
}

/* fsession (7.0+), as iommuprof does where the kernel has it: one program for the entry and the
 * exit of a function (a section libbpf 1.1 does not know; the loader sets the types). */
#define SLOT(N)                                                        \
	SEC("fentry") int empty_fentry_##N(void *ctx) { return 0; }    \
	SEC("fexit") int empty_fexit_##N(void *ctx) { return 0; }      \
	SEC("iommuprof.fsession") int empty_fsession_##N(void *ctx) { return 0; }

/* IP_MAX_SLOTS (56) of them, as in iommuprof.bpf.c. */
SLOT(0) SLOT(1) SLOT(2) SLOT(3) SLOT(4) SLOT(5) SLOT(6) SLOT(7)
SLOT(8) SLOT(9) SLOT(10) SLOT(11) SLOT(12) SLOT(13) SLOT(14) SLOT(15)
SLOT(16) SLOT(17) SLOT(18) SLOT(19) SLOT(20) SLOT(21) SLOT(22) SLOT(23)
SLOT(24) SLOT(25) SLOT(26) SLOT(27) SLOT(28) SLOT(29) SLOT(30) SLOT(31)
SLOT(32) SLOT(33) SLOT(34) SLOT(35) SLOT(36) SLOT(37) SLOT(38) SLOT(39)
SLOT(40) SLOT(41) SLOT(42) SLOT(43) SLOT(44) SLOT(45) SLOT(46) SLOT(47)
SLOT(48) SLOT(49) SLOT(50) SLOT(51) SLOT(52) SLOT(53) SLOT(54) SLOT(55)
