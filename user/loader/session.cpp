// Session: plan -> load (settings in .rodata) -> attach -> read maps.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/core.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>
#include <optional>

#include "iommuprof.h"
#include "iommuprof.skel.h"
#include "iommuprof/error.hpp"
#include "iommuprof/json.hpp"
#include "iommuprof/session.hpp"
#include "boot_cache.hpp"
#include "bpf_builds.hpp"
#include "hist_map.hpp"
#include "kernel_view.hpp"
#include "proc_lines.hpp"
#include "tracing_multi.hpp"
#include "sampler.hpp"
#include "view_cache.hpp"

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
        detach_all();
        if (skel_)
            iommuprof_bpf__destroy(skel_);
    }

    void detach_all()
    {
        for (auto *l : links_)
            bpf_link__destroy(l);
        for (int fd : raw_links_)
            close(fd);
        links_.clear();
        raw_links_.clear();
    }

    void open(const SessionOptions &opts)
    {
        auto t0 = clock_type::now();
        setup_libbpf_logging();
        check_privileges();
        check_btf();
        DebugPhases phase("", 28, true);
        KernelView k = read_kernel_view(true);
        phase("kernel view + feature probe");
        bool only_sampling = opts.sampling == SessionOptions::Sampling::Only;
        PlanOptions po{opts.force_kprobe, opts.no_tracepoints, opts.only_points, opts.fallback_points};
        if (only_sampling) {
            po.only_points = {""};  // no point: nothing but the sampler
            po.fallback_points.clear();
        }
        plan_ = make_plan(k, po);
        // kprobe_multi is asked only when the plan has kprobes (a fentry attach that falls back to
        // a kprobe uses a classic one).
        bool kpm_checked = false;
        auto features = [&] {
            if (!kpm_checked && std::any_of(plan_.entries.begin(), plan_.entries.end(),
                                            [](const PlanEntry &e) { return e.att.method == Method::Kprobe; })) {
                probe_kprobe_multi(k);
                kpm_checked = true;
            }
            features_ = KernelFeatures{k.release,     k.have_btf,       k.fentry,       k.fentry_why,
                                       k.kprobes,     k.kprobes_why,    k.raw_tp,       k.tracefs,
                                       k.kprobe_multi, k.kprobe_multi_why, k.fentry_multi, k.fentry_multi_why,
                                       k.fsession,    k.fsession_why,   compat_missing(k)};
            // (what the kernel has is not what this plan uses: --kprobe plans no fentry)
            if (features_.fsession && std::none_of(plan_.entries.begin(), plan_.entries.end(), [](const PlanEntry &e) {
                    return e.att.method == Method::Fentry;
                })) {
                features_.fsession = false;
                features_.fsession_why = "no fentry in the plan (the kernel has fsession programs)";
            }
        };
        features();
        phase("plan");
        bool calib = !opts.no_compensation && !getenv("IOMMUPROF_NO_CALIBRATION") && !only_sampling;
        if (calib) {  // calibrations measured by an earlier start of this boot (boot_cache.hpp)
            calib_dir_ = view_cache_dir();
            calib_key_ = calib_dir_.empty() ? "" : boot_cache_key();
            calib_cached_ = read_boot_cache(calib_dir_, calib_key_);
            if (!calib_key_.empty()) {
                size_t sz = 0;
                const void *elf = iommuprof_bpf__elf_bytes(&sz);
                calib_obj_ = bpf_object_id({static_cast<const char *>(elf), sz});
            }
        }
        // The plan's programs, and without the calibration's if they do not load: never let the
        // calibration cost the profile.
        // (each retry below starts with the calibration again: a refusal of the other programs
        // is not the calibration's)
        const bool calib_wanted = calib;
        auto load_plan = [&] {
            calib = calib_wanted;
            int e = load(k, calib);
            if (e && calib)
                e = load(k, calib = false);
            return e;
        };
        int err = load_plan();
        // A refused load: each way of loading that a kernel may refuse is given up in turn, and
        // taken up again when giving it up did not cure the refusal (the cause is elsewhere; the
        // kprobe plan below then takes the main build), except the shared multi programs.
        struct Fallback {
            bool LiveSession::*in_use;  // the way this load took
            bool LiveSession::*off;     // given up
            bool keep;                  // still given up when that did not help
        };
        for (const Fallback &f : {Fallback{&LiveSession::tm_, &LiveSession::no_tm_, true},  // one pair per function
                                  Fallback{&LiveSession::fs_, &LiveSession::no_fs_, false},  // fentry/fexit pairs
                                  // (a kernel that refuses pointer arguments to global functions)
                                  Fallback{&LiveSession::global_, &LiveSession::no_global_, false}}) {
            if (!err || !(this->*f.in_use))
                continue;
            this->*f.off = true;
            err = load_plan();
            if (err && !f.keep)
                this->*f.off = false;
        }
        phase("load (verifier)");
        if (err && !po.force_kprobe) {
            // A fentry target the verifier refused: redo the plan on kprobes.
            po.force_kprobe = true;
            plan_ = make_plan(k, po);
            features();
            err = load_plan();
        }
        if (err)
            throw Error(kExitRuntime, fmt::format("loading the BPF programs failed: {} "
                                                  "(set IOMMUPROF_DEBUG=1 for the verifier log)",
                                                  errstr(err)));
        auto loaded_features = [&] {  // what load() decided against
            if (features_.fentry_multi && !tm_) {
                features_.fentry_multi = false;
                features_.fentry_multi_why = no_tm_ ? "the verifier refused the shared programs: one program per function"
                                                    : "no fentry in the plan, or a module's function: one program per function";
            }
            if (no_global_ && k.global_ptr_args) {
                k.global_ptr_args = false;
                features_.missing = compat_missing(k);
            }
            if (features_.fsession && no_fs_) {
                features_.fsession = false;
                features_.fsession_why = "the verifier refused the fsession programs: an fentry and an fexit "
                                         "program per function";
            }
            if (features_.kprobe_multi && !kpm_) {  // (a kprobe function ftrace cannot hook)
                features_.kprobe_multi = false;
                features_.kprobe_multi_why =
                    "a planned function is outside available_filter_functions: all kprobes are classic";
            }
        };
        loaded_features();
        ncpus_ = int(sysconf(_SC_NPROCESSORS_ONLN));
        possible_ = libbpf_num_possible_cpus();
        calibrate();
        phase("calibration");
        // A fentry attach the kernel refused: its kprobe fallback is loaded only then (a reload
        // with that entry on a kprobe; at most once per entry), not at every start. The other
        // entries attach again from the reasons they had before.
        std::vector<std::string> reasons;
        for (auto &e : plan_.entries)
            reasons.push_back(e.att.reason);
        for (size_t tries = 0; tries < plan_.entries.size(); tries++) {
            std::vector<size_t> fell = attach(k);
            if (fell.empty())
                break;
            detach_all();
            phase("attach (refused)");
            for (size_t i = 0; i < plan_.entries.size(); i++)
                if (std::find(fell.begin(), fell.end(), i) == fell.end())
                    plan_.entries[i].att.reason = reasons[i];
            features();  // (the plan has kprobes now)
            if ((err = load_plan())) {  // the fallback's kprobe programs do not load: those entries go without
                for (size_t i : fell) {
                    plan_.entries[i].att.method = Method::Unavailable;
                    plan_.entries[i].att.reason += "; its kprobe programs did not load: " + errstr(err);
                }
                features();
                if ((err = load_plan()))
                    throw Error(kExitRuntime, fmt::format("loading the BPF programs again failed: {} "
                                                          "(set IOMMUPROF_DEBUG=1 for the verifier log)",
                                                          errstr(err)));
            }
            loaded_features();
            for (size_t i : fell)
                reasons[i] = plan_.entries[i].att.reason;
            phase("load (verifier)");
            calibrate();
            phase("calibration");
        }
        phase("attach");
        attached_at_ = clock_type::now();
        attach_s_ = std::chrono::duration<double>(attached_at_ - t0).count();
        for (auto &e : plan_.entries)
            attachments_.push_back(e.att);
        int n = 0;
        for (auto &a : attachments_)
            n += a.attached;
        if (opts.sampling != SessionOptions::Sampling::Off) {
            try {
                sampler_ = std::make_unique<Sampler>(opts.sample_hz, opts.late_symbols);
            } catch (const Error &e) {
                if (only_sampling)
                    throw;
                sampling_note_ = e.what();
            }
            phase("sampler");
            attached_at_ = clock_type::now();
        }
        net_base_ = read_net_ifaces();
        if (n == 0 && !only_sampling) {
            std::string why;
            for (auto &a : attachments_)
                if (a.point == "dma_map" || a.point == "iommu_map")
                    why += fmt::format("; {}: {}", a.point, a.reason);
            throw Error(kExitRuntime, "no probe point could be attached" + why);
        }
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
        std::erase_if(s.cells, [](const Cell &c) { return c.point.rfind("calib_", 0) == 0; });
        s.net = net_since(read_net_ifaces(), net_base_);
        merge_same_name(s);
        s.calibration = calibration_;
        if (sampler_) {
            try {
                s.samples = sampler_->read();
            } catch (const Error &e) {  // (late names: kallsyms unreadable) the probes' profile stands
                if (sampling_note_.empty())
                    fmt::print(stderr, "iommuprof: warning: no stack sampling beside the probes: {}\n", e.what());
                sampling_note_ = e.what();
            }
        }
        return s;
    }

    const std::vector<Attachment> &plan() const override { return attachments_; }
    double attach_seconds() const override { return attach_s_; }
    const KernelFeatures &features() const override { return features_; }
    const std::string &sampling_note() const override { return sampling_note_; }

private:
    // What this kernel lacks of the programs' BPF features, and the way taken instead.
    static std::vector<std::string> compat_missing(const KernelView &k)
    {
        std::vector<std::string> m;
        if (!k.task_storage)
            m.push_back(fmt::format("no task storage for tracing programs (5.11): the in-flight calls of tasks are "
                                    "kept in a hash map of {} threads, least recently used first out",
                                    IP_TASK_CTX_FALLBACK));
        if (!k.task_btf)
            m.push_back("no bpf_get_current_task_btf (5.11): the task's stack is found with a probe read");
        if (!k.global_ptr_args)
            m.push_back("no pointer arguments to global BPF functions (5.12): the work of an entry and an exit is "
                        "verified once for each map a call's context comes from (3x the instructions, a slower start)");
        if (!k.attach_cookie)
            m.push_back("no BPF attach cookies (5.15): a kprobe program pair per function, verified one by one");
        if (!k.func_arg)
            m.push_back("no bpf_get_func_arg (5.17): fentry arguments and return values are read from the "
                        "trampoline's frame with a probe read");
        return m;
    }

    // The calibration's two slots: fentry when the plan has fentry attachments and
    // both functions are fentry-able, kprobe when the plan has kprobes. (load() has
    // cleared the calibration state.)
    void plan_calibration(const KernelView &k, int slot, bool need_kprobe)
    {
        if (slot + 2 > IP_MAX_SLOTS)
            return;
        auto fentry_ok = [&k](const std::string &f) {
            return k.btf_funcs.count(f) && (!k.ftrace_funcs || k.ftrace_funcs->count(f));
        };
        calib_outer_fentry_.clear();
        calib_outer_kprobe_.clear();
        for (const char *o : kCalibOuters) {
            if (calib_outer_fentry_.empty() && fentry_ok(o))
                calib_outer_fentry_ = o;
            if (calib_outer_kprobe_.empty() && k.symbols.count(o))
                calib_outer_kprobe_ = o;
        }
        bool any_fentry = false;
        for (auto &e : plan_.entries)
            any_fentry |= e.att.method == Method::Fentry;
        calib_fentry_ = any_fentry && k.fentry && !calib_outer_fentry_.empty() && fentry_ok(kCalibInner);
        calib_kprobe_ = need_kprobe && k.kprobes && !calib_outer_kprobe_.empty() && k.symbols.count(kCalibInner);
        // Measured by an earlier start of this boot with the same programs and method: taken as
        // it is, and its slot's programs are neither loaded nor attached.
        for (bool fentry : {true, false}) {
            bool &measure = fentry ? calib_fentry_ : calib_kprobe_;
            if (!measure)
                continue;
            std::string name = calib_entry(fentry);
            auto m = measured_.find(name);
            if ((reuse_[fentry] = m != measured_.end() ? m->second : cached_calibration(calib_cached_, name)))
                measure = false;
        }
        if (!calib_fentry_ && !calib_kprobe_)
            return;
        calib_slot_ = slot;
        for (int i = 0; i < 2; i++) {
            ip_slot_cfg &c = skel_->rodata->slot_cfg[slot + i];
            c.point = i == 0 ? IP_POINT_CALIB_OUTER : IP_POINT_CALIB_INNER;
            c.dev_arg = c.size_arg = -1;
            c.ret_kind = IP_RET_NONE;
            c.flags = IP_F_CALIB;
            if (calib_fentry_ && !tm_)  // (tracing multi links: the shared pair, cookie = slot)
                arm_fentry(slot + i, i == 0 ? calib_outer_fentry_.c_str() : kCalibInner);
        }
    }

    int load(const KernelView &k, bool calib)
    {
        if (skel_) {
            iommuprof_bpf__destroy(skel_);
            skel_ = nullptr;
        }
        // Tracing multi links: every fentry function of the plan on one fentry and one fexit
        // program (verified once) when each is vmlinux's (the link takes vmlinux BTF ids).
        tm_ = k.fentry_multi && !no_tm_ &&
              std::any_of(plan_.entries.begin(), plan_.entries.end(),
                          [](const PlanEntry &e) { return e.att.method == Method::Fentry; });
        btf_ids_.clear();
        auto vmlinux_id = [&k](const std::string &f) {
            auto it = k.btf_funcs.find(f);
            return it == k.btf_funcs.end() ? 0 : it->second.btf_id;
        };
        for (auto &e : plan_.entries)
            if (e.att.method == Method::Fentry && !vmlinux_id(e.att.symbol))
                tm_ = false;
        if (tm_) {
            for (auto &e : plan_.entries)
                if (e.att.method == Method::Fentry)
                    btf_ids_[e.att.symbol] = __u32(vmlinux_id(e.att.symbol));
            for (const char *f : kCalibOuters)
                if (vmlinux_id(f))
                    btf_ids_[f] = __u32(vmlinux_id(f));
            if (vmlinux_id(kCalibInner))
                btf_ids_[kCalibInner] = __u32(vmlinux_id(kCalibInner));
        }
        // fsession programs: one per function for entry and exit (arm_fentry()).
        fs_ = !tm_ && k.fsession && k.fsession_type && !no_fs_;
        fsession_type_ = k.fsession_type;
        // (IOMMUPROF_TEST_LEGACY=1: that build on any kernel, for the benchmarks' comparisons)
        legacy_ = !k.global_ptr_args || no_global_ || getenv("IOMMUPROF_TEST_LEGACY");
        global_ = !legacy_;
        if (legacy_)
            fs_ = false;
        slots_.clear();
        skel_ = open_bpf_build(legacy_ ? BpfBuild::Legacy : fs_ ? BpfBuild::Fsession : BpfBuild::Main);
        if (!skel_)
            return -errno;
        bpf_object *obj = skel_->obj;
        bpf_program *p;
        bpf_object__for_each_program(p, obj) bpf_program__set_autoload(p, false);
        // THREAD_SIZE, which tells a task's own stack from an interrupt's: 16 KiB on x86_64, twice
        // that under KASAN, the page size on arm64 with 64 KiB pages.
        uint64_t stack = uint64_t{1} << IP_STACK_SHIFT;
        if (k.symbols.count("kasan_report"))
            stack *= 2;
        if (long page = sysconf(_SC_PAGESIZE); page > long(stack))
            stack = uint64_t(page);
        skel_->rodata->task_stack_size = stack;
        // Older kernels (bpf/iommuprof.h, enum ip_compat): the programs' older ways.
        skel_->rodata->compat = (k.task_btf ? 0 : IP_COMPAT_NO_TASK_BTF) | (k.func_arg ? 0 : IP_COMPAT_NO_FUNC_ARG);
        if (!k.task_storage) {  // (the map type does not exist: not created, its uses are dead code)
            skel_->rodata->task_storage_off = 1;
            bpf_map__set_autocreate(skel_->maps.task_ctxs, false);
        }

        bool any_fentry = false;
        std::vector<int> kp_slots;  // the slots planned on a kprobe
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
            if (auto it = k.btf_funcs.find(e.att.symbol); it != k.btf_funcs.end())
                c.nargs = (unsigned char)it->second.nargs;
            slots_[&e - plan_.entries.data()] = slot;
            if (e.att.method == Method::Fentry && !tm_) {
                if (arm_fentry(slot, e.att.symbol.c_str()))
                    return -ENOENT;
            } else if (e.att.method == Method::Fentry) {
                any_fentry = true;
            } else if (e.att.method == Method::Tracepoint) {
                bpf_program__set_autoload(prog(fmt::format("ip_rawtp_{}", slot)), true);
            }
            if (e.att.method == Method::Kprobe)  // (an fentry's fallback: attach() has it reloaded)
                kp_slots.push_back(slot);
            slot++;
        }
        bool need_kprobe = !kp_slots.empty();
        // kprobe_multi rides on ftrace: a function ftrace cannot hook (the plan gives it a kprobe
        // for that reason) needs a classic kprobe, and then all kprobes are classic, so that one
        // calibration fits them all.
        kpm_ = k.kprobe_multi;
        for (auto &e : plan_.entries)
            if (kpm_ && e.att.method == Method::Kprobe && k.ftrace_funcs && !k.ftrace_funcs->count(e.att.symbol))
                kpm_ = false;
        cookies_ = k.attach_cookie;
        calib_slot_ = -1;
        calib_fentry_ = calib_kprobe_ = false;
        reuse_[0] = reuse_[1] = std::nullopt;
        if (calib)
            plan_calibration(k, slot, need_kprobe);
        if (tm_ && (any_fentry || calib_fentry_)) {
            // (sections libbpf 1.1 does not know: type and attach type set here, no target)
            auto *en = skel_->progs.ip_fentry_multi, *ex = skel_->progs.ip_fexit_multi;
            for (auto *q : {en, ex}) {
                bpf_program__set_autoload(q, true);
                bpf_program__set_type(q, BPF_PROG_TYPE_TRACING);
            }
            bpf_program__set_expected_attach_type(en, bpf_attach_type(k.fentry_multi_type));
            bpf_program__set_expected_attach_type(ex, bpf_attach_type(k.fexit_multi_type));
            fentry_multi_type_ = k.fentry_multi_type;
            fexit_multi_type_ = k.fexit_multi_type;
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
        // (calibration points too: they must take the same path as the real ones)
        std::vector<unsigned> extra;
        if (calib_slot_ >= 0)
            extra = {IP_POINT_CALIB_OUTER, IP_POINT_CALIB_INNER};
        extra.push_back(IP_POINT_TOPLEVEL);
        for (unsigned pt : extra) {
            point_of_col_.push_back(pt);
            skel_->rodata->col_of_point[pt] = (__u8)point_of_col_.size();
        }
        ncols_ = unsigned(point_of_col_.size());
        nrows_ = ip_rows_for(possible, ncols_);
        skel_->rodata->ncols = ncols_;
        skel_->rodata->nrows = nrows_;
        bpf_map__set_max_entries(skel_->maps.rows, std::max(1u, nrows_ * ncols_));
        if ((need_kprobe || calib_kprobe_) && k.kprobes) {
            if (cookies_) {
                bpf_program__set_autoload(kp_prog(false), true);
                bpf_program__set_autoload(kp_prog(true), true);
            } else {  // a program pair per slot that may take a kprobe
                if (calib_kprobe_)
                    kp_slots.insert(kp_slots.end(), {calib_slot_, calib_slot_ + 1});
                for (int ks : kp_slots)
                    for (bool ret : {false, true})
                        bpf_program__set_autoload(kp_prog(ret, ks), true);
            }
        }
        // Timed calls in interrupt context: their frames are reset at the end of every softirq
        // (ip_softirq_exit in bpf/iommuprof.bpf.c), where none can be in flight.
        bool timed = false;
        for (auto &e : plan_.entries)
            timed |= slots_.count(&e - plan_.entries.data()) &&
                     (e.att.method == Method::Fentry || e.att.method == Method::Kprobe);
        bpf_program__set_autoload(skel_->progs.ip_softirq_exit, timed && k.raw_tp);
        // IOMMUPROF_VERIFIER_STATS=1: the verifier's statistics of every program on stderr
        // (instructions processed, states, time): what loading costs, program by program.
        std::vector<std::pair<bpf_program *, std::unique_ptr<char[]>>> logs;
        if (getenv("IOMMUPROF_VERIFIER_STATS")) {
            constexpr size_t kLog = 1 << 16;
            bpf_object__for_each_program(p, obj) if (bpf_program__autoload(p))
            {
                logs.emplace_back(p, std::make_unique<char[]>(kLog));
                bpf_program__set_log_buf(p, logs.back().second.get(), kLog);
                bpf_program__set_log_level(p, 4);
            }
        }
        int err = iommuprof_bpf__load(skel_);
        for (auto &[p, buf] : logs) {
            std::string_view log(buf.get());
            while (!log.empty() && log.back() == '\n')
                log.remove_suffix(1);
            size_t nl = log.rfind("\nprocessed"), vt = log.rfind("verification time ");
            std::string_view time = vt == std::string_view::npos ? "" : log.substr(vt);
            time = time.substr(0, time.find('\n'));
            fmt::print(stderr, "iommuprof: verifier: {:<22} {}{}{}\n", bpf_program__name(p),
                       nl == std::string_view::npos ? log : log.substr(nl + 1), time.empty() ? "" : "; ", time);
        }
        return err;
    }

    // slot's programs on fn, loaded: its fsession program (fs_), else its fentry and fexit pair.
    int arm_fentry(int slot, const char *fn)
    {
        std::vector<bpf_program *> ps;
        if (fs_) {
            auto *s = prog(fmt::format("ip_fsession_{}", slot));
            // (a section libbpf 1.1 does not know: the type and attach type set here, before
            // the target, which is looked up for the attach type)
            bpf_program__set_type(s, BPF_PROG_TYPE_TRACING);
            bpf_program__set_expected_attach_type(s, bpf_attach_type(fsession_type_));
            ps = {s};
        } else {
            ps = {prog(fmt::format("ip_fentry_{}", slot)), prog(fmt::format("ip_fexit_{}", slot))};
        }
        for (auto *p : ps) {
            bpf_program__set_autoload(p, true);
            if (int e = bpf_program__set_attach_target(p, 0, fn))
                return e;
        }
        return 0;
    }

    bpf_program *prog(const std::string &name)
    {
        return bpf_object__find_program_by_name(skel_->obj, name.c_str());
    }

    // The kprobe programs in use: the kprobe_multi pair where the kernel has kprobe_multi
    // links (one link may then carry many functions), the classic pair otherwise, and without
    // attach cookies (before 5.15) slot's own pair.
    bpf_program *kp_prog(bool ret, int slot = -1)
    {
        if (kpm_)
            return ret ? skel_->progs.ip_kretprobe_multi : skel_->progs.ip_kprobe_multi;
        if (!cookies_ && slot >= 0)
            return prog((ret ? "ip_kretprobe_" : "ip_kprobe_") + std::to_string(slot));
        return ret ? skel_->progs.ip_kretprobe : skel_->progs.ip_kprobe;
    }

    // One link of the kprobe (ret: kretprobe) program on fns, each with its cookie (its slot).
    bpf_link *kp_link(bool ret, const std::vector<const char *> &fns, const std::vector<__u64> &cookies)
    {
        if (kpm_) {
            LIBBPF_OPTS(bpf_kprobe_multi_opts, o, .syms = const_cast<const char **>(fns.data()),
                        .cookies = cookies.data(), .cnt = fns.size(), .retprobe = ret);
            return bpf_program__attach_kprobe_multi_opts(kp_prog(ret), nullptr, &o);
        }
        if (fns.size() != 1) {
            errno = EINVAL;
            return nullptr;
        }
        if (!cookies_) {
            LIBBPF_OPTS(bpf_kprobe_opts, o, .retprobe = ret);
            return bpf_program__attach_kprobe_opts(kp_prog(ret, int(cookies[0])), fns[0], &o);
        }
        LIBBPF_OPTS(bpf_kprobe_opts, o, .bpf_cookie = cookies[0], .retprobe = ret);
        return bpf_program__attach_kprobe_opts(kp_prog(ret), fns[0], &o);
    }

    // Exit side first, so no entry is left without its exit; an exit
    // without entry is only counted (unmatched_exit).
    bool attach_kprobes(const std::vector<const char *> &fns, const std::vector<__u64> &cookies, std::string &err)
    {
        if (!bpf_program__autoload(kp_prog(false, cookies.empty() ? -1 : int(cookies[0])))) {
            err = "kprobes unavailable";
            return false;
        }
        bpf_link *x = kp_link(true, fns, cookies);
        if (!x) {
            err = std::string(kpm_ ? "kretprobe.multi: " : "kretprobe: ") + errstr(errno);
            return false;
        }
        bpf_link *n = kp_link(false, fns, cookies);
        if (!n) {
            err = std::string(kpm_ ? "kprobe.multi: " : "kprobe: ") + errstr(errno);
            bpf_link__destroy(x);
            return false;
        }
        links_.push_back(x);
        links_.push_back(n);
        return true;
    }

    bool attach_kprobe(PlanEntry &e, int slot, std::string &err)
    {
        return attach_kprobes({e.att.symbol.c_str()}, {__u64(slot)}, err);
    }

    // With kprobe_multi, every kprobe entry of the plan in one pair of links: one ftrace update
    // for all instead of two kprobe registrations per function. When that fails (a symbol
    // kprobe_multi cannot resolve, e.g. a name two static functions share), the entries are
    // attached one by one below, and the failing one says why.
    void attach_kprobes_at_once()
    {
        std::vector<const char *> fns;
        std::vector<__u64> cookies;
        std::vector<PlanEntry *> es;
        for (size_t i = 0; i < plan_.entries.size(); i++) {
            auto &e = plan_.entries[i];
            auto it = slots_.find(i);
            if (it == slots_.end() || e.att.method != Method::Kprobe)
                continue;
            fns.push_back(e.att.symbol.c_str());
            cookies.push_back(__u64(it->second));
            es.push_back(&e);
        }
        std::string err;
        if (!kpm_ || fns.size() < 2 || !attach_kprobes(fns, cookies, err))
            return;
        for (auto *e : es) {
            e->att.attached = true;
            e->att.reason += fmt::format("; kprobe_multi: one link for all {} kprobe functions", es.size());
        }
    }

    // The fexit, then the fentry tracing multi link of fns (each with its cookie), added to out:
    // false with errno when either fails (nothing left attached).
    bool attach_fentry_multi(const std::vector<std::string> &fns, const std::vector<__u64> &cookies,
                             std::vector<int> &out)
    {
        std::vector<__u32> ids;
        for (auto &f : fns) {
            auto it = btf_ids_.find(f);
            if (it == btf_ids_.end()) {
                errno = ENOENT;
                return false;
            }
            ids.push_back(it->second);
        }
        int x = tracing_multi_link(bpf_program__fd(skel_->progs.ip_fexit_multi), fexit_multi_type_, ids, cookies);
        if (x < 0)
            return false;
        int n = tracing_multi_link(bpf_program__fd(skel_->progs.ip_fentry_multi), fentry_multi_type_, ids, cookies);
        if (n < 0) {
            int e = errno;
            close(x);
            errno = e;
            return false;
        }
        out.push_back(x);
        out.push_back(n);
        return true;
    }

    // slot's own fexit, then fentry program (one program pair per function), added to out, or
    // its fsession program (fs_), added to fds: false with errno when either fails (nothing left
    // attached).
    bool attach_fentry_pair(int slot, std::vector<bpf_link *> &out, std::vector<int> &fds)
    {
        if (fs_) {
            int l = bpf_link_create(bpf_program__fd(prog(fmt::format("ip_fsession_{}", slot))), 0,
                                    bpf_attach_type(fsession_type_), nullptr);
            if (l < 0)
                return false;
            fds.push_back(l);
            return true;
        }
        bpf_link *x = bpf_program__attach_trace(prog(fmt::format("ip_fexit_{}", slot)));
        if (!x)
            return false;
        bpf_link *n = bpf_program__attach_trace(prog(fmt::format("ip_fentry_{}", slot)));
        if (!n) {
            int e = errno;
            bpf_link__destroy(x);
            errno = e;
            return false;
        }
        out.push_back(x);
        out.push_back(n);
        return true;
    }

    // With tracing multi links, every fentry entry of the plan in one pair of links (one by one
    // below when that fails: the failing function then says why, and may fall back to a kprobe).
    void attach_fentry_at_once()
    {
        std::vector<std::string> fns;
        std::vector<__u64> cookies;
        std::vector<PlanEntry *> es;
        for (size_t i = 0; i < plan_.entries.size(); i++) {
            auto &e = plan_.entries[i];
            auto it = slots_.find(i);
            if (it == slots_.end() || e.att.method != Method::Fentry || test_refused(e))
                continue;
            fns.push_back(e.att.symbol);
            cookies.push_back(__u64(it->second));
            es.push_back(&e);
        }
        if (!tm_ || fns.empty() || !attach_fentry_multi(fns, cookies, raw_links_))
            return;
        for (auto *e : es) {
            e->att.attached = true;
            e->att.reason += fmt::format("; tracing multi link: one for all {} fentry functions", es.size());
        }
    }

    // IOMMUPROF_TEST_REFUSE_FENTRY=POINT (the lab's tests only): the fentry attach of POINT's
    // functions fails as a kernel's refusal would (EBUSY), which exercises the kprobe fallback.
    static bool test_refused(const PlanEntry &e)
    {
        const char *p = getenv("IOMMUPROF_TEST_REFUSE_FENTRY");
        if (!p || e.att.point != p)
            return false;
        errno = EBUSY;
        return true;
    }

    // The entries whose fentry attach was refused and that may take a kprobe: each is then on a
    // kprobe in the plan, and open() loads and attaches again.
    std::vector<size_t> attach(KernelView &k)
    {
        std::vector<size_t> refused;
        attach_fentry_at_once();
        attach_kprobes_at_once();
        for (size_t i = 0; i < plan_.entries.size(); i++) {
            auto &e = plan_.entries[i];
            auto it = slots_.find(i);
            if (it == slots_.end())
                continue;
            int slot = it->second;
            std::string err;
            if (e.att.method == Method::Fentry) {
                if (e.att.attached)  // (attach_fentry_at_once)
                    continue;
                if (!test_refused(e) &&
                    (tm_ ? attach_fentry_multi({e.att.symbol}, {__u64(slot)}, raw_links_)
                         : attach_fentry_pair(slot, links_, raw_links_))) {
                    if (tm_)
                        e.att.reason += "; tracing multi link";
                    else if (fs_)
                        e.att.reason += "; fsession: one program for entry and exit";
                    e.att.attached = true;
                    continue;
                }
                err = "fentry attach failed: " + errstr(errno);
                if (e.kprobe_fallback) {  // on a kprobe, after a reload (open())
                    e.att.method = Method::Kprobe;
                    e.att.reason = "kprobe/kretprobe: " + err;
                    e.kprobe_fallback = false;
                    refused.push_back(i);
                    continue;
                }
                e.att.reason += "; " + err;
            } else if (e.att.method == Method::Kprobe) {
                if (e.att.attached)  // (attach_kprobes_at_once)
                    continue;
                if (attach_kprobe(e, slot, err)) {
                    if (kpm_)
                        e.att.reason += "; kprobe_multi link";
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
        if (bpf_program__autoload(skel_->progs.ip_softirq_exit)) {
            // Without it, frames whose exit the kernel's recursion guard skipped stay until they are
            // stale (IP_STAT_DEPTH_OVERFLOW meanwhile); not worth failing the profile for.
            if (bpf_link *l = bpf_program__attach_raw_tracepoint(skel_->progs.ip_softirq_exit, "softirq_exit"))
                links_.push_back(l);
        }
        return refused;
    }

    // A device unplugged and plugged back is a new struct device with the
    // same name (0000:01:00.0): two BPF keys, one device for the user. Their
    // cells are added up, so that a profile never holds the same (point,
    // device, CPU) twice (a reader rejects that).
    static void merge_same_name(Snapshot &s)
    {
        std::map<std::tuple<std::string, std::string, int>, size_t> first;
        std::vector<Cell> out;
        out.reserve(s.cells.size());
        for (auto &c : s.cells) {
            auto [it, fresh] = first.try_emplace({c.point, c.device, c.cpu}, out.size());
            if (fresh)
                out.push_back(std::move(c));
            else
                out[it->second].hist += c.hist;
        }
        s.cells = std::move(out);
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
        std::string point = k.point == IP_POINT_TOPLEVEL       ? std::string(kTotalPoint)
                            : k.point == IP_POINT_CALIB_OUTER ? std::string("calib_outer")
                            : k.point == IP_POINT_CALIB_INNER ? std::string("calib_inner")
                            : k.point < catalog().size()      ? catalog()[k.point].name
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
            c.hist.comp_ns = h.comp_ns;
            c.hist.nested = h.nested;
            c.hist.intr_count = h.intr_count;
            c.hist.intr_sum_ns = h.intr_sum_ns;
            c.hist.entries = h.entries;
            for (int b = 0; b < kBuckets && b < IP_BUCKETS; b++)
                c.hist.buckets[b] = h.buckets[b];
            s.cells.push_back(std::move(c));
        }
    }

    // The rows in use: row -> device from devrows, cell row * ncols + col.
    void read_rows(Snapshot &s)
    {
        if (!nrows_)
            return;
        // Rows are claimed in rowclaim in no fixed order (next_row is only a hint): the rows in
        // use are those devrows names.
        std::map<__u32, __u64> dev_of_row;
        for_each_dev_key(bpf_map__fd(skel_->maps.devrows), [&](int fd, __u64 key) {
            __u32 row;
            if (bpf_map_lookup_elem(fd, &key, &row) == 0 && row < nrows_)
                dev_of_row[row] = key;
        });
        unsigned used = dev_of_row.empty() ? 0 : dev_of_row.rbegin()->first + 1;
        if (!used)
            return;
        read_row_cells(bpf_map__fd(skel_->maps.rows), possible_, used * ncols_,
                       [&](__u32 idx, const ip_hist *per_cpu) {
                           auto it = dev_of_row.find(idx / ncols_);
                           if (it == dev_of_row.end())
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
        s.counters.recursion_misses = recursion_misses();
        s.counters.softirq_nested = total(IP_STAT_SOFTIRQ_NESTED);
        s.counters.softirq_nested_calls = total(IP_STAT_SOFTIRQ_NESTED_CALLS);
        s.counters.task_ctx_fallback = total(IP_STAT_CTX_FALLBACK);
    }

    // Sum of bpf_prog_info.recursion_misses over the loaded programs: runs the kernel skipped
    // because the same program was already running on that CPU.
    uint64_t recursion_misses()
    {
        uint64_t n = 0;
        bpf_program *p;
        bpf_object__for_each_program(p, skel_->obj)
        {
            int fd = bpf_program__fd(p);
            if (fd < 0)
                continue;
            bpf_prog_info info{};
            __u32 len = sizeof(info);
            if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
                n = sat_add(n, info.recursion_misses);
        }
        return n;
    }

    // ---- probe-effect calibration ----
    // Drives getppid(2) (outer: the syscall, inner: __task_pid_nr_ns, called
    // once inside it) with the profiler's own programs attached to the outer
    // function alone, then to both, before any real probe attaches. The minimum
    // over repeats of the mean time per call gives:
    //   pair  = outer(both) - outer(alone): the whole cost of one probed call
    //           as a call around it sees it (trampolines, entry and exit);
    //   inner = min(inner(both), outer(alone)): the part of a call's own probe
    //           cost between its timestamps, plus the (small) body of the
    //           function: an upper bound, so the compensation errs low.
    // The results go to the kernel side (comp_inner / comp_pair), which then
    // subtracts them from every timed call.
    // slot's programs on fn (the fentry programs got fn as their target at load)
    // Links of the calibration: libbpf's, or raw fds (tracing multi links).
    struct CalibLinks {
        std::vector<bpf_link *> ls;
        std::vector<int> fds;
        CalibLinks() = default;
        CalibLinks(CalibLinks &&o) noexcept : ls(std::move(o.ls)), fds(std::move(o.fds)) { o.ls.clear(); o.fds.clear(); }
        CalibLinks &operator=(CalibLinks &&o) noexcept
        {
            destroy();
            ls = std::move(o.ls);
            fds = std::move(o.fds);
            o.ls.clear();
            o.fds.clear();
            return *this;
        }
        CalibLinks(const CalibLinks &) = delete;
        ~CalibLinks() { destroy(); }
        bool empty() const { return ls.empty() && fds.empty(); }
        void destroy()
        {
            for (auto *l : ls)
                bpf_link__destroy(l);
            for (int fd : fds)
                close(fd);
            ls.clear();
            fds.clear();
        }
    };

    CalibLinks attach_calib(int slot, bool fentry, const char *fn)
    {
        CalibLinks c;
        if (fentry && tm_)
            attach_fentry_multi({fn}, {__u64(slot)}, c.fds);
        else if (fentry)
            attach_fentry_pair(slot, c.ls, c.fds);
        else
            for (bool ret : {true, false}) {
                bpf_link *l = kp_link(ret, {fn}, {__u64(slot)});
                if (!l)
                    break;
                c.ls.push_back(l);
            }
        if (c.ls.size() + c.fds.size() != (fentry && fs_ ? 1u : 2u))
            c.destroy();
        return c;
    }

    // count and raw ns of the two calibration points, all CPUs
    std::pair<Hist, Hist> calib_hists()
    {
        Snapshot s;
        read_hists(s);
        Hist o, i;
        for (auto &c : s.cells) {
            if (c.point == "calib_outer")
                o += c.hist;
            else if (c.point == "calib_inner")
                i += c.hist;
        }
        return {o, i};
    }

    std::optional<Calibration> calibrate_method(bool fentry)
    {
        constexpr int kRepeats = 5;
        constexpr uint64_t kCalls = 2000;
        Calibration c;
        c.method = fentry ? "fentry" : "kprobe";
        c.repeats = kRepeats;
        c.calls = kCalls;
        const std::string &outer_fn = fentry ? calib_outer_fentry_ : calib_outer_kprobe_;
        c.functions = outer_fn + " > " + kCalibInner;
        auto fail = [&](const std::string &why) -> std::optional<Calibration> {
            calib_notes_.push_back(fmt::format("{} calibration failed: {}", c.method, why));
            return std::nullopt;
        };
        std::string miss;
        auto outer = attach_calib(calib_slot_, fentry, outer_fn.c_str());
        if (outer.empty())
            return fail(fmt::format("cannot attach to {}: {}", outer_fn, errstr(errno)));
        CalibLinks inner;
        // mean ns per call over one repeat: {outer, inner}; nullopt if a call was missed
        auto repeat = [&](bool both) -> std::optional<std::pair<double, double>> {
            auto [o0, i0] = calib_hists();
            for (uint64_t n = 0; n < kCalls; n++)
                syscall(SYS_getppid);
            auto [o1, i1] = calib_hists();
            Hist o = o1.since(o0), i = i1.since(i0);
            if (o.count < kCalls || (both && i.count < kCalls)) {
                miss = fmt::format("{} calls seen of {} ({}: {})", both ? i.count : o.count, kCalls,
                                   both ? kCalibInner : outer_fn, both ? i.count : o.count);
                return std::nullopt;
            }
            return std::pair{double(o.raw_sum_ns()) / double(o.count),
                             both ? double(i.raw_sum_ns()) / double(i.count) : 0.0};
        };
        double alone = 1e18, both_o = 1e18, both_i = 1e18;
        bool ok = true;
        for (int r = 0; r < kRepeats && ok; r++) {
            auto m = repeat(false);
            ok = m.has_value();
            if (ok)
                alone = std::min(alone, m->first);
        }
        if (ok) {
            inner = attach_calib(calib_slot_ + 1, fentry, kCalibInner);
            ok = !inner.empty();
            if (!ok)
                miss = fmt::format("cannot attach to {}: {}", kCalibInner, errstr(errno));
        }
        for (int r = 0; r < kRepeats && ok; r++) {
            auto m = repeat(true);
            ok = m.has_value();
            if (ok) {
                both_o = std::min(both_o, m->first);
                both_i = std::min(both_i, m->second);
            }
        }
        inner.destroy();
        outer.destroy();
        if (!ok)
            return fail(miss);
        c.outer_ns = alone;
        c.pair_ns = std::max(0.0, both_o - alone);
        c.inner_ns = std::max(0.0, std::min(both_i, alone));
        return c;
    }

    void calibrate()
    {
        calibration_.clear();
        calib_notes_.clear();
        if (getenv("IOMMUPROF_DEBUG"))
            fmt::print(stderr, "iommuprof: calibration slots {} fentry {} kprobe {} reused {} {}\n", calib_slot_,
                       calib_fentry_, calib_kprobe_, reuse_[1].has_value(), reuse_[0].has_value());
        // (kprobes only when the plan has some: a fentry attach that falls back to a kprobe has
        // the plan reloaded, calibration included)
        for (bool fentry : {true, false})
            if (fentry ? calib_fentry_ || reuse_[1] : calib_kprobe_ || reuse_[0])
                calibrate_one(fentry);
        if (getenv("IOMMUPROF_DEBUG"))
            for (auto &n : calib_notes_)
                fmt::print(stderr, "iommuprof: {}\n", n);
    }

    // The kernel's side of a probe pair's own cost: measured now, or reused from an earlier start.
    void calibrate_one(bool fentry)
    {
        auto c = reuse_[fentry];
        if (!c) {
            c = calibrate_method(fentry);
            if (!c)
                return;
            std::string name = calib_entry(fentry);
            write_boot_cache(calib_dir_, calib_key_, name, nlohmann::json(*c));
            measured_[name] = *c;  // (a reload takes it as measured by this start)
        }
        int m = fentry ? IP_METHOD_FENTRY : IP_METHOD_KPROBE;
        skel_->bss->comp_inner[m] = __u64(c->inner_ns + 0.5);
        skel_->bss->comp_pair[m] = __u64(c->pair_ns + 0.5);
        calibration_.push_back(*c);
    }


    // What a calibration holds for besides the boot (the cache's key): the attach method and
    // the program form (a shared program, a program per slot), the older-kernel ways (.rodata
    // compat), the programs' code.
    std::string calib_entry(bool fentry) const
    {
        std::string form = fentry ? (tm_ ? "fentry-multi" : fs_ ? "fsession" : "fentry")
                                  : (kpm_ ? "kprobe-multi" : cookies_ ? "kprobe" : "kprobe-per-slot");
        // (calib_obj_ hashes the main build's ELF: the three builds come from one source, and
        // the build in use is named here)
        return calibration_entry(fmt::format("{} compat {} task-storage {}{}", form, skel_->rodata->compat,
                                             skel_->rodata->task_storage_off ? "off" : "on",
                                             legacy_ ? " legacy" : ""),
                                 calib_obj_);
    }

    int calib_slot_ = -1;
    bool calib_fentry_ = false, calib_kprobe_ = false;
    bool kpm_ = false;  // kprobes through kprobe_multi links (load())
    bool tm_ = false;     // fentry/fexit through tracing multi links (load())
    bool no_tm_ = false;  // ... refused by the verifier: not tried again
    bool fs_ = false;     // fentry/fexit as fsession programs (load())
    bool no_fs_ = false;  // ... refused by the verifier: not tried again
    bool legacy_ = false;     // the build for kernels before 5.12 (load())
    bool global_ = true;      // !legacy_: global BPF functions with pointer arguments
    bool no_global_ = false;  // ... after the main build was refused
    int fsession_type_ = 0;
    int fentry_multi_type_ = 0, fexit_multi_type_ = 0;
    std::map<std::string, __u32> btf_ids_;  // (tm_) vmlinux BTF ids of the fentry functions
    std::vector<int> raw_links_;            // link fds libbpf does not know (tracing multi, fsession)
    std::string calib_outer_fentry_, calib_outer_kprobe_;
    std::vector<Calibration> calibration_;
    std::optional<Calibration> reuse_[2];  // [fentry]: kept from an earlier start (plan_calibration)
    std::map<std::string, nlohmann::json> calib_cached_;  // (boot_cache.hpp) by name
    std::map<std::string, Calibration> measured_;         // by this start, by calib_entry()
    std::string calib_dir_, calib_key_, calib_obj_;  // (calib_obj_: bpf_object_id() of the programs)
    std::vector<std::string> calib_notes_;
    std::unique_ptr<Sampler> sampler_;
    std::string sampling_note_;

    iommuprof_bpf *skel_ = nullptr;
    KernelFeatures features_;
    Plan plan_;
    std::map<size_t, int> slots_;  // plan entry index -> slot
    std::vector<unsigned> point_of_col_;  // rows map: column -> point id
    unsigned ncols_ = 1, nrows_ = 0;
    bool cookies_ = true;  // the kernel has BPF attach cookies (5.15)
    std::vector<bpf_link *> links_;
    std::vector<Attachment> attachments_;
    std::map<__u64, std::string> devnames_;
    clock_type::time_point attached_at_;
    std::vector<NetIface> net_base_;  // packet counters at attach (snapshots count from there)
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
