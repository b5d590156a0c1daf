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
#include <cstring>
#include <fstream>
#include <string_view>
#include <sys/stat.h>

#include "iommuprof/error.hpp"

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

void fill_btf_func(const btf *b, const std::string &name, KernelView &k)
{
    int id = btf__find_by_name_kind(b, name.c_str(), BTF_KIND_FUNC);
    if (id <= 0)
        return;
    const btf_type *fn = btf__type_by_id(b, id);
    const btf_type *proto = btf__type_by_id(b, fn->type);
    if (!proto || !btf_is_func_proto(proto))
        return;
    BtfFunc f;
    f.nargs = btf_vlen(proto);
    const btf_param *p = btf_params(proto);
    for (int i = 0; i < f.nargs; i++) {
        std::string_view pn = btf__name_by_offset(b, p[i].name_off);
        if (f.dev_arg < 0 && is_device_ptr(b, p[i].type))
            f.dev_arg = i;
        if (f.size_arg < 0 && (pn == "size" || pn == "mapping_size" || pn == "mapped_len") && is_integer(b, p[i].type))
            f.size_arg = i;
        if (f.nents_arg < 0 && pn == "nents" && is_integer(b, p[i].type))
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

void fill_btf_tracepoint(const btf *b, const std::string &event, KernelView &k)
{
    std::string tn = "btf_trace_" + event;
    int id = btf__find_by_name_kind(b, tn.c_str(), BTF_KIND_TYPEDEF);
    if (id <= 0)
        return;
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

static void probe_attach_features(KernelView &k, const btf *vmlinux);
static void probe_kprobe_multi(KernelView &k);

std::string errstr(int e)
{
    e = e < 0 ? -e : e;
    if (e == ENOTSUPP)
        return "not supported (ENOTSUPP)";
    return strerror(e);
}

KernelView read_kernel_view(bool probe_features)
{
    KernelView k;
    struct utsname u;
    if (uname(&u) == 0) {
        k.release = u.release;
        k.arch = u.machine;
    }
    k.fentry_max_args = kernel_version_code(k.release) >= 6006 ? 12 : 6;

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

    for (const char *t : {"bpf_fentry_test1", "do_nanosleep", "vfs_read"})  // feature probe targets
        wanted.insert(t);
    for (const char *t : kCalibOuters)  // probe-effect calibration
        wanted.insert(t);
    wanted.insert(kCalibInner);
    // Keep only the names the catalog can use (clones: the part before the first '.'): kallsyms has
    // ~170k lines and storing them all costs more than the kernel takes to print them.
    auto interesting = [&wanted](std::string_view name) {
        return wanted.find(name.substr(0, name.find('.'))) != wanted.end();
    };

    std::ifstream ks("/proc/kallsyms");
    if (!ks)
        throw Error(kExitRuntime, "cannot read /proc/kallsyms");
    std::string line;
    while (std::getline(ks, line)) {
        // "ffffffff81412d90 T dma_map_phys" or "... t viommu_sync_req\t[virtio_iommu]"
        if (line.size() < 20)
            continue;
        size_t sp1 = line.find(' ');
        if (sp1 == std::string::npos || sp1 + 3 >= line.size())
            continue;
        char type = line[sp1 + 1];
        if (type != 't' && type != 'T')
            continue;
        size_t start = sp1 + 3;
        size_t end = line.find_first_of(" \t", start);
        std::string_view sv = std::string_view(line).substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (!interesting(sv))
            continue;
        std::string name(sv);
        if (end != std::string::npos) {
            size_t lb = line.find('[', end), rb = line.find(']', end);
            if (lb != std::string::npos && rb != std::string::npos && rb > lb)
                k.symbol_module[name] = line.substr(lb + 1, rb - lb - 1);
        }
        k.symbols.insert(std::move(name));
    }

    std::string tfs = tracefs_dir();
    k.tracefs = !tfs.empty();
    if (!tfs.empty()) {
        std::ifstream ff(tfs + "/available_filter_functions");
        if (ff) {
            std::set<std::string> funcs;
            while (std::getline(ff, line)) {
                std::string_view name = std::string_view(line).substr(0, line.find_first_of(" \t"));
                if (interesting(name))
                    funcs.insert(std::string(name));
            }
            if (ff.eof())  // read to the end (possibly with nothing of ours in it)
                k.ftrace_funcs = std::move(funcs);
        }
        for (auto &p : catalog())
            for (auto &t : p.tracepoints)
                if (exists(tfs + "/events/" + t.group + "/" + t.event))
                    k.tracepoints.insert(t.full());
    }

    btf *vmlinux = btf__load_vmlinux_btf();
    if (vmlinux) {
        k.have_btf = true;
        for (auto &n : wanted)
            fill_btf_func(vmlinux, n, k);
        for (auto &p : catalog())
            for (auto &t : p.tracepoints)
                fill_btf_tracepoint(vmlinux, t.event, k);
        for (auto &m : modules) {
            if (!exists("/sys/kernel/btf/" + m))
                continue;
            btf *mb = btf__load_module_btf(m.c_str(), vmlinux);
            if (!mb)
                continue;
            for (auto &p : catalog())
                if (p.module == m)
                    for (auto &g : p.groups)
                        for (auto &s : g)
                            fill_btf_func(mb, s.name, k);
            btf__free(mb);
        }
        if (probe_features)
            probe_attach_features(k, vmlinux);
        else
            k.fentry = true;  // assumed; confirmed at attach time
        btf__free(vmlinux);
    } else {
        k.fentry_why = "no fentry (no kernel BTF)";
    }

    // kprobes: the perf "kprobe" PMU is what libbpf uses, and what
    // CONFIG_KPROBES=n kernels lack.
    if (exists("/sys/bus/event_source/devices/kprobe/type")) {
        k.kprobes = true;
    } else {
        k.kprobes_why = "no kprobes (no kprobe PMU: CONFIG_KPROBES unset)";
    }
    if (!k.kprobes)
        k.kprobe_multi_why = "no kprobes";
    else if (getenv("IOMMUPROF_NO_KPROBE_MULTI"))
        k.kprobe_multi_why = "IOMMUPROF_NO_KPROBE_MULTI is set";
    else if (probe_features)
        probe_kprobe_multi(k);
    return k;
}

// A 2-instruction kprobe_multi program attached to one harmless function and detached: the
// kernel has kprobe_multi links (5.18+) and fprobe (CONFIG_FPROBE).
static void probe_kprobe_multi(KernelView &k)
{
    const char *target = nullptr;
    for (const char *t : {"do_nanosleep", "vfs_read"})
        if (k.symbols.count(t)) {
            target = t;
            break;
        }
    if (!target) {
        k.kprobe_multi_why = "no kprobe_multi (no probe target)";
        return;
    }
    LIBBPF_OPTS(bpf_prog_load_opts, lo, .expected_attach_type = BPF_TRACE_KPROBE_MULTI);
    int fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "ip_feat_kpm", "GPL", kReturnZero, std::size(kReturnZero), &lo);
    if (fd < 0) {
        k.kprobe_multi_why = fmt::format("no kprobe_multi (kernel refuses the program type: {})", strerror(errno));
        return;
    }
    const char *syms[] = {target};
    LIBBPF_OPTS(bpf_link_create_opts, o);
    o.kprobe_multi.syms = syms;
    o.kprobe_multi.cnt = 1;
    int link = bpf_link_create(fd, 0, BPF_TRACE_KPROBE_MULTI, &o);
    if (link < 0) {
        int e = errno;
        k.kprobe_multi_why = fmt::format("no kprobe_multi (attach failed: {})",
                                         e == ENOTSUPP || e == EOPNOTSUPP ? "not supported: CONFIG_FPROBE unset" : strerror(e));
    } else {
        k.kprobe_multi = true;
        close(link);
    }
    close(fd);
}

static void probe_attach_features(KernelView &k, const btf *vmlinux)
{
    // A 2-instruction fentry program ("return 0") on a harmless, always
    // present, ftrace-able function, loaded with the raw API so that no
    // second copy of the kernel BTF is parsed.
    int target = -1;
    std::string tname;
    for (const char *t : {"bpf_fentry_test1", "do_nanosleep", "vfs_read"})
        if (k.symbols.count(t) && (target = btf__find_by_name_kind(vmlinux, t, BTF_KIND_FUNC)) > 0) {
            tname = t;
            break;
        }
    if (target <= 0) {
        k.fentry_why = "no fentry (no probe target in BTF)";
        return;
    }
    LIBBPF_OPTS(bpf_prog_load_opts, lo, .expected_attach_type = BPF_TRACE_FENTRY,
                .attach_btf_id = (__u32)target);
    int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "ip_feat_fentry", "GPL", kReturnZero, std::size(kReturnZero), &lo);
    if (fd < 0) {
        int e = errno;
        k.fentry_why = fmt::format("no fentry (kernel refuses fentry programs: {}; no BPF trampolines)",
                                   strerror(e));
        return;
    }
    int link = bpf_link_create(fd, 0, BPF_TRACE_FENTRY, nullptr);
    if (link < 0) {
        int e = errno;
        k.fentry_why = fmt::format("no fentry (trampoline attach failed: {})",
                                   e == ENOTSUPP ? "not supported" : strerror(e));
    } else {
        k.fentry = true;
        close(link);
    }
    close(fd);
}

}  // namespace iommuprof
