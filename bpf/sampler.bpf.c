// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * iommuprof sampler: a perf-event program that counts kernel stacks, aggregated in
 * the kernel (no per-sample traffic to userspace). See sampler.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sampler.h"

#define EFAULT 14

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, IP_SAMPLE_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, IP_SAMPLE_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, IP_SAMPLE_STACKS);
	__type(key, struct ip_sample_key);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, IP_SSTAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} sstats SEC(".maps");

static __always_inline void sstat_inc(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&sstats, &which);
	if (v)
		*v += 1;
}

SEC("perf_event")
int ip_sample(struct bpf_perf_event_data *ctx)
{
	struct ip_sample_key k = {};
	__u64 one = 1, *v;
	long id;

	sstat_inc(IP_SSTAT_ALL);
	k.idle = (bpf_get_current_pid_tgid() >> 32) == 0;
	id = bpf_get_stackid(ctx, &stacks, 0);
	if (id < 0) {
		/* -EFAULT: no kernel stack, the sample hit user mode */
		sstat_inc(id == -EFAULT ? IP_SSTAT_USER : IP_SSTAT_LOST);
		if (id != -EFAULT)
			return 0;
	}
	k.stackid = id < 0 ? -1 : (int)id;
	v = bpf_map_lookup_elem(&counts, &k);
	if (v) {
		*v += 1;
		return 0;
	}
	if (bpf_map_update_elem(&counts, &k, &one, BPF_NOEXIST)) {
		v = bpf_map_lookup_elem(&counts, &k);
		if (v)
			*v += 1;
		else
			sstat_inc(IP_SSTAT_FULL);
	}
	return 0;
}
