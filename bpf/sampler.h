/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Types shared by bpf/sampler.bpf.c and the userspace loader (user/loader/sampler.cpp).
 *
 * The probe-free witness: a perf event (cycles, else cpu-clock) on every CPU runs
 * ip_sample, which aggregates in the kernel:
 *   stacks  STACK_TRACE  stackid -> kernel stack (IP_SAMPLE_DEPTH return addresses)
 *   counts  PERCPU_HASH  {stackid, idle} -> samples
 *   sstats  PERCPU_ARRAY [IP_SSTAT_MAX] -> samples by outcome
 * Userspace symbolizes the stacks and classifies them (translation-only path, DMA API,
 * the profiler's own probes, idle, other).
 */
#ifndef IOMMUPROF_SAMPLER_H
#define IOMMUPROF_SAMPLER_H

#define IP_SAMPLE_DEPTH 64        /* frames kept per stack */
#define IP_SAMPLE_STACKS 16384    /* distinct kernel stacks */

struct ip_sample_key {
	int stackid;        /* kernel stack, or < 0: none (a user-mode sample) */
	unsigned int idle;  /* the idle task was current (pid 0) */
};

enum ip_sstat {
	IP_SSTAT_ALL = 0,     /* samples taken */
	IP_SSTAT_USER,        /* in user mode (no kernel stack) */
	IP_SSTAT_LOST,        /* stack not recorded (stack map full or hash collision) */
	IP_SSTAT_FULL,        /* counts map full */
	IP_SSTAT_MAX,
};

#endif
