// Renderers for snapshots and plans: text (terminal) and JSON behind one
// set of functions, used by `top`, `report`, `probes`.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iommuprof/model.hpp"

namespace iommuprof {

// "850ns", "2.1us", "13ms", "1.20s"
std::string format_ns(double ns);
std::string format_rate(double per_s);  // "1.2k", "35.0", "4.1M"

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
// The sampled stacks of the DMA paths (and of the profiler's probes), folded: one
// "frame;frame;...;leaf COUNT" line each, the input of flamegraph.pl and speedscope.
std::string render_folded(const SampleStats &s);

std::string render_plan_text(const std::vector<Attachment> &plan, const std::string &kernel);
nlohmann::json plan_json(const std::vector<Attachment> &plan);

// Summary document (docs/json.md): points, devices, cpus, total, counters.
nlohmann::json summary_json(const Snapshot &s);

}  // namespace iommuprof
