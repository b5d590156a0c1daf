// libFuzzer target for the profile reader and everything that consumes a
// profile: any input must either parse or be rejected with
// iommuprof::Error(kExitUsage). Anything else (another exception, a crash, a
// sanitizer report, an output out of proportion to the input) is a bug.
//
// Each input is tried twice: as the file bytes (gzip layer), and gzip'd first
// so that mutations reach the JSON and schema layers, which the fuzzer could
// hardly reach through deflate. What parses is then pushed through every
// renderer that can show a profile (report: table, histograms, folded stacks,
// JSON summary, OpenMetrics, HTML; verdict: text, JSON and HTML; compare: text, JSON and HTML;
// inspect: the embedded host facts as text and JSON) and compared with itself.
//
// Amplification: scripts/fuzz.sh runs this with -rss_limit_mb, -malloc_limit_mb
// and -timeout; on top of that every rendered output must stay within 64 times
// the profile's own JSON size plus 1 MiB (fuzz_common.hpp), so a renderer that
// blows a small profile up is reported even when it stays under the memory
// limit. The largest legitimate growth: OpenMetrics writes 36 lines per timed
// (point, device, cpu) series, each repeating its labels, from ~250 bytes of
// cell JSON.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_common.hpp"
#include "iommuprof/compare.hpp"
#include "iommuprof/error.hpp"
#include "iommuprof/hostfacts.hpp"
#include "iommuprof/openmetrics.hpp"
#include "iommuprof/profile.hpp"
#include "iommuprof/render.hpp"
#include "iommuprof/verdict.hpp"

using namespace iommuprof;
using fuzz::check_json;
using fuzz::check_text;

namespace {

void render_snapshot(const Profile &p, const Snapshot &s)
{
    check_text("render_table", render_table(s));
    check_text("render_table(rows 3, empty)", render_table(s, TableOptions{3, true}));
    check_text("render_histograms(device)", render_histograms(s, false));
    check_text("render_histograms(cpu)", render_histograms(s, true));
    check_text("render_counter_warnings", render_counter_warnings(s.counters));
    check_text("render_compensation_note", render_compensation_note(s));
    check_text("render_samples_line", render_samples_line(s));
    if (s.samples)
        check_text("render_folded", render_folded(*s.samples));
    check_json("summary_json", summary_json(s));
    fuzz::check_openmetrics("render_openmetrics(per cpu)", render_openmetrics(s, p.host, {true, p.label, &p.plan}));
    fuzz::check_openmetrics("render_openmetrics(summed)", render_openmetrics(s, p.host, {false, "", nullptr}));

    (void)verdict_numbers(s);
    for (bool ignore_faults : {false, true}) {
        Thresholds t;
        t.ignore_faults = ignore_faults;
        Verdict v = decide(p.host, &s, t);
        check_text("render_verdict_text", render_verdict_text(v));
        check_json("verdict_json", verdict_json(v));
    }
}

void exercise(const Profile &p)
{
    // The reader accepted it: writing it back must read back equal.
    std::string text = profile_to_json(p).dump();
    fuzz::budget.set(text.size());
    Profile again = parse_profile(gzip_compress(text), "round-trip");
    if (!(again == p)) {
        fprintf(stderr, "==ROUND-TRIP== profile_to_json -> parse_profile does not give the same profile\n");
        abort();
    }

    render_snapshot(p, p.snap);
    render_snapshot(p, raw_times(p.snap));  // report --raw

    check_text("render_plan_text", render_plan_text(p.plan, p.host.kernel.release));
    check_json("plan_json", plan_json(p.plan));

    // inspect / verdict on the embedded host facts alone.
    check_text("render_hostfacts_text", render_hostfacts_text(p.host));
    nlohmann::json hj;
    to_json(hj, p.host);
    check_json("hostfacts to_json", hj);
    Verdict hv = decide(p.host, nullptr, Thresholds{}, "fuzz: no profile");
    check_text("render_verdict_text(no profile)", render_verdict_text(hv));
    check_json("verdict_json(no profile)", verdict_json(hv));
    (void)iommu_mode(p.host);

    // compare: the profile against itself, and before/after its raw times.
    Comparison c = compare_profiles(p, again);
    check_text("render_compare_text", render_compare_text(c));
    check_text("render_compare_text(narrow, no devices, no histograms)",
          render_compare_text(c, CompareTextOptions{false, false, 20}));
    check_json("compare_to_json", compare_to_json(c));
    Profile raw = p;
    raw.snap = raw_times(p.snap);
    Comparison c2 = compare_profiles(p, raw);
    check_text("render_compare_text(raw)", render_compare_text(c2, CompareTextOptions{true, true, 80}));
    check_json("compare_to_json(raw)", compare_to_json(c2));

    // The HTML pages: report with its verdict, compare with the verdict before.
    Verdict v = decide(p.host, &p.snap, Thresholds{});
    Document d;
    d.kind = Document::Kind::Report;
    d.profile = &p;
    d.name = "fuzz";
    d.verdict = &v;
    check_text("render(report, Html)", render(d, Format::Html));
    d.kind = Document::Kind::Verdict;
    check_text("render(verdict, Html)", render(d, Format::Html));
    d.kind = Document::Kind::Compare;
    d.after = &raw;
    d.after_name = "raw";
    d.comparison = &c2;
    check_text("render(compare, Html)", render(d, Format::Html));
}

void try_parse(std::string_view bytes)
{
    Profile p;
    try {
        p = parse_profile(bytes, "fuzz");
    } catch (const Error &e) {
        if (getenv("FUZZ_DEBUG"))  // what an input means: FUZZ_DEBUG=1 fuzz_profile FILE
            fprintf(stderr, "rejected: %s\n", e.what());
        if (e.code != kExitUsage)
            abort();
        return;
    }
    if (getenv("FUZZ_DEBUG"))
        fprintf(stderr, "parsed: %zu cells, %zu plan entries, %s\n", p.snap.cells.size(), p.plan.size(),
                p.snap.samples ? "sampled" : "not sampled");
    exercise(p);  // any exception from here on is a bug
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string_view in(reinterpret_cast<const char *>(data), size);
    try_parse(in);
    if (size < (1u << 20))
        try_parse(gzip_compress(in));
    return 0;
}
