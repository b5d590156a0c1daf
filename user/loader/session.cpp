// Session: plan -> load (settings in .rodata) -> attach -> read maps.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/core.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <algorithm>
#include <cstring>
#include <map>

#include "iommuprof.h"
#include "iommuprof.skel.h"
#include "iommuprof/error.hpp"
#include "iommuprof/session.hpp"
#include "hist_map.hpp"
#include "kernel_view.hpp"

namespace iommuprof {

namespace {

using clock_type = std::chrono::steady_clock;

// Calls f(fd, key) for every key of a map keyed by a device (__u64): devnames, devrows.
template <class F>
void for_each_dev_key(int fd, F f)
{
    __u64 key, next;
    __u64 *prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        key = next;
        prev = &key;
        f(fd, key);
    }
}

class LiveSession final : public Session {
public:
    ~LiveSession() override
    {
        for (auto *l : links_)
            bpf_link__destroy(l);
        if (skel_)
            iommuprof_bpf__destroy(skel_);
    }

    void open(const SessionOptions &opts)
    {
        auto t0 = clock_type::now();
        setup_libbpf_logging();
        check_privileges();
        check_btf();
        auto phase = [t0, last = t0](const char *what) mutable {
            if (!getenv("IOMMUPROF_DEBUG"))
                return;
            auto now = clock_type::now();
            fmt::print(stderr, "iommuprof: {:<28} {:7.3f}s (total {:.3f}s)\n", what,
                       std::chrono::duration<double>(now - last).count(),
                       std::chrono::duration<double>(now - t0).count());
            last = now;
        };
        KernelView k = read_kernel_view(true);
        phase("kernel view + feature probe");
        features_ = KernelFeatures{k.release, k.have_btf, k.fentry, k.fentry_why, k.kprobes,
                                   k.kprobes_why, k.raw_tp, k.tracefs};
        PlanOptions po{opts.force_kprobe, opts.no_tracepoints, opts.only_points};
        plan_ = make_plan(k, po);
        phase("plan");
        int err = load(k);
        phase("load (verifier)");
        if (err && !po.force_kprobe) {
            // A fentry target the verifier refused: redo the plan on kprobes.
            po.force_kprobe = true;
            plan_ = make_plan(k, po);
            err = load(k);
        }
        if (err)
            throw Error(kExitRuntime, fmt::format("loading the BPF programs failed: {} "
                                                  "(set IOMMUPROF_DEBUG=1 for the verifier log)",
                                                  errstr(err)));
        attach(k);
        phase("attach");
        attached_at_ = clock_type::now();
        attach_s_ = std::chrono::duration<double>(attached_at_ - t0).count();
        for (auto &e : plan_.entries)
            attachments_.push_back(e.att);
        int n = 0;
        for (auto &a : attachments_)
            n += a.attached;
        if (n == 0) {
            std::string why;
            for (auto &a : attachments_)
                if (a.point == "dma_map" || a.point == "iommu_map")
                    why += fmt::format("; {}: {}", a.point, a.reason);
            throw Error(kExitRuntime, "no probe point could be attached" + why);
        }
        ncpus_ = int(sysconf(_SC_NPROCESSORS_ONLN));
        possible_ = libbpf_num_possible_cpus();
    }

    Snapshot snapshot() override
    {
        Snapshot s;
        s.duration_s = std::chrono::duration<double>(clock_type::now() - attached_at_).count();
        s.ncpus = ncpus_;
        s.points = plan_.points;
        read_devnames();
        read_hists(s);
        read_stats(s);
        return s;
    }

    const std::vector<Attachment> &plan() const override { return attachments_; }
    double attach_seconds() const override { return attach_s_; }
    const KernelFeatures &features() const override { return features_; }

private:
    int load(const KernelView &k)
    {
        if (skel_) {
            iommuprof_bpf__destroy(skel_);
            skel_ = nullptr;
        }
        slots_.clear();
        skel_ = iommuprof_bpf__open();
        if (!skel_)
            return -errno;
        bpf_object *obj = skel_->obj;
        bpf_program *p;
        bpf_object__for_each_program(p, obj) bpf_program__set_autoload(p, false);

        bool need_kprobe = false;
        int slot = 0;
        for (auto &e : plan_.entries) {
            e.att.attached = false;
            if (e.att.method == Method::Unavailable)
                continue;
            if (slot >= IP_MAX_SLOTS) {
                e.att.method = Method::Unavailable;
                e.att.reason = fmt::format("more than {} attachments", IP_MAX_SLOTS);
                continue;
            }
            ip_slot_cfg &c = skel_->rodata->slot_cfg[slot];
            c.point = unsigned(e.point_id);
            c.dev_arg = (signed char)e.dev_arg;
            c.size_arg = (signed char)e.size_arg;
            c.ret_kind = (unsigned char)e.ret_kind;
            c.flags = (unsigned char)e.flags;
            slots_[&e - plan_.entries.data()] = slot;
            if (e.att.method == Method::Fentry) {
                auto *en = prog(fmt::format("ip_fentry_{}", slot));
                auto *ex = prog(fmt::format("ip_fexit_{}", slot));
                bpf_program__set_autoload(en, true);
                bpf_program__set_autoload(ex, true);
                if (bpf_program__set_attach_target(en, 0, e.att.symbol.c_str()) ||
                    bpf_program__set_attach_target(ex, 0, e.att.symbol.c_str()))
                    return -ENOENT;
                need_kprobe |= e.kprobe_fallback;
            } else if (e.att.method == Method::Kprobe) {
                need_kprobe = true;
            } else if (e.att.method == Method::Tracepoint) {
                bpf_program__set_autoload(prog(fmt::format("ip_rawtp_{}", slot)), true);
            }
            slot++;
        }
        // Preallocated per possible CPU: bounded memory on hosts with many CPUs.
        int ncpu = libbpf_num_possible_cpus();
        unsigned possible = ncpu > 0 ? unsigned(ncpu) : 1u;
        bpf_map__set_max_entries(skel_->maps.hists, ip_hist_entries_for(possible));
        // One column per timed point in use, plus the outermost total (see iommuprof.h).
        point_of_col_.clear();
        for (auto &e : plan_.entries) {
            if (!slots_.count(&e - plan_.entries.data()) || e.att.method == Method::Tracepoint)
                continue;
            unsigned pt = unsigned(e.point_id) & (IP_MAX_POINTS - 1);
            if (!skel_->rodata->col_of_point[pt]) {
                point_of_col_.push_back(pt);
                skel_->rodata->col_of_point[pt] = (__u8)point_of_col_.size();
            }
        }
        point_of_col_.push_back(IP_POINT_TOPLEVEL);
        skel_->rodata->col_of_point[IP_POINT_TOPLEVEL] = (__u8)point_of_col_.size();
        ncols_ = unsigned(point_of_col_.size());
        nrows_ = ip_rows_for(possible, ncols_);
        skel_->rodata->ncols = ncols_;
        skel_->rodata->nrows = nrows_;
        bpf_map__set_max_entries(skel_->maps.rows, std::max(1u, nrows_ * ncols_));
        if (need_kprobe && k.kprobes) {
            bpf_program__set_autoload(skel_->progs.ip_kprobe, true);
            bpf_program__set_autoload(skel_->progs.ip_kretprobe, true);
        }
        return iommuprof_bpf__load(skel_);
    }

    bpf_program *prog(const std::string &name)
    {
        return bpf_object__find_program_by_name(skel_->obj, name.c_str());
    }

    // Exit side first, so no entry is left without its exit; an exit
    // without entry is only counted (unmatched_exit).
    bool attach_kprobe(PlanEntry &e, int slot, std::string &err)
    {
        if (!bpf_program__autoload(skel_->progs.ip_kprobe)) {
            err = "kprobes unavailable";
            return false;
        }
        LIBBPF_OPTS(bpf_kprobe_opts, ro, .bpf_cookie = (__u64)slot, .retprobe = true);
        bpf_link *x = bpf_program__attach_kprobe_opts(skel_->progs.ip_kretprobe, e.att.symbol.c_str(), &ro);
        if (!x) {
            err = "kretprobe: " + errstr(errno);
            return false;
        }
        LIBBPF_OPTS(bpf_kprobe_opts, eo, .bpf_cookie = (__u64)slot, .retprobe = false);
        bpf_link *n = bpf_program__attach_kprobe_opts(skel_->progs.ip_kprobe, e.att.symbol.c_str(), &eo);
        if (!n) {
            err = "kprobe: " + errstr(errno);
            bpf_link__destroy(x);
            return false;
        }
        links_.push_back(x);
        links_.push_back(n);
        return true;
    }

    void attach(KernelView &k)
    {
        for (size_t i = 0; i < plan_.entries.size(); i++) {
            auto &e = plan_.entries[i];
            auto it = slots_.find(i);
            if (it == slots_.end())
                continue;
            int slot = it->second;
            std::string err;
            if (e.att.method == Method::Fentry) {
                bpf_link *x = bpf_program__attach_trace(prog(fmt::format("ip_fexit_{}", slot)));
                int ex = x ? 0 : errno;
                bpf_link *n = x ? bpf_program__attach_trace(prog(fmt::format("ip_fentry_{}", slot))) : nullptr;
                if (x && !n)
                    ex = errno;
                if (x && n) {
                    links_.push_back(x);
                    links_.push_back(n);
                    e.att.attached = true;
                    continue;
                }
                if (x)
                    bpf_link__destroy(x);
                err = "fentry attach failed: " + errstr(ex);
                if (e.kprobe_fallback && attach_kprobe(e, slot, err)) {
                    e.att.method = Method::Kprobe;
                    e.att.reason = "kprobe/kretprobe: " + err;
                    e.att.attached = true;
                    continue;
                }
                e.att.reason += "; " + err;
            } else if (e.att.method == Method::Kprobe) {
                if (attach_kprobe(e, slot, err)) {
                    e.att.attached = true;
                    continue;
                }
                e.att.reason += "; attach failed: " + err;
            } else if (e.att.method == Method::Tracepoint) {
                bpf_link *l = bpf_program__attach_raw_tracepoint(prog(fmt::format("ip_rawtp_{}", slot)),
                                                                 e.tp_event.c_str());
                if (l) {
                    links_.push_back(l);
                    e.att.attached = true;
                    continue;
                }
                e.att.reason += "; attach failed: " + errstr(errno);
            }
            e.att.method = Method::Unavailable;
        }
        (void)k;
    }

    std::string device_name(__u64 dev)
    {
        if (dev == IP_PSEUDO_NODEV)
            return "[no-device]";
        if (dev == IP_PSEUDO_FQ)
            return "[flush-queue]";
        auto it = devnames_.find(dev);
        if (dev < IP_PSEUDO_LIMIT && (dev & IP_PSEUDO_VFIO_BASE))
            return fmt::format("[vfio:{}]", it != devnames_.end() ? it->second
                                                                 : std::to_string(dev & 0xffffffffu));
        if (it != devnames_.end())
            return it->second;
        return fmt::format("dev@{:#x}", dev);
    }

    void read_devnames()
    {
        char name[IP_DEVNAME_LEN + 1];
        for_each_dev_key(bpf_map__fd(skel_->maps.devnames), [&](int fd, __u64 key) {
            if (devnames_.count(key))
                return;
            memset(name, 0, sizeof(name));
            if (bpf_map_lookup_elem(fd, &key, name) == 0)
                devnames_[key] = name;
        });
    }

    void add_cells(Snapshot &s, const ip_hist_key &k, const ip_hist *per_cpu)
    {
        std::string point = k.point == IP_POINT_TOPLEVEL ? std::string(kTotalPoint)
                            : k.point < catalog().size() ? catalog()[k.point].name
                                                         : fmt::format("point{}", k.point);
        std::string dev = device_name(k.dev);
        for (int cpu = 0; cpu < possible_; cpu++) {
            const ip_hist &h = per_cpu[cpu];
            if (!h.count)
                continue;
            Cell c{point, dev, cpu, {}};
            c.hist.count = h.count;
            c.hist.sum_ns = h.sum_ns;
            c.hist.bytes = h.bytes;
            c.hist.errors = h.errors;
            c.hist.max_ns = h.max_ns;
            for (int b = 0; b < kBuckets && b < IP_BUCKETS; b++)
                c.hist.buckets[b] = h.buckets[b];
            s.cells.push_back(std::move(c));
        }
    }

    // The rows in use: row -> device from devrows, cell row * ncols + col.
    void read_rows(Snapshot &s)
    {
        unsigned used = std::min(skel_->bss->next_row, nrows_);
        if (!used)
            return;
        // A row never changes its device: read devrows again only when rows were added.
        if (dev_of_row_.size() < used)
            for_each_dev_key(bpf_map__fd(skel_->maps.devrows), [&](int fd, __u64 key) {
                __u32 row;
                if (bpf_map_lookup_elem(fd, &key, &row) == 0 && row < nrows_)
                    dev_of_row_[row] = key;
            });
        read_row_cells(bpf_map__fd(skel_->maps.rows), possible_, used * ncols_,
                       [&](__u32 idx, const ip_hist *per_cpu) {
                           auto it = dev_of_row_.find(idx / ncols_);
                           if (it == dev_of_row_.end())
                               return;  // a row lost in a race: never written
                           ip_hist_key k{point_of_col_[idx % ncols_], 0, it->second};
                           add_cells(s, k, per_cpu);
                       });
    }

    void read_hists(Snapshot &s)
    {
        read_rows(s);
        read_hist_map(bpf_map__fd(skel_->maps.hists), possible_,
                      [&](const ip_hist_key &k, const ip_hist *per_cpu) { add_cells(s, k, per_cpu); });
    }

    void read_stats(Snapshot &s)
    {
        int fd = bpf_map__fd(skel_->maps.stats);
        std::vector<__u64> v(possible_);
        auto total = [&](__u32 k) {
            __u64 sum = 0;
            if (bpf_map_lookup_elem(fd, &k, v.data()) == 0)
                for (auto x : v)
                    sum += x;
            return sum;
        };
        s.counters.hist_full = total(IP_STAT_HIST_FULL);
        s.counters.devname_full = total(IP_STAT_DEVNAME_FULL);
        s.counters.ctx_full = total(IP_STAT_CTX_FULL);
        s.counters.depth_overflow = total(IP_STAT_DEPTH_OVERFLOW);
        s.counters.unmatched_exit = total(IP_STAT_UNMATCHED_EXIT);
        s.counters.dropped_frames = total(IP_STAT_DROPPED_FRAMES);
        s.counters.migrated = total(IP_STAT_MIGRATED);
    }

    iommuprof_bpf *skel_ = nullptr;
    KernelFeatures features_;
    Plan plan_;
    std::map<size_t, int> slots_;  // plan entry index -> slot
    std::vector<unsigned> point_of_col_;  // rows map: column -> point id
    unsigned ncols_ = 1, nrows_ = 0;
    std::map<__u32, __u64> dev_of_row_;  // rows map: row -> device (devrows), cached
    std::vector<bpf_link *> links_;
    std::vector<Attachment> attachments_;
    std::map<__u64, std::string> devnames_;
    clock_type::time_point attached_at_;
    double attach_s_ = 0;
    int ncpus_ = 1;
    int possible_ = 1;
};

}  // namespace

std::unique_ptr<Session> Session::open(const SessionOptions &opts)
{
    auto s = std::make_unique<LiveSession>();
    s->open(opts);
    return s;
}

}  // namespace iommuprof
