// `iommuprof verdict`: profile (or read a profile), combine with the host
// facts and say whether iommu=pt is worth trying (docs/verdict.md).
#include <fmt/core.h>

#include <fstream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "iommuprof/cli.hpp"
#include "iommuprof/error.hpp"
#include "iommuprof/hostfacts.hpp"
#include "iommuprof/output_file.hpp"
#include "iommuprof/profile.hpp"
#include "iommuprof/render.hpp"
#include "iommuprof/session.hpp"
#include "iommuprof/verdict.hpp"

namespace iommuprof::cli {
namespace {

struct VerdictCmd {
    double duration = 10;
    std::string from;
    bool json = false;
    std::string root = "/";
    bool root_given = false;
    std::string dmesg;
    double min_share_all_pct = 2;
    double min_share_hottest_pct = 5;
    uint64_t min_events = Thresholds{}.min_events;
    double min_seconds = Thresholds{}.min_seconds;
    bool ignore_faults = false;
    bool raw = false;
    std::string html;
    PlanFlags plan;
};

// Profiles for o.duration seconds. Any failure to profile is returned as a
// message: the host facts may decide without a profile.
std::optional<Snapshot> profile_live(const VerdictCmd &o, const HostFacts &host, std::string &error)
{
    std::unique_ptr<Session> session;
    try {
        SessionOptions so = o.plan.options(&host);
        so.late_symbols = true;  // one snapshot, at the end
        session = Session::open(so);
        warn_sampling(*session);
        announce_ready(*session);
    } catch (const Error &e) {
        error = e.what();
        return std::nullopt;
    }
    install_stop_handlers();
    bool tty = stderr_is_tty() && !o.json;
    double elapsed = 0;
    while (!stop_requested()) {
        double step = std::min(tty ? 1.0 : o.duration, o.duration - elapsed);
        if (step <= 0)
            break;
        sleep_unless_stopped(step);
        elapsed += step;
        if (tty) {
            fmt::print(stderr, "\r\033[Kprofiling {:.0f}/{:.0f} s (Ctrl-C to stop early)", std::min(elapsed, o.duration),
                       o.duration);
            fflush(stderr);
        }
    }
    if (tty)
        fmt::print(stderr, "\r\033[K");
    try {
        return session->snapshot();
    } catch (const Error &e) {
        error = e.what();
        return std::nullopt;
    }
}

void run(const VerdictCmd &o)
{
    Thresholds t;
    t.min_share_all = o.min_share_all_pct / 100;
    t.min_share_hottest = o.min_share_hottest_pct / 100;
    t.min_events = o.min_events;
    t.min_seconds = o.min_seconds;
    t.ignore_faults = o.ignore_faults;

    if (!o.html.empty())
        check_writable(o.html, kExpectedProfileBytes);
    HostFacts host;
    std::optional<Snapshot> snap;
    std::string error, source;
    Profile shown;  // what the HTML page shows besides the verdict
    if (!o.from.empty()) {
        Profile p = read_profile(o.from);  // Error(kExitUsage) on a bad file
        shown = p;
        snap = p.snap;
        source = o.from + (p.label.empty() ? "" : " [" + p.label + "]");
        if (o.root_given) {
            HostOptions ho{o.root, o.dmesg, true};
            host = read_host_facts(ho);
        } else {
            host = p.host;  // the facts of the profiled machine
            if (!o.dmesg.empty())
                apply_log_file(host, o.dmesg);
        }
    } else {
        // Host facts first: they do not depend on the profile, and a --root
        // or --dmesg mistake should fail before a long profile.
        HostOptions ho{o.root, o.dmesg, true};
        host = read_host_facts(ho);
        snap = profile_live(o, host, error);
        source = fmt::format("live, {:g} s", o.duration);
        if (snap && stop_requested())
            source += ", stopped early";
    }

    if (snap && o.raw)
        snap = raw_times_judged(*snap);
    Verdict v = decide(host, snap ? &*snap : nullptr, t, error);
    v.profile_source = snap ? source : "";
    Document d;
    d.kind = Document::Kind::Verdict;
    d.verdict = &v;
    d.host = &host;
    // The verdict first: a page that cannot be written must not cost it.
    if (o.json)
        print_out(render(d, Format::Json));
    else
        print_text(render(d, Format::Text));
    if (!o.html.empty()) {
        if (snap) {
            if (o.from.empty()) {
                shown.created = now_iso8601_utc();
                shown.tool_version = tool_version();
            }
            shown.host = host;
            shown.snap = *snap;
            d.profile = &shown;
        }
        d.name = o.from.empty() ? source : o.from;
        // A live profile exists only in this page and the text: keep it if the file cannot be written.
        write_file_or_rescue(o.html, render(d, Format::Html));
    }
    // No profile where one was needed: the environment failed us.
    if (!snap && v.verdict == kInsufficientData)
        set_exit_code(kExitRuntime);
}

Registrar reg_verdict(41, [](CLI::App &app) {
    auto o = std::make_shared<VerdictCmd>();
    auto *c = app.add_subcommand("verdict", "Profile, then say whether iommu=pt is worth trying here, and why");
    auto *d = c->add_option("-d,--duration", o->duration, "Seconds to profile (default 10)")
                  ->check(decimal_in(0.1, 1e7));
    auto *f = c->add_option("--from", o->from, "Judge a saved profile (iommuprof record) instead of profiling")
                  ->type_name("FILE");
    d->excludes(f);
    c->add_flag("--json", o->json, "Print the verdict as JSON (docs/verdict.md)");
    add_raw_flag(c, o->raw);
    c->add_option("--html", o->html,
                  "Also write the verdict with its evidence (CPU shares, histograms, host facts, sampled stacks) as "
                  "one self-contained HTML page (docs/html.md)")
        ->type_name("FILE");
    c->add_option("--root", o->root, "Read host facts below this directory (default /; with --from: the facts "
                                     "stored in the profile)")
        ->type_name("DIR")
        ->each([o](const std::string &) { o->root_given = true; });
    c->add_option("--dmesg", o->dmesg, "Read the kernel log from this file instead of /dev/kmsg")
        ->type_name("FILE");
    c->add_option("--min-share-all", o->min_share_all_pct,
                  "worth-trying when the estimated saving is at least PCT % of all CPUs (default 2)")
        ->check(decimal_in(0.0, 100.0));
    c->add_option("--min-share-hottest", o->min_share_hottest_pct,
                  "... or at least PCT % of the busiest CPU (default 5)")
        ->check(decimal_in(0.0, 100.0));
    c->add_option("--min-events", o->min_events,
                  fmt::format("Fewest outermost DMA-path calls to judge (default {})", Thresholds{}.min_events))
        ->check(integer_in(0, 1000000000000000LL));
    c->add_option("--min-seconds", o->min_seconds,
                  fmt::format("Shortest profile to judge, seconds (default {:g})", Thresholds{}.min_seconds))
        ->check(decimal_in(0.0, 1e7));
    c->add_flag("--ignore-faults", o->ignore_faults,
                "Give the tuning verdict even when IOMMU faults were seen (they become a caution)");
    o->plan.add_to(c, true);
    c->callback([o] { run(*o); });
});

}  // namespace
}  // namespace iommuprof::cli
