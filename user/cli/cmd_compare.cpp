// `iommuprof compare BEFORE AFTER`: did changing the IOMMU mode pay off?
// docs/compare.md.
#include <sys/ioctl.h>
#include <unistd.h>

#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "iommuprof/cli.hpp"
#include "iommuprof/compare.hpp"
#include "iommuprof/output_file.hpp"
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
    std::string html;
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
    if (!o.html.empty())
        check_writable(o.html);
    Profile b = read_profile(o.before);
    Profile a = read_profile(o.after);
    std::optional<Verdict> v;  // the page shows the verdict on BEFORE: what the change was meant to win
    if (!o.html.empty())
        v = page_verdict(b, o.raw, o.before);
    if (o.raw) {
        b.snap = raw_times(b.snap);
        a.snap = raw_times(a.snap);
    }
    Comparison c = compare_profiles(b, a);
    Document d;
    d.kind = Document::Kind::Compare;
    d.profile = &b;
    d.name = o.before;
    d.after = &a;
    d.after_name = o.after;
    d.comparison = &c;
    d.compare.devices = !o.no_devices;
    d.compare.histograms = !o.no_hist;
    d.compare.width = terminal_width();
    if (v) {
        d.verdict = &*v;
        write_file_atomic(o.html, render(d, Format::Html));
        d.verdict = nullptr;
    }
    if (o.json)
        print_out(render(d, Format::Json));
    else
        print_text(render(d, Format::Text));
}

Registrar reg_compare(33, [](CLI::App &app) {
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
    c->add_option("--html", o->html,
                  "Also write the comparison as one self-contained HTML page: histograms before and after "
                  "overlaid, CPU shares as bars, host facts, sampled stacks (docs/html.md)")
        ->type_name("FILE");
    c->add_flag("--no-devices", o->no_devices, "Only one row per probe point");
    c->add_flag("--no-histograms", o->no_hist, "Leave out the per-point mini histograms");
    c->callback([o] { run(*o); });
});

}  // namespace
}  // namespace iommuprof::cli
