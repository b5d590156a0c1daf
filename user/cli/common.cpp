#include "common.hpp"

#include "iommuprof/aggregate.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <fmt/core.h>

#include "iommuprof/catalog.hpp"
#include "iommuprof/error.hpp"
#include "iommuprof/render.hpp"

namespace iommuprof::cli {

void PlanFlags::add_to(CLI::App *cmd, bool verdict_default_)
{
    verdict_default = verdict_default_;
    if (verdict_default) {
        cmd->add_flag("--sample", sample_only,
                      "Sample kernel stacks only (997 Hz per CPU), no function probes: the least perturbing "
                      "mode, and the only timing source on kernels without fentry and kprobes");
        cmd->add_flag("--no-sample", no_sample, "Do not sample kernel stacks beside the probes");
        cmd->add_flag("--detail", detail,
                      "Attach every probe point (the DMA API, iommu_map, IOVA, page tables, IOTLB flushes, ...), "
                      "not only the dma-iommu layer the verdict needs (more detail, more overhead)");
        cmd->add_flag("--dma-api", dma_api,
                      "Also time the DMA API around the dma-iommu layer (dma_map_*, dma_unmap_*): its own cost, "
                      "which stays under pt, at two more probed calls per map and unmap");
    }
    cmd->add_flag("--kprobe", force_kprobe, "Never use fentry/fexit: attach kprobes/kretprobes");
    cmd->add_flag("--no-tracepoints", no_tracepoints, "Do not fall back to counting tracepoints");
    cmd->add_option("--points", points, "Only these probe points (see `iommuprof probes`)")
        ->type_name("POINT")
        ->delimiter(',')
        ->check([](const std::string &p) {
            return find_probe(p) ? std::string() : "unknown probe point '" + p + "' (see `iommuprof probes`)";
        });
}

void use_verdict_points(SessionOptions &o, bool dma_api, const HostFacts *host)
{
    o.only_points = verdict_points();
    auto api = dma_api_points();
    bool translating = !host || std::any_of(host->groups.begin(), host->groups.end(), [](const IommuGroup &g) {
        return domain_kind(g.type) == DomainKind::Translated;
    });
    if (dma_api || !translating)
        o.only_points.insert(o.only_points.end(), api.begin(), api.end());
    else
        o.fallback_points = api;
}

SessionOptions PlanFlags::options(const HostFacts *host) const
{
    SessionOptions o{force_kprobe, no_tracepoints, points};
    if (o.only_points.empty() && verdict_default && !detail)
        use_verdict_points(o, dma_api, host);
    else if (dma_api && !o.only_points.empty()) {  // --points ... --dma-api (a point named twice is planned once)
        auto api = dma_api_points();
        o.only_points.insert(o.only_points.end(), api.begin(), api.end());
    }
    if (verdict_default)
        o.sampling = sample_only ? SessionOptions::Sampling::Only
                     : no_sample ? SessionOptions::Sampling::Off
                                 : SessionOptions::Sampling::Beside;
    return o;
}

void warn_sampling(const Session &s)
{
    if (!s.sampling_note().empty())
        fmt::print(stderr, "iommuprof: warning: no stack sampling beside the probes: {}\n", s.sampling_note());
}

void announce_ready(const Session &s)
{
    int fentry = 0, kprobe = 0, tp = 0;
    for (auto &a : s.plan())
        if (a.attached)
            (a.method == Method::Fentry ? fentry : a.method == Method::Kprobe ? kprobe : tp)++;
    fmt::print(stderr,
               "iommuprof: ready after {:.1f} s: {} probes attached (fentry {}, kprobe {}{}, tracepoint {}); "
               "counting starts now\n",
               s.attach_seconds(), fentry + kprobe + tp, fentry, kprobe,
               kprobe && s.features().kprobe_multi ? " through kprobe_multi" : "", tp);
    for (auto &m : s.features().missing)
        fmt::print(stderr, "iommuprof: older kernel: {}\n", m);
}

void add_raw_flag(CLI::App *cmd, bool &raw)
{
    cmd->add_flag("--raw", raw,
                  "Report time sums, CPU shares and the saving as measured, without subtracting the "
                  "profiler's own probe cost (histograms and percentiles stay compensated)");
}

namespace {
bool all_digits(const std::string &s, size_t b, size_t e)
{
    if (b >= e)
        return false;
    for (size_t i = b; i < e; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

// [+-]digits[.digits][e[+-]digits], or .digits
bool plain_decimal(const std::string &s)
{
    size_t i = 0, n = s.size();
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    size_t e = s.find_first_of("eE", i);
    size_t mant_end = e == std::string::npos ? n : e;
    size_t dot = s.find('.', i);
    bool mant_ok;
    if (dot == std::string::npos || dot >= mant_end)
        mant_ok = all_digits(s, i, mant_end);
    else
        mant_ok = (all_digits(s, i, dot) || dot == i) && (all_digits(s, dot + 1, mant_end) || dot + 1 == mant_end) &&
                  mant_end - i > 1;
    if (!mant_ok)
        return false;
    if (e == std::string::npos)
        return true;
    size_t j = e + 1;
    if (j < n && (s[j] == '+' || s[j] == '-'))
        j++;
    return all_digits(s, j, n);
}
}  // namespace

CLI::Validator decimal_in(double lo, double hi)
{
    return CLI::Validator(
        [lo, hi](std::string &v) -> std::string {
            if (!plain_decimal(v))
                return fmt::format("'{}' is not a decimal number", v);
            double d = strtod(v.c_str(), nullptr);
            if (!std::isfinite(d) || d < lo || d > hi)
                return fmt::format("{} is outside {:g} .. {:g}", v, lo, hi);
            return "";
        },
        fmt::format("NUMBER in [{:g}, {:g}]", lo, hi));
}

CLI::Validator integer_in(long long lo, long long hi)
{
    return CLI::Validator(
        [lo, hi](std::string &v) -> std::string {
            size_t b = !v.empty() && (v[0] == '+' || v[0] == '-') ? 1 : 0;
            if (!all_digits(v, b, v.size()) || v.size() > 19)
                return fmt::format("'{}' is not a decimal integer", v);
            long long x = strtoll(v.c_str(), nullptr, 10);
            if (x < lo || x > hi)
                return fmt::format("{} is outside {} .. {}", v, lo, hi);
            return "";
        },
        fmt::format("INTEGER in [{}, {}]", lo, hi));
}

std::string kernel_release()
{
    struct utsname u;
    return uname(&u) == 0 ? u.release : "unknown";
}

bool stdout_is_tty() { return isatty(STDOUT_FILENO); }

Verdict page_verdict(const Profile &recorded, bool raw, const std::string &file)
{
    Snapshot judged = raw ? raw_times_judged(recorded.snap) : recorded.snap;
    Verdict v = decide(recorded.host, &judged, Thresholds{});
    v.profile_source = file;
    return v;
}
bool stderr_is_tty() { return isatty(STDERR_FILENO); }

void print_text(const std::string &s) { print_out(terminal_safe(s)); }

void print_out(const std::string &s)
{
    if (fwrite(s.data(), 1, s.size(), stdout) != s.size() || fflush(stdout) != 0)
        throw Error(kExitRuntime, "cannot write to standard output");
}

}  // namespace iommuprof::cli
