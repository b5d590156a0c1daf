// Metrics export in the Prometheus text format read by node_exporter's
// textfile collector (and by `promtool check metrics`), terminated with
// "# EOF" so OpenMetrics parsers accept it too. Metric names and labels:
// docs/openmetrics.md.
#pragma once

#include <string>
#include <vector>

#include "iommuprof/hostfacts.hpp"
#include "iommuprof/aggregate.hpp"

namespace iommuprof {

struct OpenMetricsOptions {
    // Keep the `cpu` label (one series per CPU). false: sum over CPUs and
    // drop the label, dividing the number of series by the CPU count.
    bool per_cpu = true;
    // Free text attached to iommuprof_profile_info (profile --label).
    std::string label;
    // When given, one iommuprof_probe_attached series per plan line.
    const std::vector<Attachment> *plan = nullptr;
};

// `snap` should be cumulative (since attach, or a whole saved profile) so the
// counters only ever grow between two renderings of a live session.
std::string render_openmetrics(const Snapshot &snap, const HostFacts &host, const OpenMetricsOptions &opts = {});

// Renders and replaces `path` atomically (temp file in the same directory +
// rename), so a collector never reads a half-written file. node_exporter only
// reads files named *.prom. Throws Error(kExitRuntime) on I/O failure.
void write_openmetrics_file(const std::string &path, const Snapshot &snap, const HostFacts &host,
                            const OpenMetricsOptions &opts = {});

// Host facts alone (`inspect --openmetrics`): the iommuprof_facts_* families
// (docs/openmetrics.md). No family is shared with render_openmetrics, so both
// files can sit in one textfile directory.
std::string render_host_openmetrics(const HostFacts &host);

// Pieces, exposed for tests.
// Label value escaping: backslash, double quote and newline; invalid UTF-8
// bytes become '?'.
std::string om_escape_label(const std::string &v);
// "le" value (seconds) of the upper bound of bucket i, "+Inf" for the last.
std::string om_bucket_le(int i);

}  // namespace iommuprof
