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
        print_out(render_json(probes_json(f, kernel, s->plan(), s->attach_seconds())));
    } else {
        print_text(render_probes_text(f, kernel, s->plan()));
    }
}

Registrar reg_probes(10, [](CLI::App &app) {
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
