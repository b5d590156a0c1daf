// `iommuprof report FILE`: render a saved profile like `top` (table, -H
// histograms, --json summary) or as OpenMetrics text for node_exporter's
// textfile collector (--openmetrics).
#include <fmt/core.h>

#include <memory>

#include "common.hpp"
#include "iommuprof/cli.hpp"
#include "iommuprof/compare.hpp"
#include "iommuprof/error.hpp"
#include "iommuprof/openmetrics.hpp"
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
};

std::string header(const Profile &p, const std::string &file)
{
    std::vector<std::string> written;
    for (const auto &kv : p.host.kernel.iommu_params)
        written.push_back(kv.written());
    std::string params = join(written, " ");
    std::string h = fmt::format("iommuprof report {}{}\n", esc(file), p.label.empty() ? "" : "  \"" + esc(p.label) + "\"");
    h += fmt::format("recorded {}  kernel {}  mode {}{}  {} on {} CPUs  (iommuprof {})\n", esc(p.created),
                     esc(p.host.kernel.release), esc(iommu_mode(p.host)), params.empty() ? "" : "  [" + esc(params) + "]",
                     units::seconds(p.snap.duration_s), p.snap.ncpus, esc(p.tool_version));
    size_t attached = 0;
    for (const auto &a : p.plan)
        attached += a.attached;
    h += fmt::format("{} of {} probe points attached\n\n", attached, p.plan.size());
    return h;
}

void run(const ReportCmd &o)
{
    if (int(o.json) + int(o.openmetrics) + int(o.hist) + int(o.folded) > 1)
        throw Error(kExitUsage, "choose one of --json, --openmetrics, --folded and -H");
    Profile p = read_profile(o.file);
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
    if (o.json) {
        nlohmann::json j = summary_document(
            p.snap, p.plan, SummaryMeta{"report", p.host.kernel.release, iommu_mode(p.host), p.label, p.tool_version});
        j["file"] = o.file;
        j["created"] = p.created;
        j["profile_version"] = p.version;
        print_out(render_json(j));
        return;
    }
    std::string out = header(p, o.file);
    out += o.hist ? render_histograms(p.snap, o.per_cpu) : render_table(p.snap, TableOptions{o.rows, false});
    out += render_compensation_note(p.snap);
    out += render_samples_line(p.snap);
    print_text(out);
}

Registrar reg(32, [](CLI::App &app) {
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
    c->add_flag("-H,--histogram", o->hist, "Show log2 latency histograms instead of the table");
    c->add_flag("--per-cpu", o->per_cpu, "With -H: one histogram per CPU instead of per device");
    c->add_option("-n,--rows", o->rows, "Show at most this many rows")->check(integer_in(0, 1000000000));
    c->callback([o] { run(*o); });
});

}  // namespace
}  // namespace iommuprof::cli
