// iommuprof-empty-probes: attach empty BPF programs (bpf/empty.bpf.c) to the
// functions and tracepoints an `iommuprof probes --json` plan reports as
// attached, hold them until SIGINT/SIGTERM, detach. The floor of the overhead
// benchmark (scripts/bench-overhead): what the attach mechanism alone costs.
//
//   iommuprof-empty-probes --plan probes.json            same method per function as iommuprof
//   iommuprof-empty-probes --plan probes.json --kprobe   kprobe/kretprobe on every function
//
// Prints one line "ready fentry=N kprobe=N tracepoint=N seconds=S" on stdout
// once everything is attached. Exits 1 if any attachment fails: a floor on a
// different set of functions would compare nothing.
#include <bpf/libbpf.h>
#include <fmt/core.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "empty.skel.h"
#include "../loader/tracing_multi.hpp"
#include "iommuprof.h"

namespace {

[[noreturn]] void die(const std::string &msg, int code = 1)
{
    fmt::print(stderr, "iommuprof-empty-probes: {}\n", msg);
    exit(code);
}

int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (level == LIBBPF_DEBUG || !getenv("IOMMUPROF_DEBUG"))
        return 0;
    return vfprintf(stderr, fmt, ap);
}

struct Target {
    std::string method;  // fentry | kprobe | tracepoint
    std::string symbol;
};

void usage()
{
    fmt::print(stderr,
               "usage: iommuprof-empty-probes --plan FILE [--kprobe] [--pairs] [--no-tracepoints] [--duration SECS]\n"
               "  --plan FILE        output of `iommuprof probes --json` (- for stdin)\n"
               "  --kprobe           kprobe/kretprobe on every function (default: iommuprof's method)\n"
               "  --pairs            an fentry and an fexit program per function, whatever the plan used\n"
               "                     (tracing multi links, fsession programs)\n"
               "  --no-tracepoints   skip the raw tracepoints of the plan\n"
               "  --duration SECS    detach after SECS (default: on SIGINT/SIGTERM)\n");
}

}  // namespace

int main(int argc, char **argv)
{
    std::string plan_path;
    bool force_kprobe = false, no_tp = false, pairs = false;
    double duration = -1;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--plan" && i + 1 < argc)
            plan_path = argv[++i];
        else if (a == "--kprobe")
            force_kprobe = true;
        else if (a == "--pairs")
            pairs = true;
        else if (a == "--no-tracepoints")
            no_tp = true;
        else if (a == "--duration" && i + 1 < argc)
            duration = atof(argv[++i]);
        else if (a == "-h" || a == "--help") {
            usage();
            return 0;
        } else {
            usage();
            return 2;
        }
    }
    if (plan_path.empty()) {
        usage();
        return 2;
    }
    auto t0 = std::chrono::steady_clock::now();
    libbpf_set_print(libbpf_log);

    nlohmann::json plan;
    try {
        if (plan_path == "-") {
            plan = nlohmann::json::parse(std::cin);
        } else {
            std::ifstream f(plan_path);
            if (!f)
                die(plan_path + ": cannot open", 2);
            plan = nlohmann::json::parse(f);
        }
    } catch (const std::exception &e) {
        die(plan_path + ": " + e.what(), 2);
    }
    // The plan's fentry functions went through tracing multi links: so do the empty programs.
    bool multi = plan.contains("features") && plan["features"].value("fentry_multi", false) && !force_kprobe && !pairs;
    // ... or as fsession programs: so do the empty ones (the attach type is the kernel's).
    bool fsession = !multi && plan.contains("features") && plan["features"].value("fsession", false) && !force_kprobe && !pairs;
    int fsession_type = 0;
    if (fsession) {
        btf *vm = btf__load_vmlinux_btf();
        fsession_type = vm ? iommuprof::attach_type_value(vm, "BPF_TRACE_FSESSION") : 0;
        btf__free(vm);
        if (!fsession_type)
            die("the plan used fsession programs, this kernel has none");
    }
    std::vector<Target> targets;
    for (const auto &a : plan.at("attachments")) {
        if (!a.value("attached", false))
            continue;
        Target t{a.at("method").get<std::string>(), a.at("symbol").get<std::string>()};
        if (t.method == "tracepoint" && no_tp)
            continue;
        if (t.method == "fentry" && force_kprobe)
            t.method = "kprobe";
        if (t.method != "fentry" && t.method != "kprobe" && t.method != "tracepoint")
            die("unknown method '" + t.method + "' for " + t.symbol, 2);
        targets.push_back(t);
    }

    empty_bpf *skel = empty_bpf__open();
    if (!skel)
        die(fmt::format("opening the BPF object failed: {}", strerror(errno)));
    bpf_program *p;
    bpf_object__for_each_program(p, skel->obj) bpf_program__set_autoload(p, false);
    auto prog = [&](const std::string &name) {
        bpf_program *pr = bpf_object__find_program_by_name(skel->obj, name.c_str());
        if (!pr)
            die("no program " + name);
        return pr;
    };
    int slot = 0, nfentry = 0, nkprobe = 0, ntp = 0;
    std::vector<int> slot_of(targets.size(), -1);
    for (size_t i = 0; i < targets.size(); i++) {
        const Target &t = targets[i];
        if (t.method == "fentry" && multi) {
            continue;
        } else if (t.method == "fentry") {
            if (slot >= IP_MAX_SLOTS)
                die(fmt::format("more than {} fentry targets", IP_MAX_SLOTS));
            for (const char *kind : fsession ? std::vector<const char *>{"fsession"}
                                             : std::vector<const char *>{"fentry", "fexit"}) {
                bpf_program *pr = prog(fmt::format("empty_{}_{}", kind, slot));
                bpf_program__set_autoload(pr, true);
                if (fsession) {
                    bpf_program__set_type(pr, BPF_PROG_TYPE_TRACING);
                    bpf_program__set_expected_attach_type(pr, bpf_attach_type(fsession_type));
                }
                if (bpf_program__set_attach_target(pr, 0, t.symbol.c_str()))
                    die("no BTF target " + t.symbol);
            }
            slot_of[i] = slot++;
        } else if (t.method == "kprobe") {
            bpf_program__set_autoload(skel->progs.empty_kprobe, true);
            bpf_program__set_autoload(skel->progs.empty_kretprobe, true);
        } else {
            bpf_program__set_autoload(skel->progs.empty_rawtp, true);
        }
    }
    int multi_types[2] = {0, 0};
    btf *vmlinux = multi ? btf__load_vmlinux_btf() : nullptr;
    if (multi) {
        if (!vmlinux)
            die("tracing multi links: no vmlinux BTF");
        multi_types[0] = iommuprof::attach_type_value(vmlinux, "BPF_TRACE_FENTRY_MULTI");
        multi_types[1] = iommuprof::attach_type_value(vmlinux, "BPF_TRACE_FEXIT_MULTI");
        if (!multi_types[0] || !multi_types[1])
            die("the plan used tracing multi links, this kernel has none");
        bpf_program *ms[2] = {skel->progs.empty_fentry_multi, skel->progs.empty_fexit_multi};
        for (int i = 0; i < 2; i++) {
            bpf_program__set_autoload(ms[i], true);
            bpf_program__set_type(ms[i], BPF_PROG_TYPE_TRACING);
            bpf_program__set_expected_attach_type(ms[i], bpf_attach_type(multi_types[i]));
        }
    }
    if (int err = empty_bpf__load(skel))
        die(fmt::format("loading the BPF programs failed: {}", strerror(-err)));

    std::vector<bpf_link *> links;
    auto keep = [&](bpf_link *l, const std::string &what) {
        if (!l)
            die(fmt::format("attaching {} failed: {}", what, strerror(errno)));
        links.push_back(l);
    };
    std::vector<int> raw_links;
    if (multi) {  // one link pair for every fentry function, exit side first
        std::vector<__u32> ids;
        for (const Target &t : targets)
            if (t.method == "fentry") {
                int id = btf__find_by_name_kind(vmlinux, t.symbol.c_str(), BTF_KIND_FUNC);
                if (id <= 0)
                    die("no BTF id for " + t.symbol);
                ids.push_back(__u32(id));
            }
        std::vector<__u64> cookies(ids.size(), 0);
        for (int i : {1, 0}) {
            bpf_program *pr = i ? skel->progs.empty_fexit_multi : skel->progs.empty_fentry_multi;
            int fd = ids.empty() ? -1 : iommuprof::tracing_multi_link(bpf_program__fd(pr), multi_types[i], ids, cookies);
            if (!ids.empty() && fd < 0)
                die(fmt::format("attaching the tracing multi link failed: {}", strerror(errno)));
            if (fd >= 0)
                raw_links.push_back(fd);
        }
        nfentry = int(ids.size());
        btf__free(vmlinux);
    }
    // Exit side first, as iommuprof does.
    for (size_t i = 0; i < targets.size(); i++) {
        const Target &t = targets[i];
        if (t.method == "fentry" && multi) {
            continue;
        } else if (t.method == "fentry" && fsession) {
            int fd = bpf_link_create(bpf_program__fd(prog(fmt::format("empty_fsession_{}", slot_of[i]))), 0,
                                     bpf_attach_type(fsession_type), nullptr);
            if (fd < 0)
                die(fmt::format("attaching fsession:{} failed: {}", t.symbol, strerror(errno)));
            raw_links.push_back(fd);
            nfentry++;
        } else if (t.method == "fentry") {
            keep(bpf_program__attach_trace(prog(fmt::format("empty_fexit_{}", slot_of[i]))), "fexit:" + t.symbol);
            keep(bpf_program__attach_trace(prog(fmt::format("empty_fentry_{}", slot_of[i]))), "fentry:" + t.symbol);
            nfentry++;
        } else if (t.method == "kprobe") {
            LIBBPF_OPTS(bpf_kprobe_opts, ro, .retprobe = true);
            keep(bpf_program__attach_kprobe_opts(skel->progs.empty_kretprobe, t.symbol.c_str(), &ro),
                 "kretprobe:" + t.symbol);
            LIBBPF_OPTS(bpf_kprobe_opts, eo, .retprobe = false);
            keep(bpf_program__attach_kprobe_opts(skel->progs.empty_kprobe, t.symbol.c_str(), &eo),
                 "kprobe:" + t.symbol);
            nkprobe++;
        } else {
            auto colon = t.symbol.find(':');
            std::string ev = colon == std::string::npos ? t.symbol : t.symbol.substr(colon + 1);
            keep(bpf_program__attach_raw_tracepoint(skel->progs.empty_rawtp, ev.c_str()), "raw_tp:" + ev);
            ntp++;
        }
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    fmt::print("ready fentry={} kprobe={} tracepoint={} seconds={:.3f}\n", nfentry, nkprobe, ntp, secs);
    fflush(stdout);
    if (duration >= 0) {
        struct timespec ts;
        ts.tv_sec = time_t(duration);
        ts.tv_nsec = long((duration - double(ts.tv_sec)) * 1e9);
        sigtimedwait(&set, nullptr, &ts);
    } else {
        int sig;
        sigwait(&set, &sig);
    }
    for (int fd : raw_links)
        close(fd);
    for (auto *l : links)
        bpf_link__destroy(l);
    empty_bpf__destroy(skel);
    return 0;
}
