// `iommuprof compare BEFORE AFTER`: did changing the IOMMU mode pay off?
// docs/compare.md.
#include <sys/ioctl.h>
#include <unistd.h>

#include <memory>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "iommuprof/cli.hpp"
#include "iommuprof/compare.hpp"
#include "iommuprof/profile.hpp"
#include "iommuprof/render.hpp"

namespace iommuprof::cli {
namespace {

struct CompareCmd {
    std::string before, after;
    bool json = false;
    bool no_devices = false;
    bool no_hist = false;
    bool raw = false;
};

int terminal_width()
{
    struct winsize ws{};
    if (stdout_is_tty() && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 60)
        return ws.ws_col;
    return 120;
}

void run(const CompareCmd &o)
{
    Profile b = read_profile(o.before);
    Profile a = read_profile(o.after);
    if (o.raw) {
        b.snap = raw_times(b.snap);
        a.snap = raw_times(a.snap);
    }
    Comparison c = compare_profiles(b, a);
    if (o.json) {
        nlohmann::json j = compare_to_json(c);
        j["before"]["file"] = o.before;
        j["after"]["file"] = o.after;
        print_out(render_json(j));
        return;
    }
    CompareTextOptions t;
    t.devices = !o.no_devices;
    t.histograms = !o.no_hist;
    t.width = terminal_width();
    print_text(render_compare_text(c, t));
}

Registrar reg(33, [](CLI::App &app) {
    auto o = std::make_shared<CompareCmd>();
    auto *c = app.add_subcommand("compare", "Compare two saved profiles side by side (e.g. strict vs iommu=pt)");
    c->add_option("before", o->before, "Profile recorded first (e.g. under the translated mode)")
        ->type_name("FILE")
        ->required();
    c->add_option("after", o->after, "Profile recorded after the change (e.g. with iommu=pt)")
        ->type_name("FILE")
        ->required();
    c->add_flag("--json", o->json, "One JSON document (docs/compare.md)");
    add_raw_flag(c, o->raw);
    c->add_flag("--no-devices", o->no_devices, "Only one row per probe point");
    c->add_flag("--no-histograms", o->no_hist, "Leave out the per-point mini histograms");
    c->callback([o] { run(*o); });
});

}  // namespace
}  // namespace iommuprof::cli
