// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * iommuprof kernel side: latency histograms for IOMMU / DMA-mapping paths,
 * aggregated in the kernel (no per-event traffic to userspace).
 *
 * One body serves every probed function. Which logical probe point, which
 * argument holds the struct device * and which holds the size is per
 * attachment "slot", set by userspace in .rodata before load:
 *   - kprobe/kretprobe: one program each, attached many times; the BPF
 *     cookie is the slot.
 *   - fentry/fexit and raw tracepoints: a program needs its target at load
 *     time (fentry) or carries no cookie on older kernels (raw_tp), so the
 *     programs are stamped out per slot with the slot as a constant.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "iommuprof.h"

#define E2BIG 7
#define EEXIST 17

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile struct ip_slot_cfg slot_cfg[IP_SLOT_MASK + 1] = {};
/* The rows map (see iommuprof.h): column + 1 of each point (0: none), the
 * number of columns and of device rows (0: hash map only). */
const volatile __u8 col_of_point[IP_MAX_POINTS] = {};
const volatile __u32 ncols = 1;
const volatile __u32 nrows = 0;
/* Where the next row is looked for (ip_row_of(): rows are claimed in rowclaim). */
__u32 next_row = 0;
/* Drop in-flight frames older than this (their exit was lost). */
const volatile __u64 stale_ns = 5000000000ULL;
/* THREAD_SIZE of this kernel: 16 KiB on x86_64, twice that with KASAN, the page
 * size on arm64 with 64 KiB pages (the loader finds out). */
const volatile __u64 task_stack_size = 1ULL << IP_STACK_SHIFT;
/* Task contexts always in the fallback map: kernels without task storage for
 * tracing programs (before 5.11; userspace then does not create task_ctxs), and tests. */
const volatile __u32 task_storage_off = 0;
/* enum ip_compat: what this kernel lacks. */
const volatile __u32 compat = 0;
/* Probe-effect compensation per method (IP_METHOD_*), written by userspace
 * after its calibration (0 until then, and when calibration was impossible):
 *   comp_inner  the part of a call's own probe cost that falls between its
 *               entry and exit timestamps;
 *   comp_pair   the whole cost of one probed call (entry and exit trampolines
 *               and programs), as seen from a call around it. */
__u64 comp_inner[IP_METHODS] = {};
__u64 comp_pair[IP_METHODS] = {};

/* Preallocated (an insert never fails for want of memory, in any context);
 * an entry costs sizeof(struct ip_hist) per possible CPU, so userspace lowers
 * max_entries on hosts with many CPUs (ip_hist_entries_for()). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, IP_HIST_ENTRIES);
	__type(key, struct ip_hist_key);
	__type(value, struct ip_hist);
} hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1); /* nrows * ncols, set by userspace */
	__type(key, __u32);
	__type(value, struct ip_hist);
} rows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IP_DEVNAME_ENTRIES);
	__type(key, __u64);
	__type(value, __u32);
} devrows SEC(".maps");

/* row -> the device that claimed it (ip_row_of()). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IP_MAX_ROWS);
	__type(key, __u32);
	__type(value, __u64);
} rowclaim SEC(".maps");

struct devname {
	char name[IP_DEVNAME_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IP_DEVNAME_ENTRIES);
	__type(key, __u64);
	__type(value, struct devname);
} devnames SEC(".maps");

/* In-flight calls of task context: one frame stack per task, in task local
 * storage (a pointer chase from the task, no hashing; freed with the task). */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ip_ctx);
} task_ctxs SEC(".maps");

/* Where task storage cannot be created (seen on Debian's 7.x kernels: every
 * bpf_task_storage_get(..., F_CREATE) from these programs returns NULL), the
 * task's context lives here instead, keyed by thread id; least recently used
 * entries go first, so the tasks that exited take no room for long. Marked by
 * IP_CTX_HASHED in `block`. */
#define IP_CTX_HASHED (~0ULL)
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, IP_TASK_CTX_FALLBACK);
	__type(key, __u32);
	__type(value, struct ip_ctx);
} task_ctx_fallback SEC(".maps");

/* A zeroed context to create fallback entries from (never written). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ip_ctx);
} zero_ctx SEC(".maps");

/* In-flight calls of interrupt context (softirq/NAPI and hardirq on the IRQ
 * stack, NMI and exceptions on their own stacks): per CPU, one frame stack per
 * kernel stack block in use. Interrupt contexts never migrate and nest
 * strictly on their CPU. (One map entry per context rather than an array in
 * one entry: every lookup then yields the same pointer type, which keeps the
 * verifier's work from multiplying by the number of contexts.) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, IP_IRQ_CTXS);
	__type(key, __u32);
	__type(value, struct ip_ctx);
} irq_ctxs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, IP_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct scratch {
	__u64 sp;            /* opaque(): a value laundered into an unknown scalar */
	__u64 toplevel_acc;  /* outermost-call ns completed on this CPU */
	__u64 last_dev;      /* the last device whose row this CPU looked up ... */
	__u32 last_row;      /* ... and its row (0 with last_dev 0: nothing yet) */
	__u32 pad;
	__u64 probe_acc;     /* calibrated cost of the probed calls completed on this CPU */
	__u64 probe_n;       /* and their number */
	__u64 rec_comp;      /* record()'s extra arguments: ns subtracted, ... */
	__u64 rec_nested;    /* ... probed calls nested, ... */
	__u64 rec_intr;      /* ... 1: another context's calls ran inside */
	__u64 irq_done;      /* calls completed in interrupt contexts on this CPU */
	__u64 irq_done_mark; /* ... at the last softirq end */
	struct ip_hist zero_hist;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* The mask is done in asm so that clang cannot drop it as redundant with an
 * earlier range check the verifier may no longer see (a copied register). */
static __always_inline const volatile struct ip_slot_cfg *cfg(__u32 slot)
{
	asm volatile("%[s] &= %[m]" : [s] "+r"(slot) : [m] "i"(IP_SLOT_MASK));
	return &slot_cfg[slot];
}

static __always_inline void stat_inc(__u32 which, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);
	if (v)
		*v += n;
}

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch, &zero);
}

/* 1 when v > c, for v and c below 2^63, without a branch: the sign of c - v
 * (a compare is a branch in BPF, which clang would make of it without the
 * barrier). */
static __always_inline __u64 gt_nobranch(__u64 v, __u64 c)
{
	__u64 d = c - v;

	asm volatile("" : "+r"(d));
	return d >> 63;
}

/* 64-bit arithmetic throughout: the 6.1 verifier loses the bounds of a 32-bit
 * OR (alu32 code from -mcpu=v3), and the result indexes the buckets. Without
 * branches: the verifier followed every combination of the five compares (an
 * eighth of an exit program's instructions processed). */
#define IP_GT(v, c) gt_nobranch(v, c)
static __always_inline __u64 log2_bucket(__u64 v)
{
	__u64 r, shift;
	v = (v & ~(1ULL << 63)) | ((0ULL - (v >> 63)) >> 1); /* at most 2^63 - 1 */
	shift = IP_GT(v, 0xFFFFFFFFULL) << 5; v >>= shift; r = shift;
	shift = IP_GT(v, 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = IP_GT(v, 0xFF) << 3; v >>= shift; r |= shift;
	shift = IP_GT(v, 0xF) << 2; v >>= shift; r |= shift;
	shift = IP_GT(v, 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r < IP_BUCKETS ? r : IP_BUCKETS - 1;
}

static __always_inline void register_devname(__u64 dev)
{
	struct devname n = {};

	if (dev < IP_PSEUDO_LIMIT) {
		if (!(dev & IP_PSEUDO_VFIO_BASE))
			return; /* fixed pseudo devices are named by userspace */
		bpf_get_current_comm(n.name, sizeof(n.name));
	} else {
		const char *p = BPF_CORE_READ((struct device *)dev, kobj.name);
		if (!p || bpf_probe_read_kernel_str(n.name, sizeof(n.name), p) <= 0)
			return;
	}
	/* int, not long: before 6.4 the verifier turns this helper into a direct
	 * call of the map's update op, which returned int, and the upper half of
	 * R0 is not sign-extended (libbpf-tools keep it in an int too). */
	int err = bpf_map_update_elem(&devnames, &dev, &n, BPF_NOEXIST);

	if (err == -E2BIG)
		stat_inc(IP_STAT_DEVNAME_FULL, 1);
}

static __always_inline void hist_add(struct ip_hist *h, struct scratch *s, __u64 dur, __u64 bytes,
				     __u32 flags)
{
	h->count++;
	if (flags & 4)
		h->entries += bytes;
	else
		h->bytes += bytes;
	if (flags & 1)
		h->errors++;
	if (flags & 2) {
		h->sum_ns += dur;
		h->comp_ns += s->rec_comp;
		h->nested += s->rec_nested;
		if (s->rec_intr) {
			h->intr_count++;
			h->intr_sum_ns += dur;
		}
		if (dur > h->max_ns)
			h->max_ns = dur;
		h->buckets[log2_bucket(dur)]++;
	}
}

/* The device's row in `rows`: looked up once per outermost call (and cached
 * per CPU for the next call of the same device), handed out at first sight
 * while rows last.
 *
 * ip_row_of() and ip_record() are global functions, with scalar arguments only
 * (the form every kernel since 5.6 accepts): the verifier checks a global
 * function once per program, where a static one is checked again for every
 * state that reaches a call of it. That took the entry program from 38.7k
 * instructions processed to 16.9k, the exit program from 26.7k to 5.2k. */
__noinline __u32 ip_row_of(__u64 dev)
{
	struct scratch *s = get_scratch();
	__u32 *r, n, claimed;

	if (!s)
		return IP_NO_ROW;

	if (!nrows)
		return IP_NO_ROW;
	if (s->last_dev == dev)
		return s->last_row;
	r = bpf_map_lookup_elem(&devrows, &dev);
	if (r) {
		s->last_dev = dev;
		s->last_row = *r;
		return *r;
	}
	/* Claim a row by inserting it into rowclaim (atomic, where kernels before
	 * 5.12 have no fetch-and-add, whose mere presence their verifier refuses);
	 * next_row is only where to start looking. */
	n = next_row;
	claimed = 0;
#pragma unroll
	for (int k = 0; k < 8; k++) {
		if (n >= nrows)
			break;
		if (!bpf_map_update_elem(&rowclaim, &n, &dev, BPF_NOEXIST)) {
			claimed = 1;
			break;
		}
		n++;
	}
	if (!claimed && n < nrows)
		return IP_NO_ROW; /* other CPUs claimed these meanwhile: the next call tries again */
	if (claimed) {
		if (next_row <= n)
			next_row = n + 1;
	} else {
		n = IP_NO_ROW; /* no row left: remembered, so that the device is not counted again */
	}
	if (bpf_map_update_elem(&devrows, &dev, &n, BPF_NOEXIST)) {
		/* lost a race for this device (give its row back), or full */
		if (claimed)
			bpf_map_delete_elem(&rowclaim, &n);
		r = bpf_map_lookup_elem(&devrows, &dev);
		return r ? *r : IP_NO_ROW;
	}
	if (n != IP_NO_ROW)
		register_devname(dev);
	return n;
}

/* flags: 1 the call failed, 2 dur is meaningful (timed), 4 the size counts
 * scatterlist entries (IP_F_ENTRIES), not bytes; with 2, also
 * s->rec_comp and s->rec_nested (see struct ip_hist). Histograms of a device
 * with a row are updated in `rows`, others in `hists`. */
__noinline int ip_record(__u64 point_row, __u64 dev, __u64 dur, __u64 bytes_flags)
{
	struct scratch *s = get_scratch();
	__u32 point = point_row & 0xffffffffU, row = point_row >> 32;
	struct ip_hist_key key = { .point = point, .dev = dev };
	__u32 flags = bytes_flags & 7;
	__u64 bytes = bytes_flags >> 3;
	struct ip_hist *h = NULL;

	if (!s)
		return 0;
	if (row < nrows) {
		__u32 col = col_of_point[point & (IP_MAX_POINTS - 1)];

		if (col) {
			__u32 idx = row * ncols + col - 1;

			h = bpf_map_lookup_elem(&rows, &idx);
		}
	}
	if (!h)
		h = bpf_map_lookup_elem(&hists, &key);
	if (!h) { /* first call of this (point, device) */
		int err; /* int: see register_devname() */

		err = bpf_map_update_elem(&hists, &key, &s->zero_hist, BPF_NOEXIST);
		if (err && err != -EEXIST) {
			stat_inc(IP_STAT_HIST_FULL, 1);
			return 0;
		}
		register_devname(dev);
		h = bpf_map_lookup_elem(&hists, &key);
		if (!h)
			return 0;
	}
	hist_add(h, s, dur, bytes, flags);
	return 0;
}

/* sp: an address on the kernel stack the probed function runs on. Not the
 * BPF program's own frame: since 6.13 a program may run on a per-CPU private
 * stack. On the current task's stack: task context; anywhere else: an
 * interrupt on this CPU (see IP_STACK_SHIFT). */
/* The current task's context: its task storage, or the fallback map where task
 * storage cannot be created (keyed by thread id). */
static __always_inline struct ip_ctx *task_ctx(int create)
{
	struct ip_ctx *c, *z;
	__u32 tid, zk = 0;

	if (!task_storage_off) {
		c = bpf_task_storage_get(&task_ctxs, bpf_get_current_task_btf(), 0,
					 create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
		if (c)
			return c;
	}
	tid = (__u32)bpf_get_current_pid_tgid();
	c = bpf_map_lookup_elem(&task_ctx_fallback, &tid);
	if (c || !create)
		return c;
	z = bpf_map_lookup_elem(&zero_ctx, &zk);
	if (!z)
		return NULL;
	bpf_map_update_elem(&task_ctx_fallback, &tid, z, BPF_NOEXIST);
	c = bpf_map_lookup_elem(&task_ctx_fallback, &tid);
	if (c) {
		c->block = IP_CTX_HASHED;
		stat_inc(IP_STAT_CTX_FALLBACK, 1);
	}
	return c;
}

/* The base of the current task's kernel stack. */
static __always_inline __u64 task_stack_base(void)
{
	if (compat & IP_COMPAT_NO_TASK_BTF) {
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();

		return (__u64)BPF_CORE_READ(t, stack);
	}
	return (__u64)bpf_get_current_task_btf()->stack;
}

static __always_inline struct ip_ctx *get_ctx(__u64 sp, int create)
{
	struct ip_ctx *c;
	__u64 base, block;

	base = task_stack_base();
	if (sp - base < task_stack_size) {
		c = task_ctx(create);
		if (!c && create)
			stat_inc(IP_STAT_CTX_FULL, 1);
		return c;
	}
	block = sp >> IP_STACK_SHIFT;
#pragma unroll
	for (__u32 i = 0; i < IP_IRQ_CTXS; i++) {
		__u32 k = i;

		c = bpf_map_lookup_elem(&irq_ctxs, &k);
		if (!c)
			return NULL;
		if (!c->depth) {
			/* The contexts in use are packed at the front: the first
			 * free one ends the search. */
			if (!create)
				return NULL;
			c->block = block;
			return c;
		}
		if (c->block == block)
			return c;
	}
	if (create)
		stat_inc(IP_STAT_CTX_FULL, 1);
	return NULL;
}

/* v, routed through a map value: the verifier then knows nothing of it. Makes
 * a context pointer a number (which it lets a privileged program do), and an
 * index one unknown scalar rather than one verifier state per value. */
static __always_inline __u64 opaque(struct scratch *s, __u64 v)
{
	*(volatile __u64 *)&s->sp = v;
	return *(volatile __u64 *)&s->sp;
}

static __always_inline __u64 ptr_to_u64(struct scratch *s, void *p)
{
	return opaque(s, (__u64)p);
}

/* &c->frames[i], or NULL when i is out of range. The barrier keeps clang from
 * reusing an earlier, wider range check: the 6.1 verifier loses the bounds of a
 * 32-bit "d - 1" after its zero extension. */
static __always_inline struct ip_frame *frame_at(struct ip_ctx *c, __u32 i)
{
	asm volatile("" : "+r"(i));
	if (i >= IP_MAX_DEPTH)
		return NULL;
	return &c->frames[i];
}

/* Has the frame entered at stack address fsp (bit 0: a kprobe's) returned, seen
 * from a new call of the same context entering at sp? The stack has unwound past
 * it when it is below sp. At the same address it has returned too, unless a
 * kprobe is involved: a kprobe sees the function's own stack pointer, which a
 * tail call (`jmp callee`) hands on unchanged to a live callee; a trampoline's
 * frame stays below its caller's. */
static __always_inline int frame_returned(__u64 fsp, __u64 sp, __u32 kp)
{
	__u64 a = fsp & ~1ULL;

	return a < sp || (a == sp && !(fsp & 1) && !kp);
}

/* The work of an entry and of an exit once the call's context is found: global
 * functions, verified once per program with the context as plain memory. Static,
 * they were verified again for each map the context can come from (task storage,
 * the fallback hash, the interrupt array): three times the instructions (an
 * entry program 4.5k -> 2.7k, an exit program 2.3k -> 1.3k processed on 6.18).
 * A global function takes a pointer argument since 5.12; the build for older
 * kernels (IP_LEGACY, iommuprof_legacy.bpf.o) keeps them static. */
#define IP_BYTES_MASK ((1ULL << 56) - 1)
#ifdef IP_LEGACY
#define IP_CTX_FN static __noinline
#else
#define IP_CTX_FN __noinline
#endif

/* The depth once the frames that returned are dropped, given that the top one
 * (frames[d - 1]) has. The frames of a context are in stack order, their
 * addresses non-increasing from the outermost (each entry drops what lies below
 * it first), so those below sp are the top ones: the first of them is found in
 * 5 halving steps rather than a loop of 16 (which was most of what the verifier
 * followed in an entry program: 2.6k instructions processed -> 1.4k). A frame at
 * sp itself has returned unless a kprobe is involved (frame_returned); at most
 * one such frame is droppable (a second at the same address has a kprobe's mark,
 * or its entry would have dropped the first). The position is kept in the
 * context between steps, so that the verifier sees one unknown scalar at each
 * step rather than one path per outcome of the steps before; a global function,
 * so that what follows in the entry is verified once whatever it returns. */
IP_CTX_FN int ip_drop_returned(struct ip_ctx *c, __u32 d, __u64 sp, __u32 kp)
{
	struct ip_frame *f;
	__u32 lo;

	if (!c)
		return d;
	/* lo: frames[0, lo) are at or above sp */
	c->depth = 0;
#pragma unroll
	for (int step = IP_MAX_DEPTH; step > 0; step >>= 1) {
		lo = *(volatile __u32 *)&c->depth;
		if (lo + step <= d) {
			f = frame_at(c, lo + step - 1);
			if (f && (f->sp & ~1ULL) >= sp)
				c->depth = lo + step;
		}
	}
	lo = *(volatile __u32 *)&c->depth;
	if (lo > 0) {
		f = frame_at(c, lo - 1);
		if (f && frame_returned(f->sp, sp, kp))
			lo--;
	}
	return lo;
}

/* slot: the slot | method << IP_METHOD_SHIFT. The entry timestamp is taken
 * last, so that the entry program's own work falls outside the call's time. */
/* bytes_slot: the size (56 bits), the slot (6 bits above it) and 1 << 63 for a
 * kprobe: five arguments at most, and the scratch value is passed rather than
 * looked up again (a map lookup per call). */
IP_CTX_FN int ip_enter_ctx(struct ip_ctx *c, struct scratch *s, __u64 dev, __u64 bytes_slot, __u64 sp)
{
	struct ip_frame *f, *top = NULL;
	__u64 now, devv, bytes = bytes_slot & IP_BYTES_MASK;
	__u32 d, d0, flags, row, kp = bytes_slot >> 63, slot = (bytes_slot >> 56) & IP_SLOT_MASK;

	if (!c || !s || slot >= IP_MAX_SLOTS)
		return 0;
	flags = cfg(slot)->flags;
	d = c->depth;
	/* Frames that have returned (frame_returned) lost their exits, most often
	 * to the kernel's recursion guard, which skips a probe an interrupt enters
	 * while the same probe runs on that CPU. Drop them before they pile up;
	 * above a returned last frame, the untimed overflow frames are dead too. */
	if (d > IP_MAX_DEPTH) {
		struct ip_frame *last = frame_at(c, IP_MAX_DEPTH - 1);

		if (last && frame_returned(last->sp, sp, kp)) {
			d = IP_MAX_DEPTH;
			c->depth = d;
		}
	}
	/* (d0: one unknown scalar whatever the way here, and a value of its own,
	 * which the loop's compares of d do not narrow) */
	c->depth = d;
	d0 = *(volatile __u32 *)&c->depth;
	d = *(volatile __u32 *)&c->depth;
	if (d > 0 && d <= IP_MAX_DEPTH) {
		struct ip_frame *t = frame_at(c, d - 1);

		/* Most calls: the top frame is live, nothing to drop. */
		if (t && frame_returned(t->sp, sp, kp))
			d = ip_drop_returned(c, d, sp, kp);
	}
	/* One unknown scalar from here on: the code below is verified once, not once
	 * per way out of the loop above (16.9k instructions processed -> 6.3k; the
	 * frames dropped counted after it, not on each way out: 4.7k -> 4.0k).
	 * Through the context itself, which only this context writes (the scratch
	 * value opaque() uses is the CPU's: an interrupt's probe could change it
	 * between the store and the load). */
	c->depth = d;
	d = *(volatile __u32 *)&c->depth;
	if (d < d0)
		stat_inc(IP_STAT_DROPPED_FRAMES, d0 - d);
	if (d > 0 && d <= IP_MAX_DEPTH)
		top = frame_at(c, d - 1);
	if (d >= IP_MAX_DEPTH) {
		/* Full: recover when the deepest real frame is stale (its exits, and
		 * those of the overflow frames above it, were lost); with d beyond
		 * the frames there is no top, so look at the last frame itself, or
		 * a context that lost one overflow exit would stay full for good. */
		struct ip_frame *last = frame_at(c, IP_MAX_DEPTH - 1);

		if (last && bpf_ktime_get_ns() - last->ts > stale_ns) {
			stat_inc(IP_STAT_DROPPED_FRAMES, d);
			d = 0;
			top = NULL;
		} else {
			stat_inc(IP_STAT_DEPTH_OVERFLOW, 1);
			c->depth = d + 1;
			return 0;
		}
	}
	devv = dev;
	if (flags & IP_F_SET_FQ)
		devv = IP_PSEUDO_FQ;
	else if (flags & IP_F_SET_VFIO)
		devv = IP_PSEUDO_VFIO_BASE | (bpf_get_current_pid_tgid() >> 32);
	else if (!devv && top)
		devv = top->dev;
	if (!devv)
		devv = IP_PSEUDO_NODEV;
	/* The caller's row when the device is the caller's (most nested calls). */
	row = top && top->dev == devv ? top->row : ip_row_of(devv);

	now = bpf_ktime_get_ns();
	if (top && now - top->ts > stale_ns) {
		/* the frames below lost their exits: start over */
		stat_inc(IP_STAT_DROPPED_FRAMES, d);
		d = 0;
	}
	f = frame_at(c, d);
	if (!f)
		return 0;
	f->dev = devv;
	f->sp = sp | kp;
	f->row = row;
	f->bytes = bytes;
	f->slot = slot;
	f->cpu = bpf_get_smp_processor_id();
	f->probe_mark = s->probe_acc;
	f->probe_n_mark = s->probe_n;
	f->done_mark = c->done;
	if (d == 0)
		f->nested_mark = s->toplevel_acc;
	c->depth = d + 1;
	f->ts = now;
	return 0;
}

static __noinline int do_enter(struct scratch *s, __u32 slot, __u64 dev, __u64 bytes, __u64 sp)
{
	struct ip_ctx *c;
	__u32 kp = (slot >> IP_METHOD_SHIFT) == IP_METHOD_KPROBE;

	slot &= (1U << IP_METHOD_SHIFT) - 1;
	if (slot >= IP_MAX_SLOTS)
		return 0;
	c = get_ctx(sp, 1);
	if (!c)
		return 0;
	/* (no DMA is 2^56 bytes; an entry count is the low 32 bits: kept) */
	/* (0 whatever a global function returns, which the verifier does not know:
	 * fentry and fexit programs must return 0) */
	ip_enter_ctx(c, s, dev, (__u64)kp << 63 | (__u64)slot << 56 | (bytes & IP_BYTES_MASK), sp);
	return 0;
}

static __always_inline int is_error(__u32 kind, __u64 ret)
{
	switch (kind) {
	case IP_RET_NEG:
	case IP_RET_BYTES:
		return (__s64)ret < 0;
	case IP_RET_ZERO:
		return ret == 0;
	case IP_RET_DMA_ADDR:
		return ret == ~0ULL;
	}
	return 0;
}

IP_CTX_FN int ip_exit_ctx(struct ip_ctx *c, struct scratch *s, __u64 slot_m, __u64 ret, __u64 now)
{
	struct ip_frame *f;
	__u64 dur, cdur, comp, bytes, own;
	__u32 d, i, found = IP_MAX_DEPTH, point, kind, err, cpu, sizeflag;
	__u32 m = (slot_m >> 32) & (IP_METHODS - 1), slot = slot_m & IP_SLOT_MASK;

	if (!c || !s || slot >= IP_MAX_SLOTS)
		return 0;
	d = c->depth;
	if (d == 0) {
		stat_inc(IP_STAT_UNMATCHED_EXIT, 1);
		return 0;
	}
	if (d > IP_MAX_DEPTH) { /* an untimed overflow frame */
		c->depth = d - 1;
		return 0;
	}
	i = d - 1;
	f = frame_at(c, i);
	if (!f)
		return 0;
	if (f->slot != slot) {
		/* Not the top frame: find ours below; the frames above it lost
		 * their exit. */
#pragma unroll
		for (int k = IP_MAX_DEPTH - 1; k >= 0; k--) {
			if (k < d && c->frames[k].slot == slot) {
				found = k;
				break;
			}
		}
		if (found >= IP_MAX_DEPTH) {
			stat_inc(IP_STAT_UNMATCHED_EXIT, 1);
			return 0;
		}
		/* (an unknown scalar, as in do_enter: through the context) */
		c->depth = found + 1;
		i = *(volatile __u32 *)&c->depth - 1;
		stat_inc(IP_STAT_DROPPED_FRAMES, d - 1 - i);
		f = frame_at(c, i);
		if (!f)
			return 0;
	}
	dur = now - f->ts;
	/* The probe effect: this call's own probe cost inside [entry, exit], and
	 * every probed call completed on this CPU since the entry (nested calls,
	 * interrupts), each at its calibrated cost. Not known across a migration:
	 * only the call's own part is subtracted then. */
	comp = comp_inner[m];
	cpu = bpf_get_smp_processor_id();
	s->rec_nested = 0;
	s->rec_intr = 0;
	if (f->cpu == cpu) {
		comp += s->probe_acc - f->probe_mark;
		s->rec_nested = s->probe_n - f->probe_n_mark;
		/* calls completed on this CPU meanwhile that were not our own
		 * context's: an interrupt (or a preempting task) ran inside */
		s->rec_intr = (__u32)(s->rec_nested - (__u32)(c->done - f->done_mark)) != 0;
	}
	cdur = dur > comp ? dur - comp : 0;
	s->rec_comp = dur - cdur;
	point = cfg(slot)->point;
	kind = cfg(slot)->ret_kind;
	err = is_error(kind, ret);
	bytes = err ? 0 : kind == IP_RET_BYTES && (__s64)ret > 0 ? ret : f->bytes;
	sizeflag = 0;
	if (cfg(slot)->flags & IP_F_ENTRIES) { /* nents is an int: the register's upper half is not defined */
		bytes = (__s32)bytes > 0 ? (__u32)bytes : 0;
		sizeflag = 4;
	}
	ip_record((__u64)f->row << 32 | point, f->dev, cdur, (bytes << 3) | sizeflag | 2 | err);
	c->depth = i;
	c->done++;
	if (c->block && c->block != IP_CTX_HASHED) /* an interrupt context (a task's has block 0) */
		s->irq_done++;
	if (i == 0 && !(cfg(slot)->flags & IP_F_CALIB)) {
		/* Outermost call of this context: subtract the outermost time of
		 * contexts that ran on this CPU meanwhile (interrupts nested in us,
		 * or tasks that preempted us), so "time in IOMMU paths" is never
		 * counted twice. */
		own = cdur;
		if (f->cpu == cpu) {
			__u64 nested = s->toplevel_acc - f->nested_mark;
			own = cdur > nested ? cdur - nested : 0;
		} else {
			stat_inc(IP_STAT_MIGRATED, 1);
		}
		ip_record((__u64)f->row << 32 | IP_POINT_TOPLEVEL, f->dev, own, 2);
		s->toplevel_acc += own;
	}
	s->probe_acc += comp_pair[m];
	s->probe_n++;
	return 0;
}

static __noinline int do_exit(struct scratch *s, __u32 slot, __u64 ret, __u64 sp)
{
	struct ip_ctx *c;
	__u64 now = bpf_ktime_get_ns();
	__u32 m = (slot >> IP_METHOD_SHIFT) & (IP_METHODS - 1);

	slot &= (1U << IP_METHOD_SHIFT) - 1;
	if (slot >= IP_MAX_SLOTS)
		return 0;
	c = get_ctx(sp, 0);
	if (!c) {
		stat_inc(IP_STAT_UNMATCHED_EXIT, 1);
		return 0;
	}
	ip_exit_ctx(c, s, (__u64)m << 32 | slot, ret, now);
	return 0;
}

/* Count-only events (tracepoints): no latency. */
static __noinline int do_event(struct scratch *s, __u32 slot, __u64 dev, __u64 bytes)
{
	if (slot >= IP_MAX_SLOTS)
		return 0;
	ip_record((__u64)IP_NO_ROW << 32 | cfg(slot)->point, dev ? dev : IP_PSEUDO_NODEV, 0, bytes << 3);
	return 0;
}

/* ---- kprobe / kretprobe: one program each, cookie = slot ---- */

static __always_inline __u64 kp_arg(struct pt_regs *ctx, int i)
{
	/* Fixed-offset context loads only: the verifier refuses a ctx pointer
	 * with a computed offset, which a switch can compile into. */
	__u64 a[5] = { PT_REGS_PARM1(ctx), PT_REGS_PARM2(ctx), PT_REGS_PARM3(ctx),
		       PT_REGS_PARM4(ctx), PT_REGS_PARM5(ctx) };

	return i >= 0 && i < 5 ? a[i] : 0;
}

/* slot: the attach cookie, or the program's own (kernels before 5.15 have no
 * cookies: a kprobe program per slot, stamped out below). */
static __always_inline int kprobe_enter(struct pt_regs *ctx, __u32 slot)
{
	struct scratch *s = get_scratch();
	__u64 dev = 0, size = 0;

	if (slot >= IP_MAX_SLOTS || !s)
		return 0;
	if (cfg(slot)->dev_arg >= 0)
		dev = kp_arg(ctx, cfg(slot)->dev_arg);
	if (cfg(slot)->size_arg >= 0)
		size = kp_arg(ctx, cfg(slot)->size_arg);
	return do_enter(s, slot | IP_METHOD_KPROBE << IP_METHOD_SHIFT, dev, size, PT_REGS_SP(ctx));
}

static __always_inline int kprobe_exit(struct pt_regs *ctx, __u32 slot)
{
	struct scratch *s = get_scratch();

	if (!s || slot >= IP_MAX_SLOTS)
		return 0;
	return do_exit(s, slot | IP_METHOD_KPROBE << IP_METHOD_SHIFT, PT_REGS_RC(ctx), PT_REGS_SP(ctx));
}

SEC("kprobe")
int ip_kprobe(struct pt_regs *ctx) { return kprobe_enter(ctx, bpf_get_attach_cookie(ctx)); }

SEC("kretprobe")
int ip_kretprobe(struct pt_regs *ctx) { return kprobe_exit(ctx, bpf_get_attach_cookie(ctx)); }

/* The same, attached to many functions in one link (kprobe_multi, 5.18+: one
 * program verified once, one ftrace update for all; the cookie of each
 * function is its slot). */
SEC("kprobe.multi")
int ip_kprobe_multi(struct pt_regs *ctx) { return kprobe_enter(ctx, bpf_get_attach_cookie(ctx)); }

SEC("kretprobe.multi")
int ip_kretprobe_multi(struct pt_regs *ctx) { return kprobe_exit(ctx, bpf_get_attach_cookie(ctx)); }

/* ---- fentry / fexit / raw_tp (and kprobes without cookies): stamped out per slot ---- */

/* Argument i of a traced function (i == nargs: fexit's return value). Before
 * 5.17 (no bpf_get_func_arg), a probe read of the trampoline's frame, where the
 * arguments and the return value are stored as consecutive u64s. */
static __always_inline __u64 fn_arg(__u64 *ctx, int i)
{
	__u64 v = 0;

	if (compat & IP_COMPAT_NO_FUNC_ARG)
		bpf_probe_read_kernel(&v, sizeof(v), &ctx[i & 15]);
	else
		bpf_get_func_arg(ctx, i, &v);
	return v;
}

static __always_inline int fentry_common(__u32 slot, __u64 *ctx)
{
	struct scratch *s = get_scratch();
	__u64 dev = 0, size = 0;

	if (!s)
		return 0;
	if (cfg(slot)->dev_arg >= 0)
		dev = fn_arg(ctx, cfg(slot)->dev_arg);
	if (cfg(slot)->size_arg >= 0)
		size = fn_arg(ctx, cfg(slot)->size_arg);
	/* The trampoline keeps ctx in its frame on the kernel stack, at the same
	 * address for fentry and fexit of one call. */
	return do_enter(s, slot, dev, size, ptr_to_u64(s, ctx));
}

static __always_inline int fexit_common(__u32 slot, __u64 *ctx)
{
	struct scratch *s = get_scratch();
	__u64 ret = 0;

	if (!s)
		return 0;
	if (compat & IP_COMPAT_NO_FUNC_ARG)
		ret = fn_arg(ctx, cfg(slot)->nargs);
	else
		bpf_get_func_ret(ctx, &ret);
	return do_exit(s, slot, ret, ptr_to_u64(s, ctx));
}

static __always_inline __u64 tp_arg(struct bpf_raw_tracepoint_args *ctx, int i)
{
	/* Read through the helper: a direct ctx load of args[i] would raise the
	 * program's context size to i and fail to attach to tracepoints with
	 * fewer arguments. */
	__u64 v = 0;

	if (i >= 0 && i < 12)
		bpf_probe_read_kernel(&v, sizeof(v), &ctx->args[i]);
	return v;
}

static __always_inline int rawtp_common(__u32 slot, struct bpf_raw_tracepoint_args *ctx)
{
	struct scratch *s = get_scratch();
	__u64 dev = 0, size = 0;

	if (!s)
		return 0;
	if (cfg(slot)->dev_arg >= 0)
		dev = tp_arg(ctx, cfg(slot)->dev_arg);
	if (cfg(slot)->size_arg >= 0)
		size = tp_arg(ctx, cfg(slot)->size_arg);
	return do_event(s, slot, dev, size);
}

/* fsession (BPF_TRACE_FSESSION, 7.0+): one program runs at the entry and at the
 * exit of a call, through one trampoline attach: half the programs to verify and
 * to attach of an fentry/fexit pair. The session cookie goes unused: the frame
 * stack (the device and the nesting a nested call inherits) is needed anyway,
 * and the exit finds its frame on top of it.
 *
 * The kfunc is declared in a build of its own (IP_FSESSION, iommuprof_fs.bpf.o),
 * loaded only where the kernel has fsession: libbpf refuses a whole object with
 * a kfunc declaration unlike the kernel's, and the kprobe session's
 * bpf_session_is_return of 6.10-6.19 takes no argument. In the other build these
 * programs exist (the two skeletons must match) and are never loaded. */
#ifdef IP_FSESSION
extern bool bpf_session_is_return(void *ctx) __weak __ksym;
#endif

static __always_inline int fsession_common(__u32 slot, __u64 *ctx)
{
#ifdef IP_FSESSION
	if (bpf_session_is_return(ctx))
		return fexit_common(slot, ctx);
#endif
	return fentry_common(slot, ctx);
}

#define SLOT(N)                                                              \
	SEC("fentry") int ip_fentry_##N(__u64 *ctx) { return fentry_common(N, ctx); } \
	SEC("fexit") int ip_fexit_##N(__u64 *ctx) { return fexit_common(N, ctx); }    \
	SEC("iommuprof.fsession") int ip_fsession_##N(__u64 *ctx) { return fsession_common(N, ctx); } \
	SEC("raw_tp") int ip_rawtp_##N(struct bpf_raw_tracepoint_args *ctx)        \
	{ return rawtp_common(N, ctx); }                                             \
	SEC("kprobe") int ip_kprobe_##N(struct pt_regs *ctx) { return kprobe_enter(ctx, N); } \
	SEC("kretprobe") int ip_kretprobe_##N(struct pt_regs *ctx) { return kprobe_exit(ctx, N); }

SLOT(0) SLOT(1) SLOT(2) SLOT(3) SLOT(4) SLOT(5) SLOT(6) SLOT(7)
SLOT(8) SLOT(9) SLOT(10) SLOT(11) SLOT(12) SLOT(13) SLOT(14) SLOT(15)
SLOT(16) SLOT(17) SLOT(18) SLOT(19) SLOT(20) SLOT(21) SLOT(22) SLOT(23)
SLOT(24) SLOT(25) SLOT(26) SLOT(27) SLOT(28) SLOT(29) SLOT(30) SLOT(31)
SLOT(32) SLOT(33) SLOT(34) SLOT(35) SLOT(36) SLOT(37) SLOT(38) SLOT(39)
SLOT(40) SLOT(41) SLOT(42) SLOT(43) SLOT(44) SLOT(45) SLOT(46) SLOT(47)
SLOT(48) SLOT(49) SLOT(50) SLOT(51) SLOT(52) SLOT(53) SLOT(54) SLOT(55)

/* fentry/fexit through a tracing multi link (BPF_TRACE_FENTRY_MULTI / _FEXIT_MULTI, seen
 * in Debian's 7.x kernels): one program for every function, verified once, loaded against
 * the kernel's bpf_multi_func; the slot is each function's cookie. */
SEC("iommuprof.fentry_multi")
int ip_fentry_multi(__u64 *ctx) { return fentry_common(bpf_get_attach_cookie(ctx) & IP_SLOT_MASK, ctx); }

SEC("iommuprof.fexit_multi")
int ip_fexit_multi(__u64 *ctx) { return fexit_common(bpf_get_attach_cookie(ctx) & IP_SLOT_MASK, ctx); }

/* At the end of a softirq no interrupt context of this CPU can be in flight:
 * hardirqs nested in the softirq have returned, and a softirq never runs inside
 * a hardirq. Frames still on an interrupt context's stack lost their exit, most
 * often to the kernel's recursion guard, which skips one of our programs when an
 * interrupt enters it again on a CPU where it was already running (a NIC's
 * softirq unmapping while dd's exit program for the same function ran). Left
 * there they would pile up until every later call of that context overflows the
 * stack (IP_STAT_DEPTH_OVERFLOW) and goes unrecorded. */
static __always_inline void drop_irq_frames(void)
{
#pragma unroll
	for (__u32 i = 0; i < IP_IRQ_CTXS; i++) {
		__u32 k = i;
		struct ip_ctx *c = bpf_map_lookup_elem(&irq_ctxs, &k);

		if (!c)
			return;
		if (c->depth) {
			stat_inc(IP_STAT_DROPPED_FRAMES, c->depth < IP_MAX_DEPTH ? c->depth : IP_MAX_DEPTH);
			c->depth = 0;
		}
	}
}

/* The softirq-in-task nesting counter: a softirq that ends after interrupt
 * contexts completed probed calls on this CPU (since the previous softirq end:
 * its own calls, and those of hardirqs that ran before it), while the task it
 * interrupted is inside a probed call of its own. ksoftirqd's softirqs run on
 * their own task and are not counted. */
static __always_inline void count_softirq_nesting(void)
{
	struct scratch *s = get_scratch();
	struct ip_ctx *tc;
	__u64 n;

	if (!s || s->irq_done == s->irq_done_mark)
		return;
	n = s->irq_done - s->irq_done_mark;
	s->irq_done_mark = s->irq_done;
	tc = task_ctx(0);
	if (tc && tc->depth) {
		stat_inc(IP_STAT_SOFTIRQ_NESTED, 1);
		stat_inc(IP_STAT_SOFTIRQ_NESTED_CALLS, n);
	}
}

/* Attached to the irq:softirq_exit tracepoint whenever function probes are. */
SEC("raw_tp")
int ip_softirq_exit(struct bpf_raw_tracepoint_args *ctx)
{
	count_softirq_nesting();
	drop_irq_frames();
	return 0;
}

/* Test hook for tests/bpf: drives the entry/exit/event logic through
 * BPF_PROG_TEST_RUN on kernels where nothing else can call it (no kprobes, no
 * trampolines). Consecutive test runs from one thread share one execution
 * context, so a sequence of enters and exits behaves like nested calls.
 * args: [0] op (0 enter, 1 exit, 2 event; for the cost benchmark
 * user/bench/bpf_cost.cpp: 3 nothing, 4 one clock read, 5 one context
 * lookup; 6: the end of a softirq; 7: enter at exactly the given stack
 * address, where 0 adjusts it to the depth), [1] slot, [2] dev or return value,
 * [3] bytes, [4] stack address naming the execution context: 0 = this task's
 * own stack (task context), anything else = an interrupt stack. Never
 * attached by iommuprof itself. */
SEC("raw_tp")
int ip_selftest(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 op = tp_arg(ctx, 0), slot = tp_arg(ctx, 1), a = tp_arg(ctx, 2), b = tp_arg(ctx, 3),
	      sp = tp_arg(ctx, 4);
	struct scratch *s = get_scratch();

	/* slot may carry a method (slot | method << IP_METHOD_SHIFT) */
	if ((slot & ((1U << IP_METHOD_SHIFT) - 1)) >= IP_MAX_SLOTS || !s)
		return 0;
	if (!sp) /* (a number: the task's stack is a pointer, and a global function takes scalars) */
		sp = opaque(s, task_stack_base() + 0x1f00);
	if (op == 0) {
		/* A nested call runs lower on the stack than its caller. */
		struct ip_ctx *c = get_ctx(sp, 0);

		if (c && c->depth <= IP_MAX_DEPTH + 4)
			sp -= (__u64)c->depth * 128;
		return do_enter(s, slot, a, b, sp);
	}
	if (op == 7) /* enter at exactly this stack address */
		return do_enter(s, slot, a, b, sp);
	if (op == 1)
		return do_exit(s, slot, a, sp);
	if (op == 2)
		return do_event(s, slot, a, b);
	if (op == 4)
		s->sp = bpf_ktime_get_ns();
	if (op == 5 && get_ctx(sp, 1))
		s->sp++;
	if (op == 6) {
		count_softirq_nesting();
		drop_irq_frames();
	}
	if (op == 8) { /* one timed call of a ns on device b, as an exit records it */
		s->rec_comp = s->rec_nested = s->rec_intr = 0;
		ip_record((__u64)IP_NO_ROW << 32 | cfg(slot)->point, b, a, 2);
	}
	return 0;
}
