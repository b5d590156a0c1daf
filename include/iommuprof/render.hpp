// The output layer: every renderer (text, JSON, OpenMetrics, HTML) is declared
// here and defined in user/render/. Commands build a Document (what to show) and
// choose a Format; render() does the rest. Numbers in text go through units.hpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "iommuprof/aggregate.hpp"
#include "iommuprof/check.hpp"
#include "iommuprof/compare.hpp"
#include "iommuprof/hostfacts.hpp"
#include "iommuprof/verdict.hpp"

namespace iommuprof {

// Untrusted strings in text output (user/render/escape.cpp). esc: one field
// (a device name, a label, a log line): control characters including newline,
// C1 controls, bidi overrides and invalid UTF-8 bytes become visible escapes
// (\n, \x1b, \u202e, \xff). terminal_safe: a whole text document, the same
// except that newlines and tabs stay.
std::string esc(std::string_view s);
std::string terminal_safe(std::string_view doc);
// Length of the valid UTF-8 sequence at s[i] (1 for ASCII), 0 if invalid.
size_t utf8_seq_len(std::string_view s, size_t i);
// Every --json document: indented, invalid UTF-8 replaced by U+FFFD, a newline.
std::string render_json(const nlohmann::json &j);

struct TableOptions {
    size_t max_rows = 0;      // 0 = all
    bool show_empty = false;  // list attached points that saw nothing
};

// The `top` table: one row per (device, point) with calls/s, MB/s, p50, p99,
// max, CPU share; a header with the outermost-call CPU share.
std::string render_table(const Snapshot &s, const TableOptions &o = {});
// bcc-style log2 histograms, per (point, device), or per (point, cpu).
std::string render_histograms(const Snapshot &s, bool per_cpu);
// Warnings for non-zero overflow counters ("" when all is well).
std::string render_counter_warnings(const Counters &c);
// One line on the probe-effect compensation: the calibrated per-call costs, or
// why times are raw ("" when nothing was timed).
std::string render_compensation_note(const Snapshot &s);
// One line on the stack samples ("" when the profile has none).
std::string render_samples_line(const Snapshot &s);
// The traffic of the devices network interfaces sit on (packets/s, maps, unmaps and CPU
// time per packet) and the softirq-in-task nesting line; "" when neither applies.
// Part of render_table.
std::string render_network(const Snapshot &s);
// The sampled stacks of the DMA paths (and of the profiler's probes), folded: one
// "frame;frame;...;leaf COUNT" line each, the input of flamegraph.pl and speedscope.
std::string render_folded(const SampleStats &s);

std::string render_plan_text(const std::vector<Attachment> &plan, const std::string &kernel);
nlohmann::json plan_json(const std::vector<Attachment> &plan);

// Summary document (docs/json.md): points, devices, cpus, total, counters.
nlohmann::json summary_json(const Snapshot &s);

// The --json document of top, run and report (docs/json.md): the summary with the
// fields every one of them has (kind, tool_version, kernel, plan; mode and label
// when known); each command adds its own (file, command, attach_seconds, ...).
struct SummaryMeta {
    std::string kind;                 // "top", "run", "report"
    std::string kernel;               // release of the profiled kernel
    std::optional<std::string> mode;  // iommu_mode() of the profiled host, when its facts were read
    std::optional<std::string> label;
    std::string tool_version;         // the iommuprof that recorded (report) or runs (top, run)
};
nlohmann::json summary_document(const Snapshot &s, const std::vector<Attachment> &plan, const SummaryMeta &m);

// ---- verdict (user/render/verdict_render.cpp) ----
std::string render_verdict_text(const Verdict &v);
nlohmann::json verdict_json(const Verdict &v);

// ---- compare (user/render/compare_render.cpp) ----
struct CompareTextOptions {
    bool devices = true;     // per-device rows under each point
    bool histograms = true;  // per-point mini histograms
    int width = 120;         // terminal width hint
};
std::string render_compare_text(const Comparison &c, const CompareTextOptions &o = {});
nlohmann::json compare_to_json(const Comparison &c);

// Pieces shared with tests.
// One block character per bucket in [lo, hi] ("▁▃█▅"), scaled to the fullest
// bucket of h; a space for an empty bucket, "" when h has no samples.
std::string mini_histogram(const Hist &h, int lo, int hi);

// ---- host facts (user/render/hostfacts_render.cpp); `inspect --json` is to_json ----
std::string render_hostfacts_text(const HostFacts &h);
// The summary of render_hostfacts_text (label, value) before its groups table, for
// other renderers (HTML); values are raw (not escaped).
std::vector<std::pair<std::string, std::string>> hostfacts_rows(const HostFacts &h);

// ---- check (user/render/check_render.cpp) ----
// Text: the Nagios status line
// ("IOMMU CRITICAL - 2 violations: ... | perfdata"), then one line per check.
std::string render_check_text(const CheckReport &r);
nlohmann::json check_json(const CheckReport &r);
// When the check could not run (bad config, missing --root): UNKNOWN, why.
std::string render_check_error_text(const std::string &why);
nlohmann::json check_error_json(const std::string &why);

// ---- the live commands' text (top, run, probes) ----

// One frame of `top`: its header line (kernel, interval, elapsed), then the table or the histograms.
std::string render_top_frame(const Snapshot &window, const std::string &kernel, double elapsed_s, bool tty,
                             bool histograms, bool per_cpu, size_t rows);
// What `run` prints on stderr when the command ends: a line naming it, then the table, the notes
// and, with a verdict, the verdict text.
std::string render_run_summary_text(const Profile &p, const std::string &what, const Verdict *verdict);
// `probes`: the kernel's features, then the plan (text), or one JSON document.
std::string render_probes_text(const KernelFeatures &f, const std::string &kernel, const std::vector<Attachment> &plan);
nlohmann::json probes_json(const KernelFeatures &f, const std::string &kernel, const std::vector<Attachment> &plan,
                           double attach_seconds);

// ---- documents: what `report`, `verdict` and `compare` show, in any format ----

enum class Format { Text, Json, Html };

struct Document {
    enum class Kind { Report, Verdict, Compare } kind = Kind::Report;
    // Report: the profile; Verdict: the profile judged (null when there was none);
    // Compare: the BEFORE profile.
    const Profile *profile = nullptr;
    std::string name;                     // its file name, or "live, 10 s"
    const Profile *after = nullptr;       // Compare: the AFTER profile
    std::string after_name;
    const Verdict *verdict = nullptr;     // Verdict; Report and Compare (HTML): the verdict of `profile`
    const Comparison *comparison = nullptr;  // Compare
    const HostFacts *host = nullptr;      // Verdict: the facts it used (also without a profile)
    // Text options.
    bool histograms = false;              // report -H
    bool per_cpu = false;                 // with histograms
    size_t rows = 0;                      // report -n
    CompareTextOptions compare;
};

// The document as text (the terminal), JSON (docs/json.md, docs/verdict.md,
// docs/compare.md) or one self-contained HTML page (docs/html.md).
std::string render(const Document &d, Format f);

// The HTML page (user/render/html.cpp): inline CSS and SVG, no script, no request.
std::string render_html(const Document &d);

}  // namespace iommuprof
