// Reads what the running kernel offers: kallsyms, ftrace-able functions,
// tracepoints, BTF signatures, and whether fentry/kprobes attach (probed for
// real with bpf/features.bpf.c, since a kernel can load fentry programs and
// still refuse to attach them).
#include "kernel_view.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fmt/core.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <fcntl.h>
#include <unordered_set>
#include <vector>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string_view>
#include <sys/stat.h>

#include "iommuprof/error.hpp"
#include "proc_lines.hpp"
#include "tracing_multi.hpp"
#include "boot_cache.hpp"
#include "view_cache.hpp"

namespace iommuprof {

namespace {

bool exists(const std::string &p)
{
    struct stat st;
    return ::stat(p.c_str(), &st) == 0;
}

std::string tracefs_dir()
{
    for (const char *d : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"})
        if (exists(std::string(d) + "/available_events") || exists(std::string(d) + "/events"))
            return d;
    return "";
}

// libbpf prints its own diagnostics; keep them for the verbose mode only.
int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (level == LIBBPF_WARN && getenv("IOMMUPROF_DEBUG"))
        return vfprintf(stderr, fmt, ap);
    if (getenv("IOMMUPROF_DEBUG") && std::string_view(getenv("IOMMUPROF_DEBUG")) == "2")
        return vfprintf(stderr, fmt, ap);
    return 0;
}

const btf_type *skip_mods(const btf *b, __u32 id, __u32 *out_id = nullptr)
{
    const btf_type *t = btf__type_by_id(b, id);
    while (t && (btf_is_mod(t) || btf_is_typedef(t))) {
        id = t->type;
        t = btf__type_by_id(b, id);
    }
    if (out_id)
        *out_id = id;
    return t;
}

bool is_device_ptr(const btf *b, __u32 type_id)
{
    const btf_type *t = skip_mods(b, type_id);
    if (!t || !btf_is_ptr(t))
        return false;
    const btf_type *s = skip_mods(b, t->type);
    return s && btf_is_struct(s) && std::string_view(btf__name_by_offset(b, s->name_off)) == "device";
}

bool is_integer(const btf *b, __u32 type_id)
{
    const btf_type *t = skip_mods(b, type_id);
    return t && (btf_is_int(t) || btf_is_enum(t));
}

void fill_btf_func(const btf *b, int id, const std::string &name, KernelView &k, bool vmlinux)
{
    const btf_type *fn = btf__type_by_id(b, id);
    const btf_type *proto = btf__type_by_id(b, fn->type);
    if (!proto || !btf_is_func_proto(proto))
        return;
    BtfFunc f;
    f.btf_id = vmlinux ? id : 0;
    f.nargs = btf_vlen(proto);
    const btf_param *p = btf_params(proto);
    for (int i = 0; i < f.nargs; i++) {
        std::string_view pn = btf__name_by_offset(b, p[i].name_off);
        if (f.dev_arg < 0 && is_device_ptr(b, p[i].type))
            f.dev_arg = i;
        if (f.size_arg < 0 && (pn == "size" || pn == "mapping_size" || pn == "mapped_len") && is_integer(b, p[i].type))
            f.size_arg = i;
        if (f.nents_arg < 0 && (pn == "nents" || pn == "nelems") && is_integer(b, p[i].type))
            f.nents_arg = i;
    }
    // Arguments past the 5th are not read by the kprobe path.
    if (f.dev_arg > 4)
        f.dev_arg = -1;
    if (f.size_arg > 4)
        f.size_arg = -1;
    if (f.nents_arg > 4)
        f.nents_arg = -1;
    k.btf_funcs[name] = f;
}

// The ids of the functions named in `names` and of the tracepoint typedefs (btf_trace_EVENT)
// of `events`, among b's own types (from `first`; a module's BTF starts after vmlinux's): the
// first of each name, as btf__find_by_name_kind would find it. One pass over the types, where
// btf__find_by_name_kind scans them all again for every name (libbpf 1.1 keeps no index):
// 0.2-0.3 s under emulation for the catalog's names.
template <class Names>
std::map<std::string, int> btf_ids(const btf *b, __u32 first, const Names &names, const std::set<std::string> &events)
{
    std::map<std::string, int> ids;
    __u32 n = btf__type_cnt(b);
    for (__u32 id = first; id < n; id++) {
        const btf_type *t = btf__type_by_id(b, id);
        if (!btf_is_func(t) && !btf_is_typedef(t))
            continue;
        std::string_view name = btf__name_by_offset(b, t->name_off);
        if (btf_is_func(t) ? names.count(name) > 0
                           : name.substr(0, 10) == "btf_trace_" && events.count(std::string(name.substr(10))) > 0)
            ids.emplace(std::string(name), int(id));
    }
    return ids;
}

void fill_btf_tracepoint(const btf *b, int id, const std::string &event, KernelView &k)
{
    const btf_type *t = skip_mods(b, id);
    if (!t || !btf_is_ptr(t))
        return;
    const btf_type *proto = btf__type_by_id(b, t->type);
    if (!proto || !btf_is_func_proto(proto))
        return;
    BtfTracepoint tp;
    const btf_param *p = btf_params(proto);
    int n = btf_vlen(proto);
    for (int i = 1; i < n; i++) {  // args[0] of the typedef is void *__data
        tp.is_device_ptr.push_back(is_device_ptr(b, p[i].type));
        tp.is_integer.push_back(is_integer(b, p[i].type));
    }
    tp.nargs = n - 1;
    k.btf_tracepoints[event] = tp;
}

int kernel_version_code(const std::string &release)
{
    int a = 0, b = 0;
    sscanf(release.c_str(), "%d.%d", &a, &b);
    return a * 1000 + b;
}

}  // namespace

void setup_libbpf_logging() { libbpf_set_print(libbpf_quiet); }

void check_privileges()
{
    if (geteuid() == 0)
        return;
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (syscall(SYS_capget, &hdr, data) == 0) {
        auto has = [&](int cap) { return (data[cap / 32].effective >> (cap % 32)) & 1; };
        if (has(CAP_SYS_ADMIN) || (has(39 /* CAP_BPF */) && has(38 /* CAP_PERFMON */)))
            return;
    }
    throw Error(kExitRuntime, fmt::format("need root, or CAP_BPF and CAP_PERFMON, to load BPF programs "
                                          "(running as uid {}); try sudo",
                                          geteuid()));
}

void check_btf()
{
    if (!exists("/sys/kernel/btf/vmlinux"))
        throw Error(kExitRuntime, "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing; "
                                  "CO-RE needs CONFIG_DEBUG_INFO_BTF=y)");
}

// The feature probes' program: "return 0".
constexpr bpf_insn kReturnZero[] = {
    {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},  // r0 = 0
    {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},                    // exit
};
// Harmless functions every kernel has, for the feature probes to attach to (the first present).
constexpr const char *kProbeTargets[] = {"bpf_fentry_test1", "do_nanosleep", "vfs_read"};

static int probe_attach_features(KernelView &k, const btf *vmlinux);
static void probe_fentry_multi(KernelView &k, const btf *vmlinux);
static void probe_fsession(KernelView &k);

// A feature probe's result from an earlier start of this boot (boot_cache.hpp), else run() and
// keep what it found in ok and why when run() says it is the kernel's answer for good: the
// kernel's features do not change before a reboot, but a refusal for want of memory or of a
// privilege this caller lacks (a container, an LSM) says nothing of the next start's.
template <class F>
static void cached_probe_run(const char *name, bool &ok, std::string &why, F run)
{
    std::string dir = view_cache_dir(), key = dir.empty() ? "" : boot_cache_key();
    if (auto c = cached_probe(read_boot_cache(dir, key), name)) {
        ok = c->first;
        why = c->second;
        return;
    }
    if (run())
        write_boot_cache(dir, key, name, probe_entry(ok, why));
}

// An errno a feature probe may keep for the boot: success, or the kernel saying it has no such
// thing.
static bool lasting(int e)
{
    return e == 0 || e == EINVAL || e == ENOTSUPP || e == EOPNOTSUPP || e == ENOENT || e == E2BIG;
}

// Whether a kprobe program may call helper: a program calling it is loaded, and only the
// verifier's word for an unavailable helper ("unknown func" to 6.1, "program of this type cannot
// use helper" after; libbpf 1.1's probe knows only the first) says no.
static bool kprobe_has_helper(int helper)
{
    const bpf_insn prog[] = {
        {BPF_JMP | BPF_CALL, 0, 0, 0, helper},
        {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},
        {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
    };
    char log[4096] = "";
    LIBBPF_OPTS(bpf_prog_load_opts, lo, .log_level = 1, .log_size = sizeof(log), .log_buf = log);
    int fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "ip_feat_helper", "GPL", prog, std::size(prog), &lo);
    if (fd >= 0) {
        close(fd);
        return true;
    }
    return !strstr(log, "unknown func") && !strstr(log, "cannot use helper");
}

// What an older kernel lacks of the BPF features the programs use: helpers and map types by
// their names in the kernel's own enums (BTF).
static void probe_bpf_compat(KernelView &k, const btf *vmlinux)
{
    auto helper = [vmlinux](const char *name) { return btf_enum_value(vmlinux, "bpf_func_id", name) > 0; };
    k.task_btf = helper("BPF_FUNC_get_current_task_btf");
    // (task storage came for BPF LSM programs first, in 5.11, and for tracing programs later:
    // the helper is asked of the kernel for a kprobe program, whose helpers tracing programs share)
    k.task_storage = helper("BPF_FUNC_task_storage_get") &&
                     btf_enum_value(vmlinux, "bpf_map_type", "BPF_MAP_TYPE_TASK_STORAGE") > 0 &&
                     kprobe_has_helper(BPF_FUNC_task_storage_get);
    k.attach_cookie = helper("BPF_FUNC_get_attach_cookie");
    k.func_arg = helper("BPF_FUNC_get_func_arg") && helper("BPF_FUNC_get_func_ret");
    k.fsession_type = btf__find_by_name_kind(vmlinux, "bpf_session_is_return", BTF_KIND_FUNC) > 0
                          ? attach_type_value(vmlinux, "BPF_TRACE_FSESSION")
                          : 0;
}

std::string errstr(int e)
{
    e = e < 0 ? -e : e;
    if (e == ENOTSUPP)
        return "not supported (ENOTSUPP)";
    return strerror(e);
}

// IOMMUPROF_DEBUG: how long each part of the kernel view took.
struct Phases : DebugPhases {
    Phases() : DebugPhases("  kernel view: ", 22, false) {}
};

KernelView read_kernel_view(bool probe_features)
{
    KernelView k;
    Phases phase;
    struct utsname u;
    if (uname(&u) == 0) {
        k.release = u.release;
        k.arch = u.machine;
    }
    k.fentry_max_args = kernel_version_code(k.release) >= 6006 ? 12 : 6;
    k.global_ptr_args = kernel_version_code(k.release) >= 5012;  // (and a load failure says otherwise: session.cpp)

    // Names the catalog may ask for, to keep BTF lookups small.
    std::set<std::string, std::less<>> wanted;  // transparent: looked up by string_view, 170k times
    std::set<std::string> modules;
    for (auto &p : catalog()) {
        for (auto &g : p.groups)
            for (auto &s : g)
                wanted.insert(s.name);
        if (!p.module.empty())
            modules.insert(p.module);
    }

    for (const char *t : kProbeTargets)
        wanted.insert(t);
    for (const char *t : kCalibOuters)  // probe-effect calibration
        wanted.insert(t);
    wanted.insert(kCalibInner);
    // Keep only the names the catalog can use (clones: the part before the first '.'): kallsyms has
    // ~170k lines and storing them all costs more than the kernel takes to print them.
    // (hashed: one lookup per line of kallsyms rather than a tree walk)
    std::unordered_set<std::string_view> wanted_h(wanted.begin(), wanted.end());
    auto interesting = [&wanted_h](std::string_view name) {
        return wanted_h.count(name.substr(0, name.find('.'))) > 0;
    };

    // What kallsyms, available_filter_functions and tracefs say of those names changes only with
    // the boot and the modules: kept in /run between starts (view_cache.hpp).
    std::string tfs = tracefs_dir();
    std::string cache_dir = view_cache_dir(), cache_key = cache_dir.empty() ? "" : view_cache_key(wanted, tfs);
    std::optional<CachedView> c = read_view_cache(cache_dir, cache_key);
    if (c) {
        k.symbols = std::move(c->symbols);
        k.symbol_module = std::move(c->symbol_module);
        k.ftrace_funcs = std::move(c->ftrace_funcs);
        k.tracefs = c->tracefs;
        k.tracepoints = std::move(c->tracepoints);
        k.from_cache = true;
        phase("cached (kallsyms, ftrace)");
    } else {
        bool ks_ok = for_each_line("/proc/kallsyms", [&](std::string_view line) {
            if (line.size() < 20)
                return;
            auto l = parse_kallsyms_line(line);
            if (!l || (l->type != 't' && l->type != 'T') || !interesting(l->name))
                return;
            std::string name(l->name);
            if (!l->module.empty())
                k.symbol_module[name] = std::string(l->module);
            k.symbols.insert(std::move(name));
        });
        if (!ks_ok)
            throw Error(kExitRuntime, "cannot read /proc/kallsyms");
        phase("kallsyms");

        k.tracefs = !tfs.empty();
        if (!tfs.empty()) {
            std::set<std::string> funcs;
            if (for_each_line((tfs + "/available_filter_functions").c_str(), [&](std::string_view line) {
                    std::string_view name = line.substr(0, line.find_first_of(" \t"));
                    if (interesting(name))
                        funcs.insert(std::string(name));
                }))  // read to the end (possibly with nothing of ours in it)
                k.ftrace_funcs = std::move(funcs);
            phase("ftrace functions");
            for (auto &p : catalog())
                for (auto &t : p.tracepoints)
                    if (exists(tfs + "/events/" + t.group + "/" + t.event))
                        k.tracepoints.insert(t.full());
            phase("tracepoints");
        }
    }

    // (BTF: parsed when not kept, or when a feature probe not kept needs a type id)
    btf *vmlinux = nullptr;
    bool btf_loaded = false;
    auto load_vmlinux = [&]() -> const btf * {
        if (!btf_loaded) {
            vmlinux = btf__load_vmlinux_btf();
            btf_loaded = true;
        }
        return vmlinux;
    };
    if (c && c->btf) {
        k.have_btf = true;
        k.btf_funcs = std::move(c->btf->funcs);
        k.btf_tracepoints = std::move(c->btf->tracepoints);
        k.task_storage = c->btf->task_storage;
        k.task_btf = c->btf->task_btf;
        k.attach_cookie = c->btf->attach_cookie;
        k.func_arg = c->btf->func_arg;
        k.fsession_type = c->btf->fsession_type;
        phase("cached (BTF)");
    } else if (load_vmlinux()) {
        k.have_btf = true;
        std::set<std::string> events;
        for (auto &p : catalog())
            for (auto &t : p.tracepoints)
                events.insert(t.event);
        auto ids = btf_ids(vmlinux, 1, wanted, events);
        for (auto &[name, id] : ids)
            if (name.rfind("btf_trace_", 0) == 0)
                fill_btf_tracepoint(vmlinux, id, name.substr(10), k);
            else
                fill_btf_func(vmlinux, id, name, k, true);
        for (auto &m : modules) {
            if (!exists("/sys/kernel/btf/" + m))
                continue;
            btf *mb = btf__load_module_btf(m.c_str(), vmlinux);
            if (!mb)
                continue;
            std::set<std::string, std::less<>> names;
            for (auto &p : catalog())
                if (p.module == m)
                    for (auto &g : p.groups)
                        for (auto &s : g)
                            names.insert(s.name);
            for (auto &[name, id] : btf_ids(mb, btf__type_cnt(vmlinux), names, {}))
                fill_btf_func(mb, id, name, k, false);
            btf__free(mb);
        }
        phase("BTF");
        probe_bpf_compat(k, vmlinux);
    }
    // Kept only when complete, and when the modules did not change while it was read.
    if ((!c || (k.have_btf && !c->btf)) && (tfs.empty() || k.ftrace_funcs) &&
        cache_key == view_cache_key(wanted, tfs)) {
        std::optional<CachedBtf> b;
        if (k.have_btf)
            b = CachedBtf{k.btf_funcs,     k.btf_tracepoints, k.task_storage, k.task_btf,
                          k.attach_cookie, k.func_arg,        k.fsession_type};
        write_view_cache(cache_dir, CachedView{cache_key, k.symbols, k.symbol_module, k.ftrace_funcs, k.tracefs,
                                               k.tracepoints, b});
    }
    if (k.have_btf) {
        if (probe_features) {
            // (the kernel's BTF only when multi links are asked for; else it says why not)
            probe_fentry_multi(k, getenv("IOMMUPROF_FENTRY_MULTI") ? load_vmlinux() : nullptr);
            if (!k.fentry_multi)
                probe_fsession(k);
            if (k.fentry_multi || k.fsession)
                k.fentry = true;  // (a trampoline attached: no need to try a single one)
            else
                cached_probe_run("fentry probe", k.fentry, k.fentry_why, [&] {
                    if (load_vmlinux())
                        return lasting(probe_attach_features(k, vmlinux));
                    k.fentry_why = "no fentry (no kernel BTF)";
                    return true;
                });
        } else
            k.fentry = true;  // assumed; confirmed at attach time
        phase("fentry probe");
    } else {
        k.fentry_why = "no fentry (no kernel BTF)";
    }
    btf__free(vmlinux);

    // kprobes: the perf "kprobe" PMU is what libbpf uses, and what
    // CONFIG_KPROBES=n kernels lack.
    if (exists("/sys/bus/event_source/devices/kprobe/type")) {
        k.kprobes = true;
    } else {
        k.kprobes_why = "no kprobes (no kprobe PMU: CONFIG_KPROBES unset)";
    }
    if (!k.kprobes)
        k.kprobe_multi_why = "no kprobes";
    else
        k.kprobe_multi_why = "kprobe_multi not checked: no kprobe planned";  // (probe_kprobe_multi)
    return k;
}

// A 2-instruction kprobe_multi program attached to one harmless function and detached: the
// kernel has kprobe_multi links (5.18+) and fprobe (CONFIG_FPROBE). Asked only when the plan
// has kprobes: the attach and detach are an ftrace update each (0.15 s under emulation).
static int kprobe_multi_attach(KernelView &k);

void probe_kprobe_multi(KernelView &k)
{
    if (!k.kprobes)
        return;
    if (getenv("IOMMUPROF_NO_KPROBE_MULTI")) {
        k.kprobe_multi_why = "IOMMUPROF_NO_KPROBE_MULTI is set";
        return;
    }
    cached_probe_run("kprobe_multi probe", k.kprobe_multi, k.kprobe_multi_why,
                     [&] { return lasting(kprobe_multi_attach(k)); });
}

// (0, or the errno of the refusal)
static int kprobe_multi_attach(KernelView &k)
{
    Phases phase;
    const char *target = nullptr;
    for (const char *t : {"do_nanosleep", "vfs_read"})
        if (k.symbols.count(t)) {
            target = t;
            break;
        }
    if (!target) {
        k.kprobe_multi_why = "no kprobe_multi (no probe target)";
        return 0;
    }
    LIBBPF_OPTS(bpf_prog_load_opts, lo, .expected_attach_type = BPF_TRACE_KPROBE_MULTI);
    int fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "ip_feat_kpm", "GPL", kReturnZero, std::size(kReturnZero), &lo);
    if (fd < 0) {
        int e = errno;
        k.kprobe_multi_why = fmt::format("no kprobe_multi (kernel refuses the program type: {})", strerror(e));
        return e;
    }
    const char *syms[] = {target};
    LIBBPF_OPTS(bpf_link_create_opts, o);
    o.kprobe_multi.syms = syms;
    o.kprobe_multi.cnt = 1;
    int link = bpf_link_create(fd, 0, BPF_TRACE_KPROBE_MULTI, &o), e = 0;
    if (link < 0) {
        e = errno;
        k.kprobe_multi_why = fmt::format("no kprobe_multi (attach failed: {})",
                                         e == ENOTSUPP || e == EOPNOTSUPP ? "not supported: CONFIG_FPROBE unset" : strerror(e));
    } else {
        k.kprobe_multi = true;
        k.kprobe_multi_why.clear();
        close(link);
    }
    close(fd);
    phase("kprobe_multi probe");
    return e;
}

// A 2-instruction program of each multi attach type, loaded without a target, and the fentry
// one linked to one harmless function and closed.
static void probe_fentry_multi(KernelView &k, const btf *vmlinux)
{
    Phases phase;
    // Not by default: one program then serves every function, and the kernel skips a program
    // already running on the CPU, so an interrupt that enters any probed function while a probe
    // runs loses that call (2 % of the calls on the 7.x network lab cell, where per-function
    // programs lose none). Faster to attach, less true: asked for.
    if (!getenv("IOMMUPROF_FENTRY_MULTI")) {
        k.fentry_multi_why = "not used unless IOMMUPROF_FENTRY_MULTI=1: one shared program loses the calls "
                             "interrupts make while it runs";
        return;
    }
    if (!vmlinux) {
        k.fentry_multi_why = "no tracing multi links (no kernel BTF)";
        return;
    }
    k.fentry_multi_type = attach_type_value(vmlinux, "BPF_TRACE_FENTRY_MULTI");
    k.fexit_multi_type = attach_type_value(vmlinux, "BPF_TRACE_FEXIT_MULTI");
    if (!k.fentry_multi_type || !k.fexit_multi_type) {
        k.fentry_multi_why = "no tracing multi links (BPF_TRACE_FENTRY_MULTI is not in this kernel's BTF)";
        return;
    }
    int target = -1;
    for (const char *t : kProbeTargets)
        if (k.symbols.count(t) && (!k.ftrace_funcs || k.ftrace_funcs->count(t)) &&
            (target = btf__find_by_name_kind(vmlinux, t, BTF_KIND_FUNC)) > 0)
            break;
    if (target <= 0) {
        k.fentry_multi_why = "no tracing multi links (no probe target in BTF)";
        return;
    }
    int fds[2] = {-1, -1};
    const int types[2] = {k.fentry_multi_type, k.fexit_multi_type};
    for (int i = 0; i < 2; i++) {
        LIBBPF_OPTS(bpf_prog_load_opts, lo, .expected_attach_type = (bpf_attach_type)types[i]);
        fds[i] = bpf_prog_load(BPF_PROG_TYPE_TRACING, "ip_feat_tmulti", "GPL", kReturnZero, std::size(kReturnZero), &lo);
        if (fds[i] < 0) {
            k.fentry_multi_why = fmt::format("no tracing multi links (kernel refuses the program: {})", strerror(errno));
            break;
        }
    }
    if (fds[0] >= 0 && fds[1] >= 0) {
        int link = tracing_multi_link(fds[0], k.fentry_multi_type, {__u32(target)}, {0});
        if (link < 0) {
            k.fentry_multi_why = fmt::format("no tracing multi links (attach failed: {})", errstr(errno));
        } else {
            k.fentry_multi = true;
            close(link);
        }
    }
    for (int fd : fds)
        if (fd >= 0)
            close(fd);
    phase("tracing multi probe");
}

// "return 0" loaded as a tracing program of attach type `type` on the kernel function `btf_id`,
// attached and detached: what the feature probes try (no second copy of the kernel BTF parsed).
struct TrialAttach {
    int load_err = 0, attach_err = 0;  // errnos
    bool ok() const { return !load_err && !attach_err; }
    int err() const { return load_err ? load_err : attach_err; }
};
static TrialAttach trial_attach(bpf_attach_type type, __u32 btf_id, const char *name)
{
    TrialAttach r;
    LIBBPF_OPTS(bpf_prog_load_opts, lo, .expected_attach_type = type, .attach_btf_id = btf_id);
    int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, name, "GPL", kReturnZero, std::size(kReturnZero), &lo);
    if (fd < 0) {
        r.load_err = errno;
        return r;
    }
    int link = bpf_link_create(fd, 0, type, nullptr);
    if (link < 0 && errno == EINVAL && type == BPF_TRACE_FENTRY)  // (before 5.11, LINK_CREATE attaches no tracing program)
        link = bpf_raw_tracepoint_open(nullptr, fd);
    if (link < 0)
        r.attach_err = errno;
    else
        close(link);
    close(fd);
    return r;
}

// A 2-instruction fsession program on a harmless function, attached and detached: where the
// kernel's BTF says it has them (the attach type and the kfunc; no BTF parsed here, the cached
// view has both). The result is kept until the next boot (boot_cache.hpp).
static int fsession_attach(KernelView &k);

static void probe_fsession(KernelView &k)
{
    if (getenv("IOMMUPROF_NO_FSESSION")) {
        k.fsession_why = "IOMMUPROF_NO_FSESSION is set";
        return;
    }
    if (!k.fsession_type) {
        k.fsession_why = "no fsession programs (before 7.0: BPF_TRACE_FSESSION is not in this kernel's BTF)";
        return;
    }
    cached_probe_run("fsession probe", k.fsession, k.fsession_why, [&] { return lasting(fsession_attach(k)); });
}

static int fsession_attach(KernelView &k)
{
    auto it = k.btf_funcs.end();
    for (const char *t : kProbeTargets)
        if ((it = k.btf_funcs.find(t)) != k.btf_funcs.end() && it->second.btf_id > 0)
            break;
    if (it == k.btf_funcs.end() || it->second.btf_id <= 0) {
        k.fsession_why = "no fsession programs (no probe target in BTF)";
        return 0;
    }
    TrialAttach r = trial_attach(bpf_attach_type(k.fsession_type), __u32(it->second.btf_id), "ip_feat_fsess");
    if (r.load_err)
        k.fsession_why = fmt::format("no fsession programs (kernel refuses the program: {})", errstr(r.load_err));
    else if (r.attach_err)
        k.fsession_why = fmt::format("no fsession programs (attach failed: {})", errstr(r.attach_err));
    k.fsession = r.ok();
    return r.err();
}

// (0, or the errno of the refusal)
static int probe_attach_features(KernelView &k, const btf *vmlinux)
{
    // A 2-instruction fentry program on a harmless, always present, ftrace-able function.
    int target = -1;
    for (const char *t : kProbeTargets)
        if (k.symbols.count(t) && (target = btf__find_by_name_kind(vmlinux, t, BTF_KIND_FUNC)) > 0)
            break;
    if (target <= 0) {
        k.fentry_why = "no fentry (no probe target in BTF)";
        return 0;
    }
    TrialAttach r = trial_attach(BPF_TRACE_FENTRY, __u32(target), "ip_feat_fentry");
    if (r.load_err)
        k.fentry_why = fmt::format("no fentry (kernel refuses fentry programs: {}; no BPF trampolines)",
                                   strerror(r.load_err));
    else if (r.attach_err)
        k.fentry_why = fmt::format("no fentry (trampoline attach failed: {})",
                                   r.attach_err == ENOTSUPP ? "not supported" : strerror(r.attach_err));
    k.fentry = r.ok();
    return r.err();
}

}  // namespace iommuprof
