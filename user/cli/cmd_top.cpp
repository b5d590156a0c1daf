// `iommuprof top`: live table (or histograms) refreshed every interval.
// --openmetrics-file: also rewrite a node_exporter textfile (cumulative
// counters since attach) every interval and once at the end.
#include <fmt/core.h>

#include <cmath>
#include <optional>

#include "common.hpp"
#include "iommuprof/cli.hpp"
#include "iommuprof/error.hpp"
#include "iommuprof/hostfacts.hpp"
#include "iommuprof/openmetrics.hpp"
#include "iommuprof/profile.hpp"
#include "iommuprof/render.hpp"

namespace iommuprof::cli {
namespace {

struct TopCmd {
    double interval = 1.0;
    double duration = 0;  // 0 = until Ctrl-C
    bool hist = false;
    bool per_cpu = false;
    bool json = false;
    size_t rows = 0;
    std::string om_file;
    bool om_given = false;
    bool no_cpu_label = false;
    bool raw = false;
    PlanFlags plan;
};

// The --openmetrics-file writer. A failed rewrite during the run is reported
// once on stderr and retried at the next interval (a full disk should not end
// a long-running exporter); a failed final write ends top with exit 1.
class OmExport {
public:
    explicit OmExport(const TopCmd &o)
        : path_(o.om_file)
    {
        // Fail before attaching: an unwritable directory is exit 1 like
        // record -o, a directory given as the file is exit 2.
        check_writable(path_, 1u << 20);
        host_ = read_host_facts(HostOptions{});
        opts_.per_cpu = !o.no_cpu_label;
    }

    void write(const Snapshot &cumulative, const std::vector<Attachment> &plan, bool last)
    {
        opts_.plan = &plan;
        try {
            write_openmetrics_file(path_, cumulative, host_, opts_);
            if (failing_)
                fmt::print(stderr, "iommuprof: {}: written again\n", path_);
            failing_ = false;
        } catch (const Error &e) {
            if (last)
                throw;
            if (!failing_)
                fmt::print(stderr, "iommuprof: warning: {} (retrying every interval)\n", e.what());
            failing_ = true;
        }
    }

private:
    std::string path_;
    HostFacts host_;
    OpenMetricsOptions opts_;
    bool failing_ = false;
};

void run(const TopCmd &o)
{
    std::optional<OmExport> om;
    if (o.om_given)
        om.emplace(o);
    install_stop_handlers();
    auto s = Session::open(o.plan.options());
    announce_ready(*s);
    bool tty = stdout_is_tty() && !o.json;
    Snapshot prev = s->snapshot();
    double elapsed = 0;
    while (!stop_requested()) {
        double step = o.interval;
        if (o.duration > 0)
            step = std::min(step, o.duration - elapsed);
        if (step <= 0)
            break;
        sleep_unless_stopped(step);
        Snapshot now = s->snapshot();
        elapsed = now.duration_s;
        if (!o.json) {
            Snapshot win = now.since(prev);
            if (o.raw)
                win = raw_times(win);
            std::string out = render_top_frame(win, kernel_release(), elapsed, tty, o.hist, o.per_cpu, o.rows);
            if (!tty)
                out += "\n";
            // Home and clear on a terminal, then the table with every string escaped.
            print_out((tty ? "\033[H\033[2J" : "") + terminal_safe(out));
        }
        prev = std::move(now);
        if (o.duration > 0 && elapsed + 1e-3 >= o.duration)
            break;
        if (om && !stop_requested())
            om->write(prev, s->plan(), false);
    }
    if (om)
        om->write(prev, s->plan(), true);
    if (o.json) {
        nlohmann::json j = summary_document(o.raw ? raw_times(prev) : prev, s->plan(),
                                            SummaryMeta{"top", kernel_release(), {}, {}, tool_version()});
        j["attach_seconds"] = s->attach_seconds();
        print_out(render_json(j));
    }
}

Registrar reg_top(20, [](CLI::App &app) {
    auto o = std::make_shared<TopCmd>();
    auto *c = app.add_subcommand("top", "Live per-device, per-point table of DMA-mapping cost");
    c->add_option("-i,--interval", o->interval, "Refresh interval in seconds")->check(decimal_in(0.1, 3600.0));
    c->add_option("-d,--duration", o->duration, "Stop after this many seconds (default: until Ctrl-C)")
        ->check(decimal_in(0.1, 1e7));
    c->add_flag("-H,--histogram", o->hist, "Show log2 latency histograms instead of the table");
    c->add_flag("--per-cpu", o->per_cpu, "With -H: one histogram per CPU instead of per device");
    c->add_flag("--json", o->json, "Print one JSON document for the whole run at the end");
    add_raw_flag(c, o->raw);
    c->add_option("-n,--rows", o->rows, "Show at most this many rows")->check(integer_in(0, 1000000000));
    auto *omf = c->add_option("--openmetrics-file", o->om_file,
                              "Also rewrite this node_exporter textfile (*.prom) atomically every interval and at "
                              "the end: cumulative counters since attach (docs/openmetrics.md)")
                    ->type_name("FILE")
                    ->each([o](const std::string &) { o->om_given = true; });
    c->add_flag("--no-cpu-label", o->no_cpu_label, "With --openmetrics-file: sum over CPUs (fewer series)")
        ->needs(omf);
    o->plan.add_to(c);
    c->callback([o] { run(*o); });
});

}  // namespace
}  // namespace iommuprof::cli
