// `iommuprof report FILE`: render a saved profile like `top` (table, -H
// histograms, --json summary) or as OpenMetrics text for node_exporter's
// textfile collector (--openmetrics).
#include <fmt/core.h>

#include <memory>
#include <optional>

#include "common.hpp"
#include "iommuprof/cli.hpp"
#include "iommuprof/compare.hpp"
#include "iommuprof/error.hpp"
#include "iommuprof/openmetrics.hpp"
#include "iommuprof/output_file.hpp"
#include "iommuprof/profile.hpp"
#include "iommuprof/render.hpp"
#include "iommuprof/units.hpp"
#include "iommuprof/strings.hpp"

namespace iommuprof::cli {
namespace {

struct ReportCmd {
    std::string file;
    bool json = false;
    bool openmetrics = false;
    bool hist = false;
    bool per_cpu = false;
    bool no_cpu_label = false;
    size_t rows = 0;
    bool raw = false;
    bool folded = false;
    std::string html;
};

void run(const ReportCmd &o)
{
    if (int(o.json) + int(o.openmetrics) + int(o.hist) + int(o.folded) > 1)
        throw Error(kExitUsage, "choose one of --json, --openmetrics, --folded and -H");
    if (!o.html.empty() && (o.folded || o.openmetrics))
        throw Error(kExitUsage, "--html goes with the table, -H or --json, not with --folded or --openmetrics");
    if (!o.html.empty())
        check_writable(o.html);
    Profile p = read_profile(o.file);
    std::optional<Verdict> v;  // the page shows the verdict too
    if (!o.html.empty())
        v = page_verdict(p, o.raw, o.file);
    if (o.raw)
        p.snap = raw_times(p.snap);
    if (o.folded) {
        if (!p.snap.samples)
            throw Error(kExitUsage, o.file + ": no stack samples in this profile (recorded with --no-sample, or "
                                             "by an iommuprof without sampling)");
        print_text(render_folded(*p.snap.samples));
        return;
    }
    if (o.openmetrics) {
        OpenMetricsOptions om;
        om.per_cpu = !o.no_cpu_label;
        om.label = p.label;
        om.plan = &p.plan;
        print_out(render_openmetrics(p.snap, p.host, om));
        return;
    }
    Document d;
    d.kind = Document::Kind::Report;
    d.profile = &p;
    d.name = o.file;
    d.histograms = o.hist;
    d.per_cpu = o.per_cpu;
    d.rows = o.rows;
    if (v) {
        d.verdict = &*v;
        write_file_atomic(o.html, render(d, Format::Html));
        d.verdict = nullptr;
        if (!o.json && !o.hist)
            return;
    }
    if (o.json)
        print_out(render(d, Format::Json));
    else
        print_text(render(d, Format::Text));
}

Registrar reg_report(32, [](CLI::App &app) {
    auto o = std::make_shared<ReportCmd>();
    auto *c = app.add_subcommand("report", "Show a saved profile like top, as JSON, or as OpenMetrics for Prometheus");
    c->add_option("file", o->file, "Profile file written by record or run")->type_name("FILE")->required();
    c->add_flag("--json", o->json, "One JSON document (the same summary as top --json)");
    add_raw_flag(c, o->raw);
    c->add_flag("--folded", o->folded,
                "Print the sampled stacks of the DMA paths as folded stacks (flamegraph.pl, speedscope)");
    c->add_flag("--openmetrics", o->openmetrics,
                "Prometheus/OpenMetrics text for node_exporter's textfile collector (docs/openmetrics.md)");
    c->add_flag("--no-cpu-label", o->no_cpu_label, "With --openmetrics: sum over CPUs (fewer series)");
    c->add_option("--html", o->html,
                  "Also write the profile, its verdict, histograms and sampled stacks as one self-contained HTML "
                  "page (no script, no request; docs/html.md); nothing else is printed unless --json or -H is given")
        ->type_name("FILE");
    c->add_flag("-H,--histogram", o->hist, "Show log2 latency histograms instead of the table");
    c->add_flag("--per-cpu", o->per_cpu, "With -H: one histogram per CPU instead of per device");
    c->add_option("-n,--rows", o->rows, "Show at most this many rows")->check(integer_in(0, 1000000000));
    c->callback([o] { run(*o); });
});

}  // namespace
}  // namespace iommuprof::cli
