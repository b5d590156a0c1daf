// Host facts read from fixture trees (tests/fixtures/hosts/<name>/) that
// mimic /proc and /sys, plus the command-line and kernel-log parsers.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../../user/host/rootfs.hpp"
#include <fmt/core.h>

#include "iommuprof/error.hpp"
#include "iommuprof/hostfacts.hpp"

using namespace iommuprof;
namespace fs = std::filesystem;

namespace {

std::string fixture(const std::string &name) { return std::string(IOMMUPROF_FIXTURES) + "/hosts/" + name; }

HostFacts read_fixture(const std::string &name, const std::string &dmesg = "")
{
    HostOptions o;
    o.root = fixture(name);
    if (!dmesg.empty())
        o.dmesg_file = fixture(name) + "/" + dmesg;
    return read_host_facts(o);
}

const IommuGroup &group(const HostFacts &h, int id)
{
    for (auto &g : h.groups)
        if (g.id == id)
            return g;
    throw std::runtime_error("no group " + std::to_string(id));
}

bool contains(const std::vector<std::string> &v, const std::string &needle)
{
    return std::any_of(v.begin(), v.end(), [&](auto &s) { return s.find(needle) != std::string::npos; });
}

// A scratch directory removed at the end of the test.
struct TempDir {
    fs::path path;
    TempDir()
    {
        char tmpl[] = "/tmp/iommuprof-test-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempDir() { fs::remove_all(path); }
    void write(const std::string &rel, const std::string &text) const
    {
        fs::create_directories((path / rel).parent_path());
        std::ofstream(path / rel) << text;
    }
    void link(const std::string &rel, const std::string &target) const
    {
        fs::create_directories((path / rel).parent_path());
        fs::create_symlink(target, path / rel);
    }
};

}  // namespace

// ---- Intel VT-d host in passthrough, VFIO NIC sharing a group ----

TEST(HostFacts, IntelPassthroughWithVfioSharedGroup)
{
    HostFacts h = read_fixture("intel-pt-vfio");
    EXPECT_EQ(h.kernel.release, "6.12.38+deb12-amd64");
    ASSERT_EQ(h.kernel.iommu_params.size(), 2u);
    EXPECT_EQ(h.kernel.iommu_params[0], (CmdlineParam{"intel_iommu", "on"}));
    EXPECT_EQ(h.kernel.iommu_params[1], (CmdlineParam{"iommu", "pt"}));
    EXPECT_EQ(h.kernel.wants_passthrough, true);
    EXPECT_TRUE(h.kernel.conflicts.empty());

    EXPECT_TRUE(h.iommu.active);
    EXPECT_EQ(h.iommu.vendor, "intel");
    ASSERT_EQ(h.iommu.units.size(), 2u);
    EXPECT_EQ(h.iommu.units[0].name, "dmar0");
    EXPECT_EQ(h.iommu.units[1].devices, 8);
    // Group 12 (external Thunderbolt NIC) is DMA, the rest identity: the
    // untrusted group does not make the host "mixed".
    EXPECT_EQ(h.iommu.default_domain, "passthrough");
    EXPECT_EQ(h.iommu.dma_policy, "");
    EXPECT_EQ(h.iommu.group_types.at("identity"), 5);
    EXPECT_EQ(h.iommu.group_types.at("DMA"), 1);
    EXPECT_TRUE(contains(h.iommu.notes, "group(s) 12 stay translated"));

    const auto &g9 = group(h, 9);
    EXPECT_EQ(g9.type, "identity");
    ASSERT_EQ(g9.devices.size(), 3u);
    EXPECT_TRUE(g9.mixed);        // NIC and SATA behind one root port
    EXPECT_TRUE(g9.has_vfio);
    EXPECT_TRUE(g9.vfio_shared);  // ahci is a host driver in the same group
    const auto &nic = g9.devices[1];
    EXPECT_EQ(nic.name, "0000:03:00.0");
    EXPECT_TRUE(nic.pci);
    EXPECT_EQ(nic.id(), "8086:10fb");
    EXPECT_EQ(nic.class_code, "020000");
    EXPECT_EQ(nic.class_name, "Ethernet controller");
    EXPECT_EQ(nic.driver, "vfio-pci");
    EXPECT_TRUE(g9.devices[0].bridge);
    EXPECT_EQ(g9.devices[0].driver, "pcieport");

    // Bridge + one endpoint: not mixed.
    EXPECT_FALSE(group(h, 4).mixed);
    EXPECT_FALSE(group(h, 4).has_vfio);
    // A device with no driver bound.
    EXPECT_EQ(group(h, 0).devices[0].driver, "");

    EXPECT_EQ(h.vfio_devices, std::vector<std::string>{"0000:03:00.0"});
    EXPECT_EQ(h.external_devices, std::vector<std::string>{"0000:05:00.0"});
    EXPECT_EQ(h.thunderbolt.iommu_dma_protection, true);
    EXPECT_EQ(h.irq_remapping.enabled, true);
    EXPECT_EQ(h.irq_remapping.source, "/proc/interrupts");
    EXPECT_EQ(h.swiotlb.present, true);
    EXPECT_EQ(h.swiotlb.source, "debugfs");
    EXPECT_EQ(h.swiotlb.total_slabs, 32768u);
    EXPECT_EQ(h.swiotlb.used_slabs, 0u);
    EXPECT_EQ(h.swiotlb.hiwater_slabs, 12u);
    EXPECT_EQ(h.swiotlb.size_bytes, 64u << 20);
    EXPECT_TRUE(h.hugepages.read);
    EXPECT_EQ(h.hugepages.total, 512u);
    EXPECT_EQ(h.hugepages.free, 500u);
    EXPECT_EQ(h.hugepages.size_kb, 2048u);
    EXPECT_EQ(h.hugepages.anon_kb, 204800u);
    // No log given.
    EXPECT_EQ(h.log.source, "");
    EXPECT_TRUE(contains(h.warnings, "kernel log not read"));
}

TEST(HostFacts, IntelPassthroughLog)
{
    HostFacts h = read_fixture("intel-pt-vfio", "dmesg.txt");
    EXPECT_EQ(h.log.source, fixture("intel-pt-vfio") + "/dmesg.txt");
    EXPECT_EQ(h.log.lines, 10u);
    EXPECT_EQ(h.iommu.log_default_domain, "Passthrough");
    EXPECT_EQ(h.fault_count, 0u);
    // debugfs numbers stay; the log adds its line.
    EXPECT_EQ(h.swiotlb.source, "debugfs+log");
    EXPECT_EQ(h.swiotlb.total_slabs, 32768u);
    EXPECT_NE(h.swiotlb.evidence.find("(64MB)"), std::string::npos);
    // /proc/interrupts already decided interrupt remapping.
    EXPECT_EQ(h.irq_remapping.source, "/proc/interrupts");
    EXPECT_TRUE(contains(h.log.iommu_lines, "DMAR: IOMMU enabled"));
    EXPECT_FALSE(contains(h.log.iommu_lines, "Command line:"));
}

// ---- AMD host, translated strict ----

TEST(HostFacts, AmdTranslatedStrict)
{
    HostFacts h = read_fixture("amd-strict", "dmesg.txt");
    EXPECT_TRUE(h.iommu.active);
    EXPECT_EQ(h.iommu.vendor, "amd");
    ASSERT_EQ(h.iommu.units.size(), 1u);
    EXPECT_EQ(h.iommu.units[0].name, "ivhd0");
    EXPECT_EQ(h.iommu.default_domain, "translated");
    EXPECT_EQ(h.iommu.dma_policy, "strict");
    EXPECT_EQ(h.iommu.log_policy, "strict");
    EXPECT_EQ(h.kernel.wants_strict, true);
    EXPECT_FALSE(h.kernel.wants_passthrough.has_value());
    EXPECT_TRUE(contains(h.kernel.notes, "amd_iommu=on is not an AMD-Vi option"));
    // Two functions of one NIC: one slot, not mixed.
    EXPECT_EQ(group(h, 21).devices.size(), 2u);
    EXPECT_FALSE(group(h, 21).mixed);
    EXPECT_EQ(group(h, 20).devices[0].class_name, "Non-Volatile memory controller");
    EXPECT_TRUE(h.vfio_devices.empty());
    EXPECT_EQ(h.irq_remapping.enabled, true);
    // swiotlb torn down once the IOMMU took over.
    EXPECT_EQ(h.swiotlb.present, false);
    EXPECT_EQ(h.swiotlb.source, "log");
    EXPECT_EQ(h.fault_count, 0u);
    EXPECT_EQ(h.hugepages.total, 0u);
}

TEST(HostFacts, AmdFaultsInLog)
{
    HostFacts h = read_fixture("amd-strict", "dmesg-faults.txt");
    EXPECT_EQ(h.fault_count, 3u);
    ASSERT_EQ(h.faults.size(), 3u);
    EXPECT_EQ(h.faults[0].kind, "amd-vi");
    EXPECT_EQ(h.faults[0].device, "0000:41:00.0");  // from the "nvme 0000:41:00.0:" prefix
    EXPECT_EQ(h.faults[2].device, "0000:42:00.1");  // from "device=42:00.1"
    EXPECT_EQ(h.fault_devices(), (std::vector<std::string>{"0000:41:00.0", "0000:42:00.1"}));
    EXPECT_NE(h.faults[1].line.find("address=0xfffc1000"), std::string::npos);
}

TEST(KernelLog, FaultsCountedPerDevice)
{
    HostFacts h = read_fixture("amd-strict", "dmesg-faults.txt");
    EXPECT_EQ(h.fault_counts, (std::map<std::string, uint64_t>{{"0000:41:00.0", 2}, {"0000:42:00.1", 1}}));
    // arm-smmu names the device on the next line: the count follows it.
    HostFacts a;
    apply_log(a, "arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:\n"
                 "arm-smmu-v3 arm-smmu-v3.0.auto: \tevent: F_TRANSLATION client: 0000:01:00.0 sid: 0x100\n"
                 "arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:\n"
                 "some other line\n");
    EXPECT_EQ(a.fault_counts, (std::map<std::string, uint64_t>{{"", 1}, {"0000:01:00.0", 1}}));
    // ... also beyond the 64 lines kept (a fault storm).
    HostFacts storm;
    std::string st;
    for (int i = 0; i < 100; i++)
        st += "arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:\n"
              "arm-smmu-v3 arm-smmu-v3.0.auto: \tevent: F_TRANSLATION client: 0000:01:00.0 sid: 0x100\n";
    apply_log(storm, st);
    EXPECT_EQ(storm.fault_count, 100u);
    EXPECT_EQ(storm.faults.size(), kMaxFaultLines);
    EXPECT_EQ(storm.faults.back().device, "0000:01:00.0");
    EXPECT_EQ(storm.fault_counts, (std::map<std::string, uint64_t>{{"0000:01:00.0", 100}}));
    // Bounded: devices beyond kMaxFaultDevices are counted together.
    HostFacts b;
    std::string text;
    for (size_t i = 0; i < kMaxFaultDevices + 20; i++)
        text += fmt::format("AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:{:02x}:{:02x}.0 domain=0x1 "
                            "address=0x1000 flags=0x0]\n", i / 32, i % 32);
    apply_log(b, text);
    EXPECT_EQ(b.fault_count, kMaxFaultDevices + 20);
    EXPECT_EQ(b.fault_counts.size(), kMaxFaultDevices + 1);
    EXPECT_EQ(b.fault_counts[kOtherFaultDevices], 20u);
}

// ---- translated lazy ----

TEST(HostFacts, IntelTranslatedLazy)
{
    HostFacts h = read_fixture("intel-lazy", "dmesg.txt");
    EXPECT_EQ(h.iommu.vendor, "intel");
    EXPECT_EQ(h.iommu.default_domain, "translated");
    EXPECT_EQ(h.iommu.dma_policy, "lazy");
    EXPECT_EQ(h.iommu.group_types.at("DMA-FQ"), 4);
    EXPECT_EQ(h.iommu.log_policy, "lazy");
    EXPECT_FALSE(h.iommu.strict_forced);
    // Three functions of one slot (00:1f.*): one device, not mixed.
    EXPECT_EQ(group(h, 3).devices.size(), 3u);
    EXPECT_FALSE(group(h, 3).mixed);
    EXPECT_EQ(group(h, 3).devices[2].class_name, "SMBus");
}

// ---- no IOMMU ----

TEST(HostFacts, NoIommu)
{
    HostFacts h = read_fixture("no-iommu");
    EXPECT_FALSE(h.iommu.active);
    EXPECT_EQ(h.iommu.vendor, "");
    EXPECT_EQ(h.iommu.default_domain, "none");
    EXPECT_EQ(h.iommu.dma_policy, "");
    EXPECT_TRUE(h.groups.empty());
    EXPECT_TRUE(contains(h.iommu.notes, "no IOMMU"));
    EXPECT_EQ(h.irq_remapping.enabled, false);
    EXPECT_EQ(h.swiotlb.present, false);
    EXPECT_EQ(h.swiotlb.source, "cmdline");
    EXPECT_EQ(h.kernel.release, "6.18.44");
}

TEST(HostFacts, NoIommuLogDefaultDoesNotMakeItActive)
{
    // The kernel prints "Default domain type: Translated" even with no IOMMU.
    HostFacts h = read_fixture("no-iommu", "dmesg.txt");
    EXPECT_EQ(h.iommu.log_default_domain, "Translated");
    EXPECT_FALSE(h.iommu.active);
    EXPECT_EQ(h.iommu.default_domain, "none");
    EXPECT_EQ(h.swiotlb.present, false);
    EXPECT_EQ(h.swiotlb.evidence, "software IO TLB: No low mem");
}

// ---- conflicting command line ----

TEST(HostFacts, ConflictingCmdline)
{
    HostFacts h = read_fixture("conflicting-cmdline");
    const auto &k = h.kernel;
    EXPECT_EQ(k.wants_passthrough, false);  // iommu.passthrough=0 comes last
    EXPECT_EQ(k.wants_strict, false);       // iommu.strict=0 comes last
    EXPECT_EQ(k.disabled_by, std::vector<std::string>{"intel_iommu=off"});
    ASSERT_EQ(k.conflicts.size(), 3u);
    EXPECT_TRUE(contains(k.conflicts, "iommu=pt and iommu.passthrough=0 contradict"));
    EXPECT_TRUE(contains(k.conflicts, "the last one (iommu.passthrough=0) wins"));
    EXPECT_TRUE(contains(k.conflicts, "iommu.strict=1 and iommu.strict=0 contradict"));
    EXPECT_TRUE(contains(k.conflicts, "the last one (intel_iommu=off) wins"));
    // The quoted "quiet splash" is one token and not an IOMMU parameter.
    EXPECT_EQ(k.iommu_params.size(), 6u);
    EXPECT_FALSE(h.iommu.active);
    EXPECT_TRUE(contains(h.iommu.notes, "switches the IOMMU off (intel_iommu=off)"));
}

TEST(HostFacts, VirtioIommuVendor)
{
    HostFacts h = read_fixture("virtio-iommu");
    EXPECT_EQ(h.iommu.vendor, "virtio");
    EXPECT_EQ(h.iommu.default_domain, "translated");
    EXPECT_EQ(h.iommu.dma_policy, "lazy");
}

// ---- command-line parser ----

TEST(Cmdline, PassthroughAndOffConflict)
{
    auto k = parse_cmdline("root=/dev/sda iommu=off,pt\n");
    EXPECT_EQ(k.cmdline, "root=/dev/sda iommu=off,pt");
    EXPECT_EQ(k.wants_passthrough, true);
    EXPECT_EQ(k.disabled_by, std::vector<std::string>{"iommu=off"});
    ASSERT_EQ(k.conflicts.size(), 1u);
    EXPECT_NE(k.conflicts[0].find("nothing is translated either way"), std::string::npos);
}

TEST(Cmdline, IommuOffDefeatsIntelOn)
{
    auto k = parse_cmdline("iommu=off intel_iommu=on");
    EXPECT_TRUE(contains(k.conflicts, "intel_iommu=on has no effect"));
}

TEST(Cmdline, KernelSyntaxDetails)
{
    // Dashes equal underscores; kstrtobool spellings; "--" ends kernel params.
    auto k = parse_cmdline("intel-iommu=on iommu.passthrough=on iommu.strict=bogus -- iommu=off");
    ASSERT_EQ(k.iommu_params.size(), 3u);
    EXPECT_EQ(k.iommu_params[0].key, "intel_iommu");
    EXPECT_EQ(k.wants_passthrough, true);
    EXPECT_FALSE(k.wants_strict.has_value());
    EXPECT_TRUE(contains(k.notes, "iommu.strict=bogus is not a boolean"));
    EXPECT_TRUE(k.disabled_by.empty());

    auto a = parse_cmdline("amd_iommu=fullflush,off");
    EXPECT_EQ(a.wants_strict, true);
    EXPECT_EQ(a.disabled_by, std::vector<std::string>{"amd_iommu=off"});

    auto n = parse_cmdline("iommu=nopt iommu.passthrough=n");
    EXPECT_EQ(n.wants_passthrough, false);
    EXPECT_TRUE(n.conflicts.empty());  // both say "translated"

    auto s = parse_cmdline("iommu=pt iommu.strict=1");
    EXPECT_TRUE(s.conflicts.empty());
    EXPECT_TRUE(contains(s.notes, "only affects translated domains"));

    EXPECT_TRUE(parse_cmdline("root=/dev/vda quiet").iommu_params.empty());
}

// ---- kernel log parser ----

TEST(KernelLog, FormatsAndFaultKinds)
{
    HostFacts h;
    apply_log(h,
              "6,512,1234567,-;DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0xfffe0000 "
              "[fault reason 0x06] PTE Read access is not set\n"
              " SUBSYSTEM=pci\n"
              "Nov 22 01:00:00 host kernel: arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:\n"
              "Nov 22 01:00:00 host kernel: arm-smmu-v3 arm-smmu-v3.0.auto: \tevent: F_TRANSLATION "
              "client: 0000:01:00.0 sid: 0x100\n"
              "<3>[   12.000000] virtio_iommu virtio0: fault from EP 8 at 0x1000 [READ]\n"
              "[    0.5] DMAR: DRHD: handling fault status reg 2\n");
    EXPECT_EQ(h.log.lines, 5u);  // the kmsg continuation line is not a line
    EXPECT_EQ(h.fault_count, 3u);
    ASSERT_EQ(h.faults.size(), 3u);
    EXPECT_EQ(h.faults[0].kind, "dmar");
    EXPECT_EQ(h.faults[0].device, "0000:00:02.0");
    EXPECT_EQ(h.faults[0].line.rfind("DMAR: [DMA Read", 0), 0u);
    EXPECT_EQ(h.faults[1].kind, "arm-smmu");
    EXPECT_EQ(h.faults[1].device, "0000:01:00.0");
    EXPECT_EQ(h.faults[2].kind, "virtio-iommu");
}

TEST(KernelLog, FaultLinesAreBoundedButCounted)
{
    HostFacts h;
    std::string text;
    for (size_t i = 0; i < kMaxFaultLines + 10; i++)
        text += "AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:03:00.0 domain=0x1 address=0x" +
                std::to_string(i) + " flags=0x0]\n";
    apply_log(h, text);
    EXPECT_EQ(h.fault_count, kMaxFaultLines + 10);
    EXPECT_EQ(h.faults.size(), kMaxFaultLines);
}

TEST(KernelLog, StrictForcedAndIrqRemappingFromLog)
{
    HostFacts h;  // nothing read from /proc: interrupt remapping unknown
    EXPECT_FALSE(h.irq_remapping.enabled.has_value());
    apply_log(h, "DMAR: IOMMU batching disallowed due to virtualization\n"
                 "DMAR-IR: Enabled IRQ remapping in x2apic mode\n");
    EXPECT_TRUE(h.iommu.strict_forced);
    EXPECT_EQ(h.irq_remapping.enabled, true);
    EXPECT_EQ(h.irq_remapping.source, "log");
    EXPECT_TRUE(contains(h.iommu.notes, "iommu.strict=0 will not make it lazy"));
}

TEST(KernelLog, DefaultDomainFromLogWhenGroupTypesUnreadable)
{
    HostFacts h;
    IommuGroup g;
    g.id = 0;  // type "" = unreadable
    h.groups.push_back(g);
    apply_log(h, "iommu: Default domain type: Translated\n"
                 "iommu: DMA domain TLB invalidation policy: strict mode (set via kernel command line)\n");
    EXPECT_TRUE(h.iommu.active);
    EXPECT_EQ(h.iommu.default_domain, "translated");
    EXPECT_EQ(h.iommu.dma_policy, "strict");
    EXPECT_TRUE(contains(h.iommu.notes, "taken from the kernel log"));
}

// ---- JSON ----

class HostJson : public ::testing::TestWithParam<const char *> {};

TEST_P(HostJson, RoundTripsAndHasDocumentedKeys)
{
    HostFacts h = read_fixture(GetParam(), "dmesg.txt");
    nlohmann::json j = h;
    for (auto *path : {"/kernel/release", "/kernel/cmdline", "/iommu/active", "/iommu/vendor", "/iommu/default_domain",
                       "/iommu/dma_policy", "/groups", "/vfio_devices", "/irq_remapping", "/swiotlb", "/faults"})
        EXPECT_TRUE(j.contains(nlohmann::json::json_pointer(path))) << path;
    auto dd = j["iommu"]["default_domain"].get<std::string>();
    EXPECT_TRUE(dd == "translated" || dd == "passthrough" || dd == "mixed" || dd == "none");
    auto &pol = j["iommu"]["dma_policy"];
    EXPECT_TRUE(pol.is_null() || pol == "strict" || pol == "lazy");
    for (auto &g : j["groups"])
        for (auto &d : g["devices"]) {
            EXPECT_TRUE(d.contains("bdf") && d.contains("driver") && d.contains("id"));
            if (!d["id"].is_null()) {
                EXPECT_EQ(d["id"].get<std::string>().size(), 9u);
            }
        }
    HostFacts back = nlohmann::json::parse(j.dump()).get<HostFacts>();
    EXPECT_EQ(back, h);
}
INSTANTIATE_TEST_SUITE_P(Fixtures, HostJson,
                         ::testing::Values("intel-pt-vfio", "amd-strict", "intel-lazy", "no-iommu",
                                           "conflicting-cmdline"));

TEST(HostJson, PerDeviceFaults)
{
    HostFacts h = read_fixture("amd-strict", "dmesg-faults.txt");
    nlohmann::json j = h;
    EXPECT_EQ(j["faults"]["per_device"].size(), 2u);
    EXPECT_EQ(j["faults"]["per_device"][0], (nlohmann::json{{"device", "0000:41:00.0"}, {"count", 2}}));
    EXPECT_EQ(nlohmann::json::parse(j.dump()).get<HostFacts>(), h);
    // Files written before per-device counts: counted from the lines, the rest unattributed.
    j["faults"].erase("per_device");
    j["faults"]["count"] = 5;
    HostFacts old = j.get<HostFacts>();
    EXPECT_EQ(old.fault_counts,
              (std::map<std::string, uint64_t>{{"0000:41:00.0", 2}, {"0000:42:00.1", 1}, {kOtherFaultDevices, 2}}));
    // Counts that do not add up are refused.
    nlohmann::json bad = h;
    bad["faults"]["per_device"][0]["count"] = 7;
    EXPECT_THROW((void)bad.get<HostFacts>(), Error);
}

TEST(HostJson, NullsForUnknowns)
{
    nlohmann::json j = read_fixture("no-iommu");
    EXPECT_TRUE(j["iommu"]["vendor"].is_null());
    EXPECT_TRUE(j["iommu"]["dma_policy"].is_null());
    EXPECT_EQ(j["iommu"]["default_domain"], "none");
    EXPECT_EQ(j["iommu"]["active"], false);
    EXPECT_EQ(j["irq_remapping"]["enabled"], false);
}

TEST(HostJson, StrictReader)
{
    nlohmann::json good = read_fixture("intel-pt-vfio");
    auto expect_fail = [&](nlohmann::json bad, const std::string &where) {
        try {
            (void)bad.get<HostFacts>();
            ADD_FAILURE() << "accepted: " << where;
        } catch (const Error &e) {
            EXPECT_EQ(e.code, kExitUsage);
            EXPECT_NE(std::string(e.what()).find(where), std::string::npos) << e.what();
        }
    };
    auto b1 = good;
    b1["iommu"].erase("default_domain");
    expect_fail(b1, "iommu.default_domain");
    auto b2 = good;
    b2["iommu"]["default_domain"] = "sometimes";
    expect_fail(b2, "default_domain");
    auto b3 = good;
    b3["groups"][3]["devices"][1]["driver"] = 7;
    expect_fail(b3, "groups[3].devices[1].driver");
    auto b4 = good;
    b4["schema"] = 2;
    expect_fail(b4, "schema");
    auto b5 = good;
    b5["faults"]["count"] = -1;
    expect_fail(b5, "faults.count");
}

// ---- root handling ----

TEST(HostRoot, MissingRootIsUsageError)
{
    HostOptions o;
    o.root = "/nonexistent/iommuprof-root";
    try {
        read_host_facts(o);
        FAIL() << "no error";
    } catch (const Error &e) {
        EXPECT_EQ(e.code, kExitUsage);
        EXPECT_NE(std::string(e.what()).find("/nonexistent/iommuprof-root"), std::string::npos);
    }
}

TEST(HostRoot, MissingDmesgIsUsageError)
{
    HostOptions o;
    o.root = fixture("no-iommu");
    o.dmesg_file = fixture("no-iommu") + "/no-such-dmesg.txt";
    try {
        read_host_facts(o);
        FAIL() << "no error";
    } catch (const Error &e) {
        EXPECT_EQ(e.code, kExitUsage);
    }
}

TEST(HostRoot, EmptyTreeGivesUnknownsAndWarnings)
{
    TempDir t;
    HostOptions o;
    o.root = t.path;
    HostFacts h = read_host_facts(o);
    EXPECT_FALSE(h.iommu.active);
    EXPECT_EQ(h.kernel.release, "");
    EXPECT_FALSE(h.irq_remapping.enabled.has_value());
    EXPECT_FALSE(h.hugepages.read);
    EXPECT_TRUE(contains(h.warnings, "proc/cmdline"));
    EXPECT_TRUE(contains(h.warnings, "sys/class/iommu"));
}

TEST(HostRoot, SymlinksNeverEscapeTheRoot)
{
    TempDir t;
    // A file outside the root that an escaping link would reach.
    TempDir outside;
    outside.write("secret/vendor", "0xdead\n");
    t.write("sys/devices/pci0000:00/0000:00:01.0/vendor", "0x1af4\n");
    // Absolute target: taken relative to the root.
    t.link("sys/bus/pci/devices/0000:00:01.0", "/sys/devices/pci0000:00/0000:00:01.0");
    // Climbing far above the root stops at the root.
    t.link("sys/bus/pci/devices/0000:00:02.0",
           "../../../../../../../../.." + outside.path.string() + "/secret");
    t.link("sys/bus/pci/devices/0000:00:03.0", outside.path.string() + "/secret");
    t.link("loop", "loop");

    host::RootFs rfs(t.path);
    EXPECT_EQ(rfs.read_line("sys/bus/pci/devices/0000:00:01.0/vendor"), "0x1af4");
    EXPECT_FALSE(rfs.read("sys/bus/pci/devices/0000:00:02.0/vendor").has_value());
    EXPECT_FALSE(rfs.read("sys/bus/pci/devices/0000:00:03.0/vendor").has_value());
    EXPECT_FALSE(rfs.resolve("loop").has_value());
    auto up = rfs.resolve("../../../..");
    ASSERT_TRUE(up.has_value());
    EXPECT_EQ(*up, rfs.root());
    EXPECT_EQ(rfs.link_basename("sys/bus/pci/devices/0000:00:01.0"), "0000:00:01.0");
}
