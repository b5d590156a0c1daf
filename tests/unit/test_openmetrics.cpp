// OpenMetrics / Prometheus text export: checked by a strict parser written
// here, and by `promtool check metrics` when promtool is installed (Debian
// package "prometheus").
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "iommuprof/error.hpp"
#include "iommuprof/openmetrics.hpp"
#include "iommuprof/output_file.hpp"
#include "fixture_host.hpp"

using namespace iommuprof;

namespace {

// ---- a strict checker for the text exposition format ----

struct Sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

struct Parsed {
    std::vector<std::string> errors;
    std::map<std::string, std::string> types;  // family -> type
    std::map<std::string, std::string> help;
    std::vector<Sample> samples;

    // Value of the single sample with this name and exactly these labels.
    std::optional<double> get(const std::string &name, const std::map<std::string, std::string> &labels) const
    {
        for (auto &s : samples)
            if (s.name == name && s.labels == labels)
                return s.value;
        return std::nullopt;
    }
    size_t count(const std::string &name) const
    {
        size_t n = 0;
        for (auto &s : samples)
            n += s.name == name;
        return n;
    }
};

bool valid_metric_name(const std::string &n)
{
    if (n.empty() || !(isalpha((unsigned char)n[0]) || n[0] == '_' || n[0] == ':'))
        return false;
    for (char c : n)
        if (!(isalnum((unsigned char)c) || c == '_' || c == ':'))
            return false;
    return true;
}

bool valid_label_name(const std::string &n)
{
    if (n.empty() || !(isalpha((unsigned char)n[0]) || n[0] == '_'))
        return false;
    for (char c : n)
        if (!(isalnum((unsigned char)c) || c == '_'))
            return false;
    return n.rfind("__", 0) != 0;
}

bool parse_value(const std::string &t, double &v)
{
    if (t == "+Inf") {
        v = INFINITY;
        return true;
    }
    if (t == "-Inf") {
        v = -INFINITY;
        return true;
    }
    if (t == "NaN") {
        v = NAN;
        return true;
    }
    if (t.empty())
        return false;
    char *end = nullptr;
    v = strtod(t.c_str(), &end);
    return end == t.c_str() + t.size() && std::isfinite(v);
}

std::string family_of(const std::string &sample, const std::string &type, const std::string &fam)
{
    if (type == "histogram") {
        for (const char *suf : {"_bucket", "_sum", "_count"})
            if (sample == fam + suf)
                return fam;
        return "";
    }
    return sample == fam ? fam : "";
}

Parsed check_exposition(const std::string &text)
{
    Parsed p;
    auto err = [&](size_t line, const std::string &what) {
        p.errors.push_back("line " + std::to_string(line) + ": " + what);
    };
    if (text.empty() || text.back() != '\n') {
        p.errors.push_back("does not end with a newline");
        return p;
    }
    std::vector<std::string> lines;
    std::stringstream ss(text);
    for (std::string l; std::getline(ss, l);)
        lines.push_back(l);
    if (lines.empty() || lines.back() != "# EOF")
        p.errors.push_back("last line is not '# EOF'");
    std::string cur;  // current family
    std::set<std::string> closed;  // families whose samples ended
    std::set<std::string> series;
    for (size_t i = 0; i < lines.size(); i++) {
        const std::string &l = lines[i];
        size_t ln = i + 1;
        if (l == "# EOF") {
            if (i + 1 != lines.size())
                err(ln, "# EOF before the end");
            continue;
        }
        if (l.empty()) {
            err(ln, "empty line");
            continue;
        }
        if (l[0] == '#') {
            std::istringstream ls(l);
            std::string hash, kw, name;
            ls >> hash >> kw >> name;
            if (hash != "#" || (kw != "HELP" && kw != "TYPE") || !valid_metric_name(name)) {
                err(ln, "bad comment line: " + l);
                continue;
            }
            if (cur != name && !cur.empty())
                closed.insert(cur);
            if (closed.count(name))
                err(ln, "family " + name + " declared again after its samples");
            cur = name;
            std::string rest;
            std::getline(ls, rest);
            if (!rest.empty() && rest[0] == ' ')
                rest.erase(0, 1);
            if (kw == "HELP") {
                if (p.help.count(name))
                    err(ln, "second HELP for " + name);
                if (rest.empty())
                    err(ln, "empty HELP for " + name);
                p.help[name] = rest;
            } else {
                if (p.types.count(name))
                    err(ln, "second TYPE for " + name);
                static const std::set<std::string> types{"counter", "gauge", "histogram", "summary", "untyped"};
                if (!types.count(rest))
                    err(ln, "unknown type " + rest);
                if (rest == "counter" && name.size() < 6)
                    err(ln, "counter without _total");
                if (rest == "counter" && name.substr(name.size() - 6) != "_total")
                    err(ln, "counter " + name + " does not end in _total");
                p.types[name] = rest;
            }
            continue;
        }
        // Sample: name{labels} value
        Sample s;
        size_t k = 0;
        while (k < l.size() && l[k] != '{' && l[k] != ' ')
            k++;
        s.name = l.substr(0, k);
        if (!valid_metric_name(s.name)) {
            err(ln, "bad metric name '" + s.name + "'");
            continue;
        }
        if (k < l.size() && l[k] == '{') {
            k++;
            bool ok = true;
            while (ok && k < l.size() && l[k] != '}') {
                size_t eq = l.find('=', k);
                if (eq == std::string::npos) {
                    ok = false;
                    break;
                }
                std::string ln_ = l.substr(k, eq - k);
                if (!valid_label_name(ln_) || eq + 1 >= l.size() || l[eq + 1] != '"') {
                    ok = false;
                    break;
                }
                k = eq + 2;
                std::string v;
                bool closed_q = false;
                while (k < l.size()) {
                    char c = l[k++];
                    if (c == '"') {
                        closed_q = true;
                        break;
                    }
                    if (c == '\\') {
                        if (k >= l.size()) {
                            ok = false;
                            break;
                        }
                        char e = l[k++];
                        if (e == 'n')
                            v += '\n';
                        else if (e == '\\' || e == '"')
                            v += e;
                        else {
                            ok = false;
                            break;
                        }
                    } else {
                        v += c;
                    }
                }
                if (!closed_q || !ok) {
                    ok = false;
                    break;
                }
                if (s.labels.count(ln_))
                    err(ln, "duplicate label " + ln_);
                s.labels[ln_] = v;
                if (k < l.size() && l[k] == ',')
                    k++;
                else if (k < l.size() && l[k] != '}')
                    ok = false;
            }
            if (!ok || k >= l.size() || l[k] != '}') {
                err(ln, "bad label set: " + l);
                continue;
            }
            k++;
        }
        if (k >= l.size() || l[k] != ' ') {
            err(ln, "no space before the value: " + l);
            continue;
        }
        std::string rest = l.substr(k + 1);
        if (rest.find(' ') != std::string::npos) {
            err(ln, "timestamp or trailing text (node_exporter's textfile collector refuses timestamps): " + l);
            continue;
        }
        if (!parse_value(rest, s.value)) {
            err(ln, "bad value '" + rest + "'");
            continue;
        }
        if (cur.empty() || !p.types.count(cur) || family_of(s.name, p.types[cur], cur).empty()) {
            err(ln, "sample " + s.name + " outside its family's HELP/TYPE block");
            continue;
        }
        if (p.types[cur] == "counter" && !(s.value >= 0))
            err(ln, "negative counter");
        std::string key = s.name;
        for (auto &[a, b] : s.labels)
            key += "|" + a + "=" + b;
        if (!series.insert(key).second)
            err(ln, "duplicate series " + key);
        p.samples.push_back(std::move(s));
    }
    for (auto &[fam, type] : p.types)
        if (!p.help.count(fam))
            p.errors.push_back("no HELP for " + fam);

    // Histogram consistency: per label set, le ascending and ending at +Inf,
    // cumulative counts non-decreasing, +Inf == _count, _sum present.
    for (auto &[fam, type] : p.types) {
        if (type != "histogram")
            continue;
        std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
        for (auto &s : p.samples)
            if (s.name == fam + "_bucket") {
                auto l = s.labels;
                double le;
                if (!l.count("le") || !parse_value(l["le"], le) || std::isnan(le)) {
                    p.errors.push_back(fam + ": bucket without a valid le");
                    continue;
                }
                l.erase("le");
                buckets[l].push_back({le, s.value});
            }
        for (auto &[l, bs] : buckets) {
            for (size_t i = 1; i < bs.size(); i++) {
                if (!(bs[i].first > bs[i - 1].first))
                    p.errors.push_back(fam + ": le not increasing");
                if (bs[i].second < bs[i - 1].second)
                    p.errors.push_back(fam + ": bucket counts decrease");
            }
            if (bs.empty() || !std::isinf(bs.back().first))
                p.errors.push_back(fam + ": no +Inf bucket");
            auto c = p.get(fam + "_count", l);
            if (!c || bs.empty() || *c != bs.back().second)
                p.errors.push_back(fam + ": _count missing or != +Inf bucket");
            if (!p.get(fam + "_sum", l))
                p.errors.push_back(fam + ": _sum missing");
        }
    }
    return p;
}

std::string joined(const std::vector<std::string> &v)
{
    std::string s;
    for (auto &e : v)
        s += e + "\n";
    return s;
}

// ---- fixtures ----

Hist hist(uint64_t n, int bucket, uint64_t bytes = 0)
{
    Hist h;
    h.count = n;
    h.buckets[bucket] = n;
    h.sum_ns = n * (bucket_lo(bucket) + bucket_lo(bucket) / 2);
    h.max_ns = bucket_hi(bucket) - 1;
    h.bytes = bytes;
    return h;
}

Snapshot snapshot()
{
    Snapshot s;
    s.duration_s = 5;
    s.ncpus = 2;
    s.points = {{"dma_map_page", Category::DmaApi, true},
                {"iommu_map", Category::IommuCore, true},
                {"io_page_fault", Category::Fault, false},
                {kTotalPoint, Category::Total, true}};
    s.cells = {{"dma_map_page", "0000:00:04.0", 0, hist(1000, 9, 4096000)},
               {"dma_map_page", "0000:00:04.0", 1, hist(500, 10, 2048000)},
               {"iommu_map", "0000:00:04.0", 1, hist(300, 8)},
               {"iommu_map", "we\"ird\\dev\nname", 0, hist(7, 5)},
               {"io_page_fault", "0000:00:04.0", 0, {3, 0, 0, 0, 0, {}}},
               {kTotalPoint, "0000:00:04.0", 0, hist(1000, 11)},
               {kTotalPoint, "0000:00:04.0", 1, hist(500, 11)}};
    s.counters.ctx_full = 4;
    return s;
}

HostFacts host()
{
    HostFacts h;
    h.kernel.release = "6.1.0-18-amd64";
    h.kernel.wants_passthrough = false;
    h.iommu.vendor = "intel";
    h.iommu.default_domain = "translated";
    h.iommu.dma_policy = "strict";
    h.vfio_devices = {"0000:00:05.0", "0000:00:06.0"};
    return h;
}

using L = std::map<std::string, std::string>;

}  // namespace

TEST(OpenMetrics, CheckerCatchesBrokenText)
{
    // The checker itself must be able to fail.
    EXPECT_FALSE(check_exposition("a_total 1\n# EOF\n").errors.empty());  // no HELP/TYPE
    EXPECT_FALSE(check_exposition("# HELP a_total x\n# TYPE a_total counter\na_total 1\n").errors.empty());  // no EOF
    EXPECT_FALSE(
        check_exposition("# HELP a_total x\n# TYPE a_total counter\na_total{x=\"a\\q\"} 1\n# EOF\n").errors.empty());
    EXPECT_FALSE(check_exposition("# HELP a_total x\n# TYPE a_total counter\na_total 1 1700000000\n# EOF\n")
                     .errors.empty());
    EXPECT_FALSE(check_exposition("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 4\n"
                                  "h_sum 1\nh_count 4\n# EOF\n")
                     .errors.empty());
    EXPECT_TRUE(check_exposition("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 4\n"
                                 "h_sum 1\nh_count 4\n# EOF\n")
                    .errors.empty());
}

TEST(OpenMetrics, ParsesStrictlyAndHoldsTheSnapshot)
{
    std::string text = render_openmetrics(snapshot(), host());
    Parsed p = check_exposition(text);
    ASSERT_TRUE(p.errors.empty()) << joined(p.errors) << text;
    EXPECT_EQ(p.types["iommuprof_calls_total"], "counter");
    EXPECT_EQ(p.types["iommuprof_latency_seconds"], "histogram");

    L cell{{"point", "dma_map_page"}, {"category", "dma-api"}, {"device", "0000:00:04.0"}, {"cpu", "1"}};
    EXPECT_EQ(p.get("iommuprof_calls_total", cell), 500);
    EXPECT_EQ(p.get("iommuprof_bytes_total", cell), 2048000);
    EXPECT_EQ(p.get("iommuprof_errors_total", cell), 0);
    EXPECT_EQ(p.get("iommuprof_latency_seconds_count", cell), 500);
    // 500 calls in bucket 10 = [1024, 2048) ns: 0 below le=1.024e-06, all at le=2.048e-06.
    L b = cell;
    b["le"] = "1.024e-06";
    EXPECT_EQ(p.get("iommuprof_latency_seconds_bucket", b), 0);
    b["le"] = "2.048e-06";
    EXPECT_EQ(p.get("iommuprof_latency_seconds_bucket", b), 500);
    b["le"] = "+Inf";
    EXPECT_EQ(p.get("iommuprof_latency_seconds_bucket", b), 500);
    EXPECT_NEAR(*p.get("iommuprof_latency_seconds_sum", cell), 500 * 1536e-9, 1e-12);
    EXPECT_EQ(p.count("iommuprof_latency_seconds_bucket"), 6u * kBuckets);  // 6 timed cells

    // Count-only point: counters, no histogram.
    L fault{{"point", "io_page_fault"}, {"category", "fault"}, {"device", "0000:00:04.0"}, {"cpu", "0"}};
    EXPECT_EQ(p.get("iommuprof_calls_total", fault), 3);
    EXPECT_FALSE(p.get("iommuprof_latency_seconds_count", fault));

    // Escaped device name reads back as written.
    L weird{{"point", "iommu_map"}, {"category", "iommu-core"}, {"device", "we\"ird\\dev\nname"}, {"cpu", "0"}};
    EXPECT_EQ(p.get("iommuprof_calls_total", weird), 7);

    EXPECT_EQ(p.get("iommuprof_probe_anomalies_total", {{"kind", "ctx_full"}}), 4);
    EXPECT_EQ(p.get("iommuprof_profile_duration_seconds", {}), 5);
    EXPECT_EQ(p.get("iommuprof_cpus", {}), 2);
    EXPECT_EQ(p.get("iommuprof_vfio_devices", {}), 2);
    EXPECT_EQ(p.get("iommuprof_host_info", {{"kernel", "6.1.0-18-amd64"},
                                            {"vendor", "intel"},
                                            {"default_domain", "translated"},
                                            {"dma_policy", "strict"},
                                            {"passthrough_requested", "false"},
                                            {"strict_requested", "unknown"}}),
              1);
    EXPECT_EQ(p.count("iommuprof_profile_info"), 0u);  // no label
    EXPECT_EQ(p.count("iommuprof_probe_attached"), 0u);  // no plan
}

TEST(OpenMetrics, WithoutCpuLabelSumsCpus)
{
    std::vector<Attachment> plan{{"dma_map_page", Category::DmaApi, "dma_map_page_attrs", Method::Fentry, "", true},
                                 {"flush", Category::Flush, "", Method::Unavailable, "absent", false}};
    OpenMetricsOptions o;
    o.per_cpu = false;
    o.label = "after: iommu=pt";
    o.plan = &plan;
    Parsed p = check_exposition(render_openmetrics(snapshot(), host(), o));
    ASSERT_TRUE(p.errors.empty()) << joined(p.errors);
    L dev{{"point", "dma_map_page"}, {"category", "dma-api"}, {"device", "0000:00:04.0"}};
    EXPECT_EQ(p.get("iommuprof_calls_total", dev), 1500);
    EXPECT_EQ(p.get("iommuprof_latency_seconds_count", dev), 1500);
    L b = dev;
    b["le"] = "1.024e-06";  // bucket 9 upper bound: the 1000 calls of CPU 0
    EXPECT_EQ(p.get("iommuprof_latency_seconds_bucket", b), 1000);
    for (auto &s : p.samples)
        EXPECT_EQ(s.labels.count("cpu"), 0u) << s.name;
    EXPECT_EQ(p.get("iommuprof_profile_info", {{"label", "after: iommu=pt"}}), 1);
    EXPECT_EQ(p.get("iommuprof_probe_attached", {{"point", "flush"}, {"category", "flush"}, {"method", "unavailable"}}),
              0);
    EXPECT_EQ(p.get("iommuprof_probe_attached",
                    {{"point", "dma_map_page"}, {"category", "dma-api"}, {"method", "fentry"}}),
              1);
}

TEST(OpenMetrics, PacketsAndSoftirqNesting)
{
    Snapshot s = snapshot();
    s.net = {{"0000:00:06.0", "eth1", "labpeer", 1000, 200, 1'400'000, 12'000}};
    s.counters.softirq_nested = 12;
    s.counters.softirq_nested_calls = 40;
    Parsed p = check_exposition(render_openmetrics(s, host()));
    ASSERT_TRUE(p.errors.empty()) << joined(p.errors);
    EXPECT_EQ(p.types["iommuprof_network_packets_total"], "counter");
    L rx{{"device", "0000:00:06.0"}, {"interface", "eth1"}, {"netns", "labpeer"}, {"direction", "rx"}};
    EXPECT_EQ(p.get("iommuprof_network_packets_total", rx), 1000);
    rx["direction"] = "tx";
    EXPECT_EQ(p.get("iommuprof_network_packets_total", rx), 200);
    EXPECT_EQ(p.get("iommuprof_softirq_nested_total", {}), 12);
    EXPECT_EQ(p.get("iommuprof_softirq_nested_calls_total", {}), 40);
    EXPECT_EQ(check_exposition(render_openmetrics(snapshot(), host())).count("iommuprof_network_packets_total"), 0u)
        << "no packet series without packet counters";
}

TEST(OpenMetrics, EmptySnapshotIsValid)
{
    Snapshot s;
    s.ncpus = 1;
    Parsed p = check_exposition(render_openmetrics(s, HostFacts{}));
    EXPECT_TRUE(p.errors.empty()) << joined(p.errors);
    EXPECT_EQ(p.count("iommuprof_calls_total"), 0u);
}

TEST(OpenMetrics, LabelEscaping)
{
    EXPECT_EQ(om_escape_label("plain"), "plain");
    EXPECT_EQ(om_escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    EXPECT_EQ(om_escape_label("\xc2\xb5s"), "\xc2\xb5s");         // valid UTF-8 kept
    EXPECT_EQ(om_escape_label("x\xff\xc0y"), "x??y");               // invalid bytes replaced
    EXPECT_EQ(om_escape_label("\xe2\x82"), "??");                   // truncated sequence
    EXPECT_EQ(om_escape_label("t\x1b]0;x\x07 \xc2\x9b"), "t?]0;x? ?");     // control characters (C0, DEL, C1) replaced
    EXPECT_EQ(om_escape_label("\xed\xa0\x80"), "???");              // surrogate
    EXPECT_EQ(om_bucket_le(0), "2e-09");
    EXPECT_EQ(om_bucket_le(9), "1.024e-06");
    EXPECT_EQ(om_bucket_le(kBuckets - 1), "+Inf");
}

TEST(OpenMetrics, AtomicFileWrite)
{
    std::string dir = std::filesystem::temp_directory_path() / "iommuprof-om-XXXXXX";
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    std::string path = dir + "/iommuprof.prom";
    write_openmetrics_file(path, snapshot(), host());
    write_openmetrics_file(path, snapshot(), host());  // replaces
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    EXPECT_EQ(ss.str(), render_openmetrics(snapshot(), host()));
    size_t n = 0;
    for ([[maybe_unused]] auto &e : std::filesystem::directory_iterator(dir))
        n++;
    EXPECT_EQ(n, 1u);  // no temp file left behind
    EXPECT_THROW(write_openmetrics_file(dir + "/missing/x.prom", snapshot(), host()), Error);
    std::filesystem::remove_all(dir);
}

// ---- inspect --openmetrics: host facts alone ----

using test::fixture_host;

TEST(HostOpenMetrics, ParsesStrictlyAndHoldsTheFacts)
{
    HostFacts h = fixture_host("amd-strict", "dmesg-faults.txt");
    std::string text = render_host_openmetrics(h);
    Parsed p = check_exposition(text);
    ASSERT_TRUE(p.errors.empty()) << joined(p.errors) << text;
    EXPECT_EQ(p.get("iommuprof_facts_default_domain", {{"domain", "translated"}}), 1);
    EXPECT_EQ(p.get("iommuprof_facts_default_domain", {{"domain", "passthrough"}}), 0);
    EXPECT_EQ(p.count("iommuprof_facts_default_domain"), 4u);  // a state set: every state, always
    EXPECT_EQ(p.get("iommuprof_facts_dma_policy", {{"policy", "strict"}}), 1);
    EXPECT_EQ(p.get("iommuprof_facts_dma_policy", {{"policy", "lazy"}}), 0);
    EXPECT_EQ(p.get("iommuprof_facts_iommu_active", {}), 1);
    EXPECT_EQ(p.get("iommuprof_facts_kernel_log_read", {}), 1);
    EXPECT_EQ(p.get("iommuprof_facts_faults", {}), 3);
    EXPECT_EQ(p.get("iommuprof_facts_device_faults", {{"device", "0000:41:00.0"}}), 2);
    EXPECT_EQ(p.get("iommuprof_facts_device_faults", {{"device", "0000:42:00.1"}}), 1);
    double groups = 0;
    for (auto &[t, n] : h.iommu.group_types) {
        EXPECT_EQ(p.get("iommuprof_facts_groups", {{"type", t}}), n) << t;
        groups += n;
    }
    EXPECT_GT(groups, 0);
    ASSERT_TRUE(h.irq_remapping.enabled.has_value());
    EXPECT_EQ(p.get("iommuprof_facts_irq_remapping", {}), *h.irq_remapping.enabled ? 1 : 0);
    for (auto &c : h.kernel.iommu_params)
        EXPECT_EQ(p.get("iommuprof_facts_cmdline_param", {{"key", c.key}, {"value", c.value}}), 1) << c.key;
    EXPECT_EQ(p.get("iommuprof_facts_info", {{"kernel", h.kernel.release},
                                             {"vendor", "amd"},
                                             {"default_domain", "translated"},
                                             {"dma_policy", "strict"},
                                             {"passthrough_requested", "unknown"},
                                             {"strict_requested", "true"},
                                             {"strict_forced", "false"}}),
              1);
}

TEST(HostOpenMetrics, PassthroughVfioAndUnknowns)
{
    HostOptions o;
    o.root = std::string(IOMMUPROF_FIXTURES) + "/hosts/intel-pt-vfio";
    HostFacts h = read_host_facts(o);  // no kernel log: faults unknown, not 0
    Parsed p = check_exposition(render_host_openmetrics(h));
    ASSERT_TRUE(p.errors.empty()) << joined(p.errors);
    EXPECT_EQ(p.get("iommuprof_facts_default_domain", {{"domain", "passthrough"}}), 1);
    EXPECT_EQ(p.get("iommuprof_facts_default_domain", {{"domain", "translated"}}), 0);
    EXPECT_EQ(p.get("iommuprof_facts_dma_policy", {{"policy", "none"}}), 1);
    EXPECT_EQ(p.get("iommuprof_facts_vfio_devices", {}), 1);
    EXPECT_EQ(p.get("iommuprof_facts_vfio_shared_groups", {}), 1);
    EXPECT_EQ(p.get("iommuprof_facts_mixed_groups", {}), 1);
    EXPECT_EQ(p.get("iommuprof_facts_kernel_log_read", {}), 0);
    EXPECT_EQ(p.count("iommuprof_facts_faults"), 0u);
    EXPECT_EQ(p.count("iommuprof_facts_device_faults"), 0u);
}

TEST(HostOpenMetrics, RepeatedCmdlineParameterIsOneSeries)
{
    HostFacts h = fixture_host("amd-strict", "dmesg-faults.txt");
    h.kernel.iommu_params.push_back(h.kernel.iommu_params.at(0));  // given twice on the command line
    Parsed p = check_exposition(render_host_openmetrics(h));
    EXPECT_TRUE(p.errors.empty()) << joined(p.errors);  // the strict parser refuses duplicated series
    EXPECT_EQ(p.count("iommuprof_facts_cmdline_param"), h.kernel.iommu_params.size() - 1);
}

// Both files go to one textfile directory: node_exporter refuses a series
// that two files define, so the two exports share no family.
TEST(HostOpenMetrics, SharesNoFamilyWithTheProfileExport)
{
    Parsed a = check_exposition(render_openmetrics(snapshot(), host()));
    Parsed b = check_exposition(render_host_openmetrics(fixture_host("amd-strict", "dmesg-faults.txt")));
    ASSERT_FALSE(a.types.empty());
    ASSERT_FALSE(b.types.empty());
    for (auto &[name, type] : b.types)
        EXPECT_EQ(a.types.count(name), 0u) << name;
}

// promtool (Debian package "prometheus") parses with the same library as
// node_exporter's textfile collector and lints the names.
TEST(OpenMetrics, PromtoolAccepts)
{
    std::string promtool;
    for (const char *c : {"/usr/bin/promtool", "/usr/local/bin/promtool"})
        if (access(c, X_OK) == 0)
            promtool = c;
    if (promtool.empty())
        GTEST_SKIP() << "promtool not installed (apt-get install prometheus)";
    std::vector<Attachment> plan{{"dma_map_page", Category::DmaApi, "x", Method::Fentry, "", true}};
    OpenMetricsOptions o;
    o.label = "lab \"strict\"";
    o.plan = &plan;
    std::string dir = std::filesystem::temp_directory_path() / "iommuprof-om-XXXXXX";
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    for (bool per_cpu : {true, false}) {
        o.per_cpu = per_cpu;
        std::string path = dir + "/x.prom";
        write_openmetrics_file(path, snapshot(), host(), o);
        std::string cmd = promtool + " check metrics < " + path + " > " + dir + "/out 2>&1";
        int rc = system(cmd.c_str());
        std::ifstream f(dir + "/out");
        std::stringstream ss;
        ss << f.rdbuf();
        EXPECT_EQ(rc, 0) << "per_cpu=" << per_cpu << ":\n" << ss.str();
        EXPECT_EQ(ss.str(), "") << "promtool lint findings";
    }
    for (const char *fx : {"amd-strict", "intel-pt-vfio"}) {
        std::string path = dir + "/host.prom";
        write_file_atomic(path, render_host_openmetrics(fixture_host(fx, "dmesg.txt")));
        std::string cmd = promtool + " check metrics < " + path + " > " + dir + "/out 2>&1";
        int rc = system(cmd.c_str());
        std::ifstream f(dir + "/out");
        std::stringstream ss;
        ss << f.rdbuf();
        EXPECT_EQ(rc, 0) << fx << ":\n" << ss.str();
        EXPECT_EQ(ss.str(), "") << fx << ": promtool lint findings";
    }
    std::filesystem::remove_all(dir);
}
