// `iommuprof top`: live table (or histograms) refreshed every interval.
#include <fmt/core.h>

#include <cmath>

#include "common.hpp"
#include "iommuprof/cli.hpp"
#include "iommuprof/error.hpp"
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
    PlanFlags plan;
};

void run(const TopCmd &o)
{
    install_stop_handlers();
    auto s = Session::open(o.plan.options());
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
            std::string out;
            if (tty)
                out += "\033[H\033[2J";
            out += fmt::format("iommuprof top  kernel {}  interval {:.1f}s  elapsed {:.0f}s{}\n", kernel_release(),
                               win.duration_s, elapsed, tty ? "  (Ctrl-C to stop)" : "");
            out += o.hist ? render_histograms(win, o.per_cpu) : render_table(win, TableOptions{o.rows, false});
            if (!tty)
                out += "\n";
            print_out(out);
        }
        prev = std::move(now);
        if (o.duration > 0 && elapsed + 1e-3 >= o.duration)
            break;
    }
    if (o.json) {
        nlohmann::json j = summary_json(prev);
        j["kind"] = "top";
        j["kernel"] = kernel_release();
        j["attach_seconds"] = s->attach_seconds();
        j["plan"] = plan_json(s->plan());
        print_out(j.dump(2) + "\n");
    }
}

Registrar reg(20, [](CLI::App &app) {
    auto o = std::make_shared<TopCmd>();
    auto *c = app.add_subcommand("top", "Live per-device, per-point table of DMA-mapping cost");
    c->add_option("-i,--interval", o->interval, "Refresh interval in seconds")->check(CLI::Range(0.1, 3600.0));
    c->add_option("-d,--duration", o->duration, "Stop after this many seconds (default: until Ctrl-C)")
        ->check(CLI::Range(0.1, 1e7));
    c->add_flag("-H,--histogram", o->hist, "Show log2 latency histograms instead of the table");
    c->add_flag("--per-cpu", o->per_cpu, "With -H: one histogram per CPU instead of per device");
    c->add_flag("--json", o->json, "Print one JSON document for the whole run at the end");
    c->add_option("-n,--rows", o->rows, "Show at most this many rows");
    o->plan.add_to(c);
    c->callback([o] { run(*o); });
});

}  // namespace
}  // namespace iommuprof::cli
