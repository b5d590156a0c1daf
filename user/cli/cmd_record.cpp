// `iommuprof record`: profile for a duration (or until Ctrl-C / SIGTERM) and
// save a profile file (docs/profile-format.md). A stop signal ends the
// recording early; the file is still written, complete and valid.
#include <fmt/core.h>

#include <cmath>
#include <memory>

#include "common.hpp"
#include "iommuprof/cli.hpp"
#include "iommuprof/compare.hpp"
#include "iommuprof/error.hpp"
#include "iommuprof/hostfacts.hpp"
#include "iommuprof/profile.hpp"
#include "iommuprof/render.hpp"
#include "iommuprof/units.hpp"
#include "iommuprof/session.hpp"

namespace iommuprof::cli {
namespace {

struct RecordCmd {
    double duration = 0;  // 0: until Ctrl-C / SIGTERM
    std::string out;
    std::string label;
    PlanFlags plan;
};

uint64_t total_calls(const Snapshot &s)
{
    uint64_t n = 0;
    for (const auto &c : s.cells)
        if (c.point != kTotalPoint)
            n += c.hist.count;
    return n;
}

void run(const RecordCmd &o)
{
    // Fail before a long recording, not after it.
    check_writable(o.out, kExpectedProfileBytes);
    install_stop_handlers();
    // The plan needs the groups; the kernel log (faults) is read once counting runs: 0.03 s of a
    // start under emulation.
    HostOptions ho;
    HostFacts host = read_host_facts(ho);
    std::string created = now_iso8601_utc();
    bool tty = stderr_is_tty();
    SessionOptions so = o.plan.options(&host);
    so.late_symbols = !tty;  // one snapshot, at the end (a terminal gets one every second)
    auto session = Session::open(so);
    warn_sampling(*session);
    announce_ready(*session);
    if (!tty)
        fmt::print(stderr, "iommuprof: recording{} to {}\n",
                   o.duration > 0 ? fmt::format(" for {:g} s", o.duration) : std::string(" until SIGINT/SIGTERM"),
                   o.out);
    ho.read_kmsg = true;
    host = read_host_facts(ho);
    double elapsed = 0;
    while (!stop_requested()) {
        double step = tty ? 1.0 : 3600.0;
        if (o.duration > 0)
            step = std::min(step, o.duration - elapsed);
        if (step <= 0)
            break;
        sleep_unless_stopped(step);
        Snapshot now = session->snapshot();
        elapsed = now.duration_s;
        if (tty) {
            uint64_t n = total_calls(now);
            std::string limit = o.duration > 0 ? fmt::format(" / {:.0f} s", o.duration) : "";
            fmt::print(stderr, "\r\033[Krecording {}: {:.0f} s{}, {} calls ({}/s)  Ctrl-C to stop and save", o.out,
                       elapsed, limit, n, units::count(elapsed > 0 ? double(n) / elapsed : 0));
            fflush(stderr);
        }
        if (o.duration > 0 && elapsed + 1e-3 >= o.duration)
            break;
    }
    Profile p;
    p.label = o.label;
    p.created = created;
    p.tool_version = tool_version();
    p.host = std::move(host);
    p.plan = session->plan();
    p.snap = session->snapshot();
    session.reset();  // detach before the (possibly slow) write
    // Stopped while still attaching: calls counted, next to no time. A reader
    // refuses durations below kMinProfileDuration (they make rates absurd).
    if (!p.snap.cells.empty() && p.snap.duration_s < kMinProfileDuration)
        p.snap.duration_s = kMinProfileDuration;
    if (tty)
        fmt::print(stderr, "\r\033[K");
    write_profile(p, o.out);
    fmt::print(stderr, "iommuprof: wrote {}: {} on {} CPUs, {} calls, mode {}{}\n", o.out, units::seconds(p.snap.duration_s),
               p.snap.ncpus, total_calls(p.snap), iommu_mode(p.host),
               stop_requested() ? " (stopped by signal)" : "");
}

Registrar reg_record(30, [](CLI::App &app) {
    auto o = std::make_shared<RecordCmd>();
    auto *c = app.add_subcommand("record", "Profile for a while and save a profile file (for report and compare)");
    c->add_option("-d,--duration", o->duration, "Seconds to record (default: until Ctrl-C or SIGTERM)")
        ->check(decimal_in(0.1, 1e7));
    c->add_option("-o,--output", o->out, "Profile file to write (gzip'd JSON, written atomically)")
        ->type_name("FILE")
        ->required();
    c->add_option("--label", o->label, "Free text stored in the profile, e.g. \"strict, fio 4k randread\"");
    o->plan.add_to(c, true);
    c->callback([o] { run(*o); });
});

}  // namespace
}  // namespace iommuprof::cli
