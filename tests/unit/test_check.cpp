// `iommuprof check`: config parsing, expectations, evaluation over the fixture
// hosts (tests/fixtures/hosts/*), the baseline and the Nagios/JSON output.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "iommuprof/check.hpp"
#include "iommuprof/render.hpp"
#include "iommuprof/error.hpp"
#include "iommuprof/hostfacts.hpp"

namespace iommuprof {
// Failures print "CRITICAL", not the enum's bytes.
inline void PrintTo(CheckStatus s, std::ostream *os) { *os << status_name(s); }
}  // namespace iommuprof

using namespace iommuprof;
namespace fs = std::filesystem;

namespace {

std::string fixture(const std::string &name) { return std::string(IOMMUPROF_FIXTURES) + "/hosts/" + name; }

HostFacts read_fixture(const std::string &name, const std::string &dmesg = "dmesg.txt")
{
    HostOptions o;
    o.root = fixture(name);
    if (!dmesg.empty())
        o.dmesg_file = fixture(name) + "/" + dmesg;
    return read_host_facts(o);
}

// Expectations from config text, finished like the CLI does.
Expectations config(const std::string &text)
{
    Expectations e = parse_check_config(text, "test.conf");
    finish_expectations(e);
    return e;
}

CheckReport check(const HostFacts &h, const std::string &text) { return evaluate_checks(h, config(text)); }

const CheckResult &result(const CheckReport &r, const std::string &check, const std::string &subject = "")
{
    for (auto &x : r.results)
        if (x.check == check && x.subject == subject)
            return x;
    throw std::runtime_error("no result for " + check + " " + subject);
}

bool has(const std::string &s, const std::string &needle) { return s.find(needle) != std::string::npos; }

// The message of the Error that f throws ("" when it throws none).
template <class F>
std::string error_of(F f)
{
    try {
        f();
    } catch (const Error &e) {
        return e.what();
    }
    return "";
}

std::string config_error(const std::string &text)
{
    return error_of([&] { config(text); });
}

}  // namespace

// ---- config format ----

TEST(CheckConfig, KeysValuesCommentsAndSources)
{
    Expectations e = parse_check_config("\xef\xbb\xbf# fleet policy\n"
                                        "\n"
                                        "default-domain = Passthrough   # after iommu=pt\r\n"
                                        "  dma-policy=lazy\n"
                                        "vendor = INTEL\n"
                                        "iommu-active = on\n"
                                        "irq-remapping = yes\n"
                                        "cmdline-require = iommu=pt intel-iommu=on\n"
                                        "cmdline-forbid = iommu.passthrough\n"
                                        "max-faults = 0\n"
                                        "faults-critical = 10\n"
                                        "vfio-groups = clean\n"
                                        "mixed-groups = any\n"
                                        "max-swiotlb-slabs = 512\n"
                                        "severity = faults=critical, vfio-groups=critical\n"
                                        "skip = swiotlb\n"
                                        "baseline = /var/lib/iommuprof/baseline.json\n",
                                        "/etc/iommuprof/check.conf");
    EXPECT_EQ(e.default_domain, "passthrough");  // canonical spelling
    EXPECT_EQ(e.dma_policy, "lazy");
    EXPECT_EQ(e.vendor, "intel");
    EXPECT_EQ(e.iommu_active, true);
    EXPECT_EQ(e.irq_remapping, true);
    EXPECT_EQ(e.cmdline_require, (std::vector<std::string>{"iommu=pt", "intel_iommu=on"}));  // '-' == '_'
    EXPECT_EQ(e.cmdline_forbid, (std::vector<std::string>{"iommu.passthrough"}));
    EXPECT_EQ(e.max_faults, 0u);
    EXPECT_EQ(e.faults_critical, 10u);
    EXPECT_EQ(e.vfio_clean, true);
    EXPECT_EQ(e.no_mixed_groups, false);
    EXPECT_EQ(e.max_swiotlb_slabs, 512u);
    EXPECT_EQ(e.severity.at("faults"), CheckStatus::Critical);
    EXPECT_EQ(e.severity.at("vfio-groups"), CheckStatus::Critical);
    EXPECT_EQ(e.skip, std::set<std::string>{"swiotlb"});
    EXPECT_EQ(e.baseline, "/var/lib/iommuprof/baseline.json");
    EXPECT_EQ(e.source.at("default-domain"), "/etc/iommuprof/check.conf:3");
    EXPECT_EQ(e.source.at("dma-policy"), "/etc/iommuprof/check.conf:4");
    EXPECT_EQ(e.source.size(), expectation_keys().size());  // every key is a config key
}

TEST(CheckConfig, ErrorsNameTheFileAndLine)
{
    EXPECT_EQ(config_error("max-faults = 0\nmax-fautls = 1\n"),
              "test.conf:2: unknown key 'max-fautls' (did you mean 'max-faults'?)");
    EXPECT_EQ(config_error("frobnicate = 1\n"), "test.conf:1: unknown key 'frobnicate'");
    EXPECT_EQ(config_error("vendor = intel\n# x\nvendor = amd\n"), "test.conf:3: 'vendor' is already set on line 1");
    EXPECT_EQ(config_error("\n\ndefault-domain = strict\n"),
              "test.conf:3: default-domain: 'strict' is not one of translated, passthrough, DMA, DMA-FQ, identity, "
              "mixed, none");
    EXPECT_EQ(config_error("irq-remapping = maybe\n"),
              "test.conf:1: irq-remapping: 'maybe' is not yes or no (also on/off, true/false, 1/0)");
    EXPECT_EQ(config_error("just some words\n"), "test.conf:1: expected 'key = value'");
    EXPECT_EQ(config_error("= 3\n"), "test.conf:1: expected 'key = value'");
    EXPECT_EQ(config_error("vendor =\n"), "test.conf:1: vendor: no value");
    EXPECT_EQ(config_error("vendor = # nothing\n"), "test.conf:1: vendor: no value");
    EXPECT_EQ(config_error("root = /mnt\n"), "test.conf:1: 'root' is an option of the command line only, not a config key");
    EXPECT_EQ(config_error("baseline = baseline.json\n"), "test.conf:1: baseline: 'baseline.json' is not an absolute path");
    EXPECT_EQ(config_error("severity = faults=fatal\n"), "test.conf:1: severity: 'fatal' is not one of warning, critical");
    EXPECT_EQ(config_error("severity = faults\n"), "test.conf:1: severity: 'faults' is not CHECK=warning or CHECK=critical");
    EXPECT_TRUE(has(config_error("skip = fault\n"), "test.conf:1: skip: 'fault' is not a check (default-domain,"));
    EXPECT_EQ(config_error("cmdline-require = \"iommu=pt\"\n"),
              "test.conf:1: cmdline-require: '\"iommu=pt\"' is not a kernel parameter (key or key=value)");
    EXPECT_TRUE(has(config_error(std::string("vendor = in\0tel\n", 16)), "test.conf:1: control characters"));
    EXPECT_TRUE(has(config_error("max-faults = 1\x1b[2J\n"), "test.conf:1: control characters"));
    EXPECT_EQ(config_error(std::string(kMaxCheckConfigBytes + 1, '#')), "test.conf: larger than 64 KiB: not a check config");
    // Counts are plain decimals.
    for (const char *bad : {"-1", "0x10", "1e3", "nan", "1.5", "99999999999999999999"})
        EXPECT_TRUE(has(config_error(std::string("max-faults = ") + bad + "\n"), "is not a count")) << bad;
}

TEST(CheckConfig, DefaultsOnlyWhenNothingIsAsked)
{
    // An empty (or all-commented) config checks what makes sense on any host.
    Expectations e = config("# everything commented out\n# default-domain = passthrough\n");
    EXPECT_TRUE(e.defaults);
    EXPECT_EQ(e.max_faults, 0u);
    EXPECT_EQ(e.vfio_clean, true);
    EXPECT_EQ(e.source.at("max-faults"), "default");
    // severity, skip and baseline shape the checks but ask for none.
    EXPECT_TRUE(config("skip = faults\nbaseline = /b.json\n").defaults);
    // Any check key replaces the defaults.
    Expectations d = config("default-domain = translated\n");
    EXPECT_FALSE(d.defaults);
    EXPECT_FALSE(d.max_faults.has_value());
    EXPECT_FALSE(d.vfio_clean.has_value());
    EXPECT_FALSE(config("vfio-groups = any\n").defaults);
}

TEST(CheckConfig, CommandLineOverridesKeyByKey)
{
    Expectations e = parse_check_config("default-domain = translated\nmax-faults = 0\n", "c.conf");
    set_expectation(e, "default-domain", "passthrough", "command line");
    EXPECT_EQ(e.default_domain, "passthrough");
    EXPECT_EQ(e.source.at("default-domain"), "command line");
    EXPECT_EQ(e.source.at("max-faults"), "c.conf:2");
    try {
        set_expectation(e, "dma-policy", "relaxed", "command line");
        FAIL() << "no error";
    } catch (const ExpectationError &x) {
        EXPECT_EQ(x.key, "dma-policy");
        EXPECT_EQ(x.problem, "'relaxed' is not one of strict, lazy, none, mixed");
    }
}

TEST(CheckConfig, Contradictions)
{
    EXPECT_EQ(config_error("default-domain = DMA-FQ\ndma-policy = strict\n"),
              "default-domain DMA-FQ (test.conf:1) contradicts dma-policy strict (test.conf:2)");
    EXPECT_EQ(config_error("default-domain = passthrough\ndma-policy = lazy\n"),
              "default-domain passthrough (test.conf:1) contradicts dma-policy lazy (test.conf:2)");
    EXPECT_EQ(config_error("iommu-active = no\nvendor = intel\n"),
              "iommu-active no (test.conf:1) contradicts vendor intel (test.conf:2)");
    EXPECT_EQ(config_error("default-domain = DMA\ndma-policy = strict\n"), "");
}

// ---- evaluation over the fixture hosts ----

TEST(CheckEval, DefaultDomainAndPolicy)
{
    HostFacts pt = read_fixture("intel-pt-vfio");
    auto r = check(pt, "default-domain = translated\n");
    EXPECT_EQ(r.status, CheckStatus::Critical);
    const auto &d = result(r, "default-domain");
    EXPECT_EQ(d.status, CheckStatus::Critical);
    EXPECT_EQ(d.expected, "translated");
    EXPECT_EQ(d.actual, "passthrough");
    EXPECT_EQ(d.message, "passthrough, expected translated (command line: intel_iommu=on iommu=pt)");
    EXPECT_EQ(d.source, "test.conf:1");
    EXPECT_EQ(check(pt, "default-domain = passthrough\n").status, CheckStatus::Ok);
    EXPECT_EQ(check(pt, "default-domain = identity\n").status, CheckStatus::Ok);

    HostFacts lazy = read_fixture("intel-lazy");
    EXPECT_EQ(check(lazy, "default-domain = translated\n").status, CheckStatus::Ok);
    EXPECT_EQ(check(lazy, "default-domain = DMA-FQ\n").status, CheckStatus::Ok);
    auto dma = check(lazy, "default-domain = DMA\n");
    EXPECT_EQ(dma.status, CheckStatus::Critical);
    EXPECT_EQ(result(dma, "default-domain").message,
              "translated (lazy), expected DMA (translated, strict) (command line: intel_iommu=on)");
    auto pol = check(lazy, "dma-policy = strict\n");
    EXPECT_EQ(pol.status, CheckStatus::Critical);
    EXPECT_EQ(result(pol, "dma-policy").message, "lazy (DMA-FQ), expected strict (command line: intel_iommu=on)");
    EXPECT_EQ(check(read_fixture("amd-strict"), "dma-policy = strict\n").status, CheckStatus::Ok);
    // Nothing translated: the policy is "none", not unknown.
    EXPECT_EQ(result(check(pt, "dma-policy = lazy\n"), "dma-policy").actual, "none");
    EXPECT_EQ(check(read_fixture("no-iommu"), "default-domain = none\n").status, CheckStatus::Ok);
}

TEST(CheckEval, UnreadableGroupTypesAreUnknown)
{
    HostFacts h = read_fixture("intel-lazy", "");
    for (auto &g : h.groups)
        g.type = "";
    h.iommu.default_domain = "none";
    h.iommu.dma_policy = "";
    h.iommu.group_types = {{"unknown", 4}};
    auto r = check(h, "default-domain = translated\ndma-policy = lazy\n");
    EXPECT_EQ(result(r, "default-domain").status, CheckStatus::Unknown);
    EXPECT_EQ(result(r, "dma-policy").status, CheckStatus::Unknown);
    EXPECT_EQ(r.status, CheckStatus::Unknown);
}

TEST(CheckEval, VendorActiveIrqRemapping)
{
    HostFacts lazy = read_fixture("intel-lazy");
    EXPECT_EQ(check(lazy, "vendor = intel\niommu-active = yes\nirq-remapping = yes\n").status, CheckStatus::Ok);
    auto amd = check(lazy, "vendor = amd\n");
    EXPECT_EQ(result(amd, "vendor").message, "intel (units dmar0), expected amd");
    EXPECT_EQ(amd.status, CheckStatus::Critical);

    HostFacts none = read_fixture("no-iommu");
    auto act = check(none, "iommu-active = yes\n");
    EXPECT_EQ(result(act, "iommu-active").status, CheckStatus::Critical);
    EXPECT_EQ(result(act, "iommu-active").message, "no IOMMU is active (no IOMMU groups), expected an active IOMMU");
    EXPECT_EQ(check(none, "iommu-active = no\nvendor = none\n").status, CheckStatus::Ok);

    HostFacts virtio = read_fixture("virtio-iommu", "");
    auto ir = check(virtio, "irq-remapping = yes\n");
    EXPECT_EQ(result(ir, "irq-remapping").status, CheckStatus::Critical);
    EXPECT_EQ(result(ir, "irq-remapping").actual, "off");
    virtio.irq_remapping = {};
    EXPECT_EQ(check(virtio, "irq-remapping = yes\n").status, CheckStatus::Unknown);
    // Severity can be lowered per check.
    EXPECT_EQ(check(read_fixture("virtio-iommu", ""), "irq-remapping = yes\nseverity = irq-remapping=warning\n").status,
              CheckStatus::Warning);
}

TEST(CheckEval, CommandLineParameters)
{
    HostFacts pt = read_fixture("intel-pt-vfio");
    auto r = check(pt, "cmdline-require = iommu=pt intel_iommu intel_iommu=on iommu.strict=1\n"
                       "cmdline-forbid = iommu=off amd_iommu iommu=pt\n");
    EXPECT_EQ(result(r, "cmdline-require", "iommu=pt").status, CheckStatus::Ok);
    EXPECT_EQ(result(r, "cmdline-require", "intel_iommu").status, CheckStatus::Ok);  // a key alone: any value
    EXPECT_EQ(result(r, "cmdline-require", "intel_iommu").actual, "intel_iommu=on");
    EXPECT_EQ(result(r, "cmdline-require", "intel_iommu=on").status, CheckStatus::Ok);
    const auto &strict = result(r, "cmdline-require", "iommu.strict=1");
    EXPECT_EQ(strict.status, CheckStatus::Critical);
    EXPECT_EQ(strict.message, "iommu.strict=1 is not on the kernel command line");
    EXPECT_EQ(result(r, "cmdline-forbid", "iommu=off").status, CheckStatus::Ok);
    EXPECT_EQ(result(r, "cmdline-forbid", "amd_iommu").status, CheckStatus::Ok);
    EXPECT_EQ(result(r, "cmdline-forbid", "iommu=pt").status, CheckStatus::Critical);
    EXPECT_EQ(result(r, "cmdline-forbid", "iommu=pt").message, "iommu=pt is on the kernel command line");
    EXPECT_EQ(r.count(CheckStatus::Critical), 2);

    // Items of a comma list match; another value of the key is named; "-" == "_".
    HostFacts h = pt;
    h.kernel = parse_cmdline("ro intel-iommu=on,sm_on iommu=nopt \"quiet splash\" -- iommu=pt");
    auto c = check(h, "cmdline-require = intel_iommu=sm_on iommu=pt\ncmdline-forbid = iommu=nopt\n");
    EXPECT_EQ(result(c, "cmdline-require", "intel_iommu=sm_on").status, CheckStatus::Ok);
    EXPECT_EQ(result(c, "cmdline-require", "iommu=pt").message,
              "iommu=pt is not on the kernel command line (it has iommu=nopt)");  // after "--" is init's
    EXPECT_EQ(result(c, "cmdline-forbid", "iommu=nopt").status, CheckStatus::Critical);

    // An unreadable /proc/cmdline is UNKNOWN, not "absent".
    h.kernel = {};
    h.warnings.push_back("proc/cmdline: not readable");
    EXPECT_EQ(check(h, "cmdline-forbid = iommu=off\n").status, CheckStatus::Unknown);
}

TEST(CheckEval, Faults)
{
    HostFacts f = read_fixture("amd-strict", "dmesg-faults.txt");  // 3 faults
    auto w = check(f, "max-faults = 0\n");
    EXPECT_EQ(w.status, CheckStatus::Warning);
    EXPECT_EQ(result(w, "faults").message, "3 IOMMU faults in the kernel log (0000:41:00.0, 0000:42:00.1), more than 0");
    EXPECT_EQ(result(w, "faults").actual, "3");
    EXPECT_EQ(check(f, "max-faults = 3\n").status, CheckStatus::Ok);
    EXPECT_EQ(check(f, "max-faults = 0\nfaults-critical = 2\n").status, CheckStatus::Critical);
    EXPECT_EQ(result(check(f, "max-faults = 0\nfaults-critical = 2\n"), "faults").source, "test.conf:2");
    EXPECT_EQ(check(f, "max-faults = 0\nfaults-critical = 3\n").status, CheckStatus::Warning);
    EXPECT_EQ(check(f, "faults-critical = 5\n").status, CheckStatus::Ok);
    EXPECT_EQ(check(f, "max-faults = 0\nseverity = faults=critical\n").status, CheckStatus::Critical);
    EXPECT_EQ(check(read_fixture("amd-strict"), "max-faults = 0\n").status, CheckStatus::Ok);

    // The log was not read (no --dmesg, no readable /dev/kmsg): UNKNOWN, never OK.
    HostFacts nolog = read_fixture("amd-strict", "");
    auto u = check(nolog, "max-faults = 0\n");
    EXPECT_EQ(u.status, CheckStatus::Unknown);
    EXPECT_TRUE(has(result(u, "faults").message, "kernel log not read")) << result(u, "faults").message;
    EXPECT_FALSE(u.faults.has_value());
}

TEST(CheckEval, VfioAndMixedGroups)
{
    HostFacts pt = read_fixture("intel-pt-vfio");
    // Group 9: vfio-pci 03:00.0 with ahci 04:00.0 (and a bridge).
    auto r = check(pt, "vfio-groups = clean\nmixed-groups = none\n");
    EXPECT_EQ(r.status, CheckStatus::Warning);
    const auto &v = result(r, "vfio-groups", "group 9");
    EXPECT_EQ(v.status, CheckStatus::Warning);
    EXPECT_EQ(v.message, "vfio-pci 0000:03:00.0 shares the group with 0000:04:00.0 (ahci): VFIO refuses a group "
                         "with host-owned devices");
    const auto &m = result(r, "mixed-groups", "group 9");
    EXPECT_EQ(m.message, "its devices cannot be isolated from each other: 0000:03:00.0 (vfio-pci), 0000:04:00.0 "
                         "(ahci)");
    EXPECT_EQ(r.vfio_devices, 1);
    EXPECT_EQ(r.vfio_unclean_groups, 1);
    EXPECT_EQ(r.mixed_groups, 1);
    EXPECT_EQ(check(pt, "vfio-groups = clean\nseverity = vfio-groups=critical\n").status, CheckStatus::Critical);
    EXPECT_EQ(check(pt, "vfio-groups = any\nmixed-groups = any\n").results.size(), 0u);

    // Two functions of one device in one group are not mixed; no VFIO is clean.
    auto amd = check(read_fixture("amd-strict"), "vfio-groups = clean\nmixed-groups = none\n");
    EXPECT_EQ(amd.status, CheckStatus::Ok);
    EXPECT_EQ(result(amd, "vfio-groups").message, "no device is bound to vfio-pci");
    EXPECT_EQ(result(amd, "mixed-groups").message, "no mixed group (4 IOMMU groups)");

    // A vfio-pci device alone in its group is clean.
    HostFacts clean = pt;
    for (auto &g : clean.groups)
        if (g.id == 9)
            g.devices.erase(std::remove_if(g.devices.begin(), g.devices.end(),
                                           [](auto &d) { return d.name == "0000:04:00.0"; }),
                            g.devices.end());
    for (auto &g : clean.groups)
        if (g.id == 9)
            g.mixed = g.vfio_shared = false;
    auto c = check(clean, "vfio-groups = clean\n");
    EXPECT_EQ(c.status, CheckStatus::Ok);
    EXPECT_EQ(result(c, "vfio-groups").message, "1 vfio-pci device in 1 group, none shared or mixed");
}

TEST(CheckEval, Swiotlb)
{
    EXPECT_EQ(check(read_fixture("no-iommu"), "max-swiotlb-slabs = 0\n").status, CheckStatus::Ok);  // not present
    HostFacts h = read_fixture("intel-lazy");
    h.swiotlb = {};
    EXPECT_EQ(check(h, "max-swiotlb-slabs = 100\n").status, CheckStatus::Unknown);
    h.swiotlb.present = true;
    h.swiotlb.used_slabs = 300;
    h.swiotlb.total_slabs = 32768;
    auto r = check(h, "max-swiotlb-slabs = 100\n");
    EXPECT_EQ(r.status, CheckStatus::Warning);
    EXPECT_EQ(result(r, "swiotlb").message, "300 slabs in use of 32768, more than 100");
    EXPECT_EQ(check(h, "max-swiotlb-slabs = 300\n").status, CheckStatus::Ok);
}

TEST(CheckEval, WorstStatusAndOrder)
{
    EXPECT_EQ(worse(CheckStatus::Warning, CheckStatus::Unknown), CheckStatus::Unknown);
    EXPECT_EQ(worse(CheckStatus::Critical, CheckStatus::Unknown), CheckStatus::Critical);
    EXPECT_EQ(worse(CheckStatus::Ok, CheckStatus::Warning), CheckStatus::Warning);
    // amd-strict without a log: faults UNKNOWN, vendor CRITICAL, mixed OK, vfio OK.
    auto r = check(read_fixture("amd-strict", ""), "max-faults = 0\nvendor = intel\nvfio-groups = clean\n"
                                                   "irq-remapping = yes\n");
    EXPECT_EQ(r.status, CheckStatus::Critical);
    ASSERT_EQ(r.results.size(), 4u);
    EXPECT_EQ(r.results[0].check, "vendor");  // CRITICAL first, then UNKNOWN, then OK in check order
    EXPECT_EQ(r.results[1].check, "faults");
    EXPECT_EQ(r.results[2].check, "irq-remapping");
    EXPECT_EQ(r.results[3].check, "vfio-groups");
    // skip leaves checks out.
    auto s = check(read_fixture("amd-strict", ""), "max-faults = 0\nvendor = intel\nskip = faults, vendor\n");
    EXPECT_TRUE(s.results.empty());
    EXPECT_EQ(s.status, CheckStatus::Ok);
}

TEST(CheckEval, DefaultsOnAnyHost)
{
    auto r = check(read_fixture("intel-lazy"), "");
    EXPECT_TRUE(r.defaults);
    EXPECT_EQ(r.status, CheckStatus::Ok);
    ASSERT_EQ(r.results.size(), 2u);
    EXPECT_EQ(r.results[0].check, "faults");
    EXPECT_EQ(r.results[1].check, "vfio-groups");
    EXPECT_EQ(r.results[0].source, "default");
    EXPECT_EQ(check(read_fixture("intel-pt-vfio"), "").status, CheckStatus::Warning);  // its shared VFIO group
}

// ---- baseline ----

TEST(CheckBaseline, RecordsAndDetectsAChange)
{
    HostFacts pt = read_fixture("intel-pt-vfio");
    nlohmann::json doc = make_baseline(pt, "2026-01-02T03:04:05Z");
    EXPECT_EQ(doc["format"], "iommuprof-check-baseline");
    EXPECT_EQ(doc["default_domain"], "passthrough");
    EXPECT_EQ(doc["dma_policy"], "none");
    EXPECT_EQ(doc["vendor"], "intel");
    EXPECT_EQ(doc["iommu_active"], true);
    EXPECT_EQ(doc["irq_remapping"], true);
    EXPECT_EQ(describe_baseline(doc), "default domain passthrough, intel IOMMU, interrupt remapping on");

    Expectations e = config("skip = vfio-groups\n");
    apply_baseline(e, doc, "/var/lib/b.json");
    EXPECT_EQ(e.default_domain, "passthrough");
    EXPECT_FALSE(e.dma_policy.has_value());  // nothing translated: the domain says it all
    EXPECT_EQ(e.source.at("default-domain"), "baseline /var/lib/b.json of 2026-01-02T03:04:05Z");
    EXPECT_EQ(evaluate_checks(pt, e).status, CheckStatus::Ok);

    // The same host booted translated: the default domain changed.
    auto r = evaluate_checks(read_fixture("intel-lazy"), e);
    EXPECT_EQ(r.status, CheckStatus::Critical);
    EXPECT_EQ(result(r, "default-domain").actual, "translated (lazy)");
    EXPECT_EQ(result(r, "default-domain").source, "baseline /var/lib/b.json of 2026-01-02T03:04:05Z");
    EXPECT_EQ(result(r, "vendor").status, CheckStatus::Ok);

    // A translated baseline records the policy too.
    Expectations t = config("max-faults = 0\n");
    apply_baseline(t, make_baseline(read_fixture("intel-lazy"), "x"), "b");
    EXPECT_EQ(t.dma_policy, "lazy");
    EXPECT_EQ(result(evaluate_checks(read_fixture("amd-strict"), t), "dma-policy").status, CheckStatus::Critical);
}

TEST(CheckBaseline, ConfigWinsOverTheBaseline)
{
    Expectations e = config("default-domain = translated\nvendor = intel\n");
    apply_baseline(e, make_baseline(read_fixture("amd-strict"), "x"), "b");
    EXPECT_EQ(e.default_domain, "translated");
    EXPECT_FALSE(e.dma_policy.has_value());  // goes with the default domain, which the config sets
    EXPECT_EQ(e.vendor, "intel");
    EXPECT_FALSE(e.iommu_active.has_value());  // goes with the vendor
    EXPECT_EQ(e.irq_remapping, true);          // unset: the baseline's
}

TEST(CheckBaseline, BadDocumentsNameTheFile)
{
    auto err = [](const nlohmann::json &doc) {
        return error_of([&] {
            Expectations e;
            apply_baseline(e, doc, "/b.json");
        });
    };
    nlohmann::json good = make_baseline(read_fixture("intel-lazy"), "x");
    EXPECT_EQ(err(good), "");
    EXPECT_EQ(err(nlohmann::json::array()), "/b.json: not an iommuprof check baseline (remove it to record a new baseline)");
    EXPECT_EQ(err({{"format", "iommuprof-profile"}}), "/b.json: not an iommuprof check baseline (remove it to record a new baseline)");
    auto v2 = good;
    v2["version"] = 2;
    EXPECT_EQ(err(v2), "/b.json: baseline version 2, this iommuprof reads version 1 (remove it to record a new baseline)");
    auto missing = good;
    missing.erase("default_domain");
    EXPECT_EQ(err(missing), "/b.json: 'default_domain' is missing (remove it to record a new baseline)");
    auto typed = good;
    typed["irq_remapping"] = "yes";
    EXPECT_EQ(err(typed), "/b.json: 'irq_remapping' is not true, false or null (remove it to record a new baseline)");
    auto value = good;
    value["default_domain"] = "sideways";
    EXPECT_TRUE(has(err(value), "/b.json: default-domain: 'sideways' is not one of")) << err(value);
}

// ---- output ----

TEST(CheckRender, NagiosText)
{
    auto r = check(read_fixture("intel-pt-vfio"), "default-domain = translated\nirq-remapping = yes\nmax-faults = 0\n"
                                                  "faults-critical = 5\nvfio-groups = clean\n");
    std::string t = render_check_text(r);
    auto first = t.substr(0, t.find('\n'));
    EXPECT_EQ(first, "IOMMU CRITICAL - 2 violations: default-domain: passthrough, expected translated (command line: "
                     "intel_iommu=on iommu=pt); vfio-groups group 9: vfio-pci 0000:03:00.0 shares the group with "
                     "0000:04:00.0 (ahci): VFIO refuses a group with host-owned devices | faults=0;0;5;0 "
                     "vfio_devices=1;;;0 vfio_unclean_groups=1;;;0 mixed_groups=1;;;0 swiotlb_used_slabs=0;;;0");
    EXPECT_TRUE(has(t, "\nCRITICAL default-domain: passthrough, expected translated (command line: intel_iommu=on "
                       "iommu=pt) [test.conf:1]\n"));
    EXPECT_TRUE(has(t, "\nWARNING vfio-groups group 9: "));
    EXPECT_TRUE(has(t, "\nOK irq-remapping: on (/proc/interrupts: IR-IO-APIC), as expected [test.conf:2]\n")) << t;
    EXPECT_TRUE(has(t, "\nOK faults: no IOMMU fault in the kernel log, as expected [test.conf:3]\n")) << t;
    EXPECT_EQ(std::count(t.begin(), t.end(), '\n'), 5);  // status line + one per check

    auto ok = render_check_text(check(read_fixture("intel-lazy"), ""));
    EXPECT_EQ(ok.substr(0, ok.find('\n')), "IOMMU OK - 2 checks passed (defaults: no check key configured) | "
                                           "faults=0;0;;0 vfio_devices=0;;;0 vfio_unclean_groups=0;;;0 mixed_groups=0;;;0");
    EXPECT_EQ(render_check_text(check(read_fixture("intel-lazy"), "skip = faults,vfio-groups\n")).substr(0, 42),
              "IOMMU OK - nothing to check (every check i");
    auto unknown = render_check_text(check(read_fixture("amd-strict", ""), "max-faults = 0\n"));
    EXPECT_TRUE(has(unknown.substr(0, unknown.find('\n')), "IOMMU UNKNOWN - 1 unknown: faults: kernel log not read"));
    EXPECT_EQ(render_check_error_text("--root /x: no such directory"), "IOMMU UNKNOWN - --root /x: no such directory\n");
}

TEST(CheckRender, HostStringsAreEscaped)
{
    HostFacts h = read_fixture("intel-pt-vfio");
    for (auto &g : h.groups)
        for (auto &d : g.devices)
            if (d.name == "0000:04:00.0")
                d.driver = "evil\x1b]0;PWNED\x07|x=1\nOK fake";
    std::string t = render_check_text(check(h, "vfio-groups = clean\n"));
    EXPECT_EQ(t.find('\x1b'), std::string::npos);
    EXPECT_EQ(t.find('\x07'), std::string::npos);
    EXPECT_EQ(std::count(t.begin(), t.end(), '|'), 1) << t;  // only the perfdata separator
    EXPECT_TRUE(has(t, "evil\\x1b]0;PWNED\\x07\\x7cx=1\\nOK fake")) << t;
    EXPECT_EQ(std::count(t.begin(), t.end(), '\n'), 2);
}

TEST(CheckRender, Json)
{
    HostFacts h = read_fixture("intel-pt-vfio");
    h.swiotlb = {};  // no debugfs, nothing in the log
    auto r = check(h, "default-domain = translated\ncmdline-require = iommu=pt\nmax-swiotlb-slabs = 10\n");
    r.notes.push_back("a note");
    nlohmann::json j = check_json(r);
    EXPECT_EQ(j["schema"], 1);
    EXPECT_EQ(j["status"], "CRITICAL");
    EXPECT_EQ(j["exit_code"], 2);
    EXPECT_EQ(j["defaults"], false);
    EXPECT_EQ(j["counts"]["critical"], 1);
    EXPECT_EQ(j["counts"]["ok"], 1);
    EXPECT_EQ(j["counts"]["unknown"], 1);  // swiotlb: no debugfs in the fixture
    ASSERT_EQ(j["checks"].size(), 3u);
    EXPECT_EQ(j["checks"][0]["check"], "default-domain");
    EXPECT_EQ(j["checks"][0]["status"], "CRITICAL");
    EXPECT_EQ(j["checks"][0]["expected"], "translated");
    EXPECT_EQ(j["checks"][0]["actual"], "passthrough");
    EXPECT_EQ(j["checks"][0]["subject"], nullptr);
    EXPECT_EQ(j["checks"][0]["source"], "test.conf:1");
    EXPECT_EQ(j["checks"][1]["check"], "swiotlb");
    EXPECT_EQ(j["checks"][1]["actual"], nullptr);
    EXPECT_EQ(j["checks"][2]["subject"], "iommu=pt");
    EXPECT_EQ(j["perfdata"]["faults"], 0);
    EXPECT_EQ(j["perfdata"]["vfio_unclean_groups"], 1);
    EXPECT_EQ(j["perfdata"]["swiotlb_used_slabs"], nullptr);
    EXPECT_EQ(j["notes"][0], "a note");
    EXPECT_EQ(j["error"], nullptr);
    nlohmann::json e = check_error_json("bad");
    EXPECT_EQ(e["status"], "UNKNOWN");
    EXPECT_EQ(e["exit_code"], 3);
    EXPECT_EQ(e["error"], "bad");
    EXPECT_TRUE(e["checks"].empty());
}

// ---- reading the config and the baseline ----

TEST(CheckFiles, SmallRegularFilesOnly)
{
    char tmpl[] = "/tmp/iommuprof-check-XXXXXX";
    fs::path dir = mkdtemp(tmpl);
    std::ofstream(dir / "c.conf") << "max-faults = 0\n";
    EXPECT_EQ(read_small_file((dir / "c.conf").string(), 1024, false), "max-faults = 0\n");
    fs::create_symlink("c.conf", dir / "link.conf");
    EXPECT_EQ(read_small_file((dir / "link.conf").string(), 1024, false), "max-faults = 0\n");
    EXPECT_EQ(read_small_file((dir / "missing").string(), 1024, true), std::nullopt);
    fs::create_symlink("nowhere", dir / "dangling");
    EXPECT_EQ(read_small_file((dir / "dangling").string(), 1024, true), std::nullopt);
    auto err = [&](const std::string &name, size_t max = 1024) {
        return error_of([&] { read_small_file((dir / name).string(), max, false); });
    };
    EXPECT_EQ(err("missing"), (dir / "missing").string() + ": No such file or directory");
    EXPECT_EQ(err("c.conf", 4), (dir / "c.conf").string() + ": 15 bytes, more than the 0 KiB allowed");
    fs::create_directory(dir / "d");
    EXPECT_EQ(err("d"), (dir / "d").string() + ": is a directory");
    ASSERT_EQ(mkfifo((dir / "fifo").c_str(), 0600), 0);
    EXPECT_EQ(err("fifo"), (dir / "fifo").string() + ": not a regular file");  // never opened: no hang
    EXPECT_EQ(error_of([] { read_small_file("/dev/zero", 1024, true); }), "/dev/zero: not a regular file");
    fs::remove_all(dir);
}
