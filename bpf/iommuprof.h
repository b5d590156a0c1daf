/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Types shared by bpf/iommuprof.bpf.c and the userspace loader.
 *
 * Data model (all aggregation happens in the kernel):
 *   rows     PERCPU_ARRAY [row * ncols + col] -> struct ip_hist
 *            The histograms of the first `nrows` devices seen, one row per
 *            device and one column per probe point in use (col_of_point), so
 *            that the hot path updates an array slot: the device's row is
 *            found once per outermost call (devrows) and inherited by the
 *            calls nested in it.
 *   devrows  HASH         dev               -> row (IP_NO_ROW once rows ran out)
 *   hists    PERCPU_HASH  {point, dev}      -> struct ip_hist
 *            The same histograms for devices beyond the rows and for
 *            tracepoint events. Per CPU, so both maps give the per-device and
 *            the per-CPU breakdown when they are read. point ==
 *            IP_POINT_TOPLEVEL holds the time of outermost calls only (each
 *            nested stack counted once).
 *   devnames HASH         dev               -> char[IP_DEVNAME_LEN]
 *            dev is a struct device pointer, or an IP_PSEUDO_* id.
 *   task_ctxs TASK_STORAGE task             -> struct ip_ctx (in-flight frames)
 *   irq_ctxs PERCPU_ARRAY [IP_IRQ_CTXS]      -> struct ip_ctx (interrupt contexts)
 *   stats    PERCPU_ARRAY [IP_STAT_MAX]     -> u64 overflow / anomaly counters
 */
#ifndef IOMMUPROF_SHARED_H
#define IOMMUPROF_SHARED_H

#define IP_MAX_SLOTS 56        /* attachments (symbol or tracepoint) per session, calibration included
                                  (the whole 7.3 catalog with VFIO and virtio-iommu loaded: about 50) */
#define IP_SLOT_MASK 63        /* slot_cfg has IP_SLOT_MASK+1 entries: index & mask is always in bounds */
#define IP_MAX_POINTS 64       /* logical probe points */
#define IP_POINT_TOPLEVEL 63   /* pseudo point: outermost-call time per context */
#define IP_POINT_CALIB_OUTER 61 /* calibration points (never in a snapshot): the loader */
#define IP_POINT_CALIB_INNER 62 /* times its own probes on two nested functions it drives */
#define IP_BUCKETS 32          /* log2(ns) buckets: [0,2) [2,4) ... [2^31, inf) */
#define IP_TASK_CTX_FALLBACK 512 /* task contexts where task storage cannot be created (LRU) */
#define IP_MAX_DEPTH 16        /* nested in-flight calls per execution context (--detail: ~8 per chain, and a hardirq can nest in a softirq on the same IRQ stack block) */
#define IP_DEVNAME_LEN 32

#define IP_NO_ROW 0xffffffffu
#define IP_MAX_ROWS 256           /* device rows at most; fewer on hosts with many CPUs */
#define IP_ROWS_BUDGET (32ULL << 20) /* bytes of the rows map, all CPUs */
#define IP_HIST_ENTRIES 2048      /* at most; fewer on hosts with many CPUs (preallocated: 8192 took 0.08 s of a start under emulation; devices with a row, 256 of them, count there) */
#define IP_HIST_MIN_ENTRIES 1024
#define IP_HIST_BUDGET (32ULL << 20) /* bytes of preallocated histograms, all CPUs */
#define IP_DEVNAME_ENTRIES 4096
#define IP_IRQ_CTXS 4          /* interrupt-context frame stacks per CPU (IRQ stack, NMI, ...) */

/* In-flight calls are kept per execution context, told apart by the probed
 * function's stack pointer: within THREAD_SIZE (16 KiB on x86_64 and arm64)
 * above task->stack it is the task itself (its frames live in task storage and
 * move with it when it migrates); anywhere else it is an interrupt (softirq or
 * NAPI on the per-CPU IRQ stack, NMI or an exception on its own stack) that
 * arrived while that task was current, named by the stack block sp >> 14.
 * Nesting within one context is strictly LIFO. */
#define IP_STACK_SHIFT 14

/* Pseudo devices: calls with no struct device in reach. Small numbers, never
 * a kernel pointer (those live in the upper half of the address space). */
#define IP_PSEUDO_LIMIT (1ULL << 47)                 /* dev < this: pseudo device */
#define IP_PSEUDO_NODEV 1ULL                         /* "[no-device]" */
#define IP_PSEUDO_FQ 2ULL                            /* "[flush-queue]" */
#define IP_PSEUDO_VFIO_BASE (1ULL << 40)             /* | tgid: "[vfio:comm]" */

/* How the return value tells a failure. */
enum ip_ret_kind {
	IP_RET_NONE = 0,     /* void, or not meaningful */
	IP_RET_NEG = 1,      /* int/long: < 0 is an error */
	IP_RET_ZERO = 2,     /* count/size: 0 is an error (dma_map_sg_attrs, iommu_unmap) */
	IP_RET_DMA_ADDR = 3, /* dma_addr_t: DMA_MAPPING_ERROR (~0) is an error */
	IP_RET_BYTES = 4,    /* ssize_t bytes mapped (iommu_map_sg): < 0 error, else bytes */
};

/* Role of an attachment in the call context. */
enum ip_slot_flags {
	IP_F_SET_FQ = 1 << 0,    /* flush-queue timer: nested calls go to [flush-queue] */
	IP_F_SET_VFIO = 1 << 1,  /* VFIO map/unmap ioctl path: nested calls go to [vfio:comm] */
	IP_F_NO_TIMING = 1 << 2, /* count only (tracepoints) */
	IP_F_FAULT = 1 << 3,     /* fault event: counts are faults */
	IP_F_CALIB = 1 << 4,     /* calibration slot: no outermost total */
	IP_F_ENTRIES = 1 << 5,   /* size_arg counts scatterlist entries, not bytes */
};

/* The probe method of an entry/exit, passed with the slot (slot | method << 16):
 * the calibrated probe costs differ between trampolines and kprobes. */
#define IP_METHOD_SHIFT 16
#define IP_METHOD_FENTRY 0
#define IP_METHOD_KPROBE 1
#define IP_METHODS 2

/* Per-attachment settings, written to .rodata before load. */
struct ip_slot_cfg {
	unsigned short point;     /* logical point id (index into the catalog, < IP_MAX_POINTS) */
	signed char dev_arg;      /* argument index of struct device *, -1 none */
	signed char size_arg;     /* argument index of the byte size, -1 none */
	unsigned char ret_kind;   /* enum ip_ret_kind */
	unsigned char flags;      /* enum ip_slot_flags */
	unsigned char nargs;      /* the function's parameters (fexit: the return value follows them) */
	unsigned char pad;
};

/* What an older kernel lacks, set by userspace in .rodata (`compat`): the programs then take
 * the older way, and the newer one is dead code the verifier never sees. (Not so for an
 * instruction it does not know: the 5.10 verifier refuses an atomic fetch-and-add anywhere in a
 * program, so there is none.) */
enum ip_compat {
	IP_COMPAT_NO_TASK_BTF = 1 << 0,  /* no bpf_get_current_task_btf (5.11): the task read with probe reads */
	IP_COMPAT_NO_FUNC_ARG = 1 << 1,  /* no bpf_get_func_arg/_ret (5.17): read from the trampoline's frame */
};

struct ip_hist_key {
	unsigned int point;
	unsigned int pad;
	unsigned long long dev;
};

struct ip_hist {
	unsigned long long count;
	unsigned long long sum_ns;
	unsigned long long bytes;
	unsigned long long errors;
	unsigned long long max_ns;
	/* Probe effect: sum_ns, max_ns and the buckets are compensated (the
	 * calibrated cost of this call's own probes inside its measured time and
	 * the full cost of every probed call completed on its CPU meanwhile are
	 * subtracted); comp_ns is what was subtracted (raw = sum_ns + comp_ns),
	 * nested the number of probed calls nested in the timed calls. */
	unsigned long long comp_ns;
	unsigned long long nested;
	/* Calls during which another context (an interrupt, a preempting
	 * task) completed probed calls on the same CPU: their count and their
	 * (compensated) time, which includes that context's unprobed work. */
	unsigned long long intr_count;
	unsigned long long intr_sum_ns;
	/* Scatterlist entries passed to the timed calls (slots with
	 * IP_F_ENTRIES): what dma-direct would walk under iommu=pt. */
	unsigned long long entries;
	unsigned long long buckets[IP_BUCKETS];
};

struct ip_frame {
	unsigned long long ts;
	unsigned long long sp;          /* the call's stack address at entry, | 1 for a kprobe's (frame_returned) */
	unsigned long long dev;
	unsigned long long bytes;       /* or scatterlist entries (IP_F_ENTRIES) */
	unsigned int slot;
	unsigned int cpu;
	unsigned long long nested_mark; /* per-CPU top-level time at entry */
	unsigned long long probe_mark;  /* per-CPU probe cost at entry */
	unsigned long long probe_n_mark; /* per-CPU probed calls at entry */
	unsigned int row;               /* the device's row in `rows`, or IP_NO_ROW */
	unsigned int done_mark;         /* the context's completed calls at entry */
};

struct ip_ctx {
	unsigned int depth;
	unsigned int done;        /* calls completed in this context (wraps) */
	unsigned long long block; /* interrupt contexts: kernel stack block (sp >> IP_STACK_SHIFT) */
	struct ip_frame frames[IP_MAX_DEPTH];
};

enum ip_stat {
	IP_STAT_HIST_FULL = 0,      /* hists map full: events not recorded */
	IP_STAT_DEVNAME_FULL,       /* devnames map full: device shows as its pointer */
	IP_STAT_CTX_FULL,           /* could not create in-flight context */
	IP_STAT_DEPTH_OVERFLOW,     /* nesting deeper than IP_MAX_DEPTH: call not timed */
	IP_STAT_UNMATCHED_EXIT,     /* exit with no matching entry (attached mid-call) */
	IP_STAT_DROPPED_FRAMES,     /* entries whose exit never came (discarded) */
	IP_STAT_MIGRATED,           /* outermost call ended on another CPU */
	IP_STAT_SOFTIRQ_NESTED,     /* softirqs that completed probed calls inside a task's probed call */
	IP_STAT_SOFTIRQ_NESTED_CALLS, /* ... and those calls */
	IP_STAT_CTX_FALLBACK,       /* task contexts created in the fallback map (no task storage) */
	IP_STAT_MAX,
};

/* max_entries of hists for a host with `possible_cpus` CPUs: as many entries
 * as IP_HIST_BUDGET holds, between IP_HIST_MIN_ENTRIES and IP_HIST_ENTRIES. */
static inline unsigned int ip_hist_entries_for(unsigned int possible_cpus)
{
	unsigned long long per_entry = (unsigned long long)sizeof(struct ip_hist) *
				       (possible_cpus ? possible_cpus : 1);
	unsigned long long n = IP_HIST_BUDGET / per_entry;

	if (n > IP_HIST_ENTRIES)
		n = IP_HIST_ENTRIES;
	if (n < IP_HIST_MIN_ENTRIES)
		n = IP_HIST_MIN_ENTRIES;
	return (unsigned int)n;
}

/* Device rows of the rows map for `ncols` columns: as many as IP_ROWS_BUDGET
 * holds, at most IP_MAX_ROWS; 0 when not even one fits (hash map only). */
static inline unsigned int ip_rows_for(unsigned int possible_cpus, unsigned int ncols)
{
	unsigned long long per_row = (unsigned long long)sizeof(struct ip_hist) * (ncols ? ncols : 1) *
				     (possible_cpus ? possible_cpus : 1);
	unsigned long long n = IP_ROWS_BUDGET / per_row;

	return (unsigned int)(n > IP_MAX_ROWS ? IP_MAX_ROWS : n);
}

#endif
