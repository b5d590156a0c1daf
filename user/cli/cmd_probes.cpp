// `iommuprof probes`: the attach plan for the running kernel.
#include <fmt/core.h>

#include "common.hpp"
#include "iommuprof/catalog.hpp"
#include "iommuprof/cli.hpp"
#include "iommuprof/render.hpp"

namespace iommuprof::cli {
namespace {

struct ProbesCmd {
    bool json = false;
    bool verdict_plan = false;
    PlanFlags plan;
};

void run(const ProbesCmd &o)
{
    // The plan is proven by attaching for real and detaching at once: a
    // kernel can load fentry programs and still refuse to attach them.
    SessionOptions so = o.plan.options();
    if (o.verdict_plan && so.only_points.empty()) {
        // What record would attach on this host (its groups decide on the DMA API).
        HostFacts host = read_host_facts(HostOptions{});
        use_verdict_points(so, false, &host);
    }
    auto s = Session::open(so);
    std::string kernel = kernel_release();
    const KernelFeatures &f = s->features();
    if (o.json) {
        nlohmann::json j{{"kernel", kernel},
                         {"features",
                          {{"btf", f.btf},
                           {"fentry", f.fentry},
                           {"fentry_reason", f.fentry_why},
                           {"kprobes", f.kprobes},
                           {"kprobes_reason", f.kprobes_why},
                           {"raw_tracepoints", f.raw_tp},
                           {"tracefs", f.tracefs}}},
                         {"attach_seconds", s->attach_seconds()},
                         {"attachments", plan_json(s->plan())}};
        print_out(render_json(j));
    } else {
        auto yn = [](bool b, const std::string &why) { return b ? std::string("yes") : "NO - " + why; };
        std::string out = fmt::format("kernel {}: BTF {}; fentry/fexit {}; kprobes {}; raw tracepoints {}\n", kernel,
                                      f.btf ? "yes" : "NO", yn(f.fentry, f.fentry_why),
                                      yn(f.kprobes, f.kprobes_why), f.raw_tp ? "yes" : "NO");
        if (!f.fentry && !f.kprobes)
            out += "=> no function probes can attach on this kernel: latency cannot be measured; "
                   "counting on tracepoints only\n";
        if (!f.tracefs)
            out += "note: tracefs is not mounted (neither /sys/kernel/tracing nor /sys/kernel/debug/tracing): "
                   "which functions ftrace can hook (available_filter_functions) is not checked and tracepoints "
                   "are found from BTF; mount -t tracefs nodev /sys/kernel/tracing to check\n";
        out += render_plan_text(s->plan(), kernel);
        print_text(out);
    }
}

Registrar reg(10, [](CLI::App &app) {
    auto o = std::make_shared<ProbesCmd>();
    auto *c = app.add_subcommand("probes", "Show the attach plan for this kernel: point, symbol, method, reason");
    c->add_flag("--json", o->json, "Print one JSON document");
    c->add_flag("--verdict-plan", o->verdict_plan,
                "Only the points record, run and verdict attach by default (without --detail)");
    o->plan.add_to(c);
    c->callback([o] { run(*o); });
});

}  // namespace
}  // namespace iommuprof::cli
