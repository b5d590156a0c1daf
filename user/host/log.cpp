// Kernel log facts: boot messages about the IOMMU mode, interrupt remapping,
// swiotlb, and IOMMU fault lines. Accepts `dmesg` output (with or without
// "[   1.234567] " stamps), /dev/kmsg records ("6,123,456,-;message") and
// `journalctl -k` lines ("... kernel: message").
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <regex>
#include <set>
#include <sstream>

#include <unistd.h>

#include <fmt/core.h>

#include "iommuprof/error.hpp"
#include "iommuprof/hostfacts.hpp"
#include "summarize.hpp"

namespace iommuprof {

namespace {

constexpr size_t kMaxIommuLines = 80;

bool has(const std::string &s, const char *needle) { return s.find(needle) != std::string::npos; }

// The message part of one log line; "" for kmsg continuation lines.
std::string message_of(const std::string &raw)
{
    std::string line = raw;
    if (!line.empty() && line.back() == '\r')
        line.pop_back();
    if (line.empty() || line[0] == ' ')
        return "";  // /dev/kmsg dictionary continuation (" SUBSYSTEM=pci")
    static const std::regex kmsg(R"(^\d+,\d+,\d+,[^;]*;)");
    std::smatch m;
    if (std::regex_search(line, m, kmsg))
        return line.substr(size_t(m.length(0)));
    if (line[0] == '<') {  // "<6>message"
        auto gt = line.find('>');
        if (gt != std::string::npos && gt < 5)
            line = line.substr(gt + 1);
    }
    if (!line.empty() && line[0] == '[') {
        auto rb = line.find("] ");
        if (rb != std::string::npos && rb < 20)
            return line.substr(rb + 2);
    }
    auto k = line.find(" kernel: ");
    if (k != std::string::npos)
        return line.substr(k + 9);
    return line;
}

std::string lower(std::string s)
{
    for (auto &c : s)
        c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool iommu_related(const std::string &m)
{
    static const char *keys[] = {"DMAR", "AMD-Vi", "iommu", "IOMMU", "smmu", "SMMU", "software IO TLB", "PCI-DMA",
                                 "swiotlb", "SWIOTLB", "remapping", "vfio", "VFIO", "Default domain type"};
    for (auto *k : keys)
        if (has(m, k))
            return true;
    return false;
}

// "00:03.0" -> "0000:00:03.0"; full BDFs pass through.
std::string norm_bdf(const std::string &s)
{
    std::string l = lower(s);
    static const std::regex full(R"(^[0-9a-f]{4,}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$)");
    static const std::regex shrt(R"(^[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$)");
    if (std::regex_match(l, full))
        return l;
    if (std::regex_match(l, shrt))
        return "0000:" + l;
    return s;
}

// An IOMMU fault in message m? Fills kind and device.
bool parse_fault(const std::string &m, FaultLine &f)
{
    static const std::regex bdf_any(R"(([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])");
    static const std::regex dmar_dev(R"(Request device \[([0-9a-fA-F:.]+)\])");
    static const std::regex amd_dev(R"(device=([0-9a-fA-F:.]+))");
    static const std::regex lead_dev(R"(^\S+ ([0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]): )");
    static const std::regex client(R"(client: (\S+))");
    static const std::regex viommu(R"(^virtio_iommu \S+: .*fault from EP)");
    std::smatch sm;
    if (has(m, "DMAR") && (has(m, "Request device [") || has(m, "fault addr"))) {
        f.kind = "dmar";
        if (std::regex_search(m, sm, dmar_dev))
            f.device = norm_bdf(sm[1]);
        return true;
    }
    if (has(m, "AMD-Vi: Event logged [") || has(m, "IO_PAGE_FAULT")) {
        f.kind = "amd-vi";
        if (std::regex_search(m, sm, amd_dev))
            f.device = norm_bdf(sm[1]);
        else if (std::regex_search(m, sm, lead_dev))
            f.device = norm_bdf(sm[1]);
        return true;
    }
    if ((has(m, "arm-smmu") && (has(m, "event 0x") || has(m, "Unhandled context fault"))) ||
        (has(m, "smmu") && has(m, "Unhandled context fault"))) {
        f.kind = "arm-smmu";
        if (std::regex_search(m, sm, client))
            f.device = norm_bdf(sm[1]);
        return true;
    }
    if (std::regex_search(m, viommu)) {
        f.kind = "virtio-iommu";
        return true;
    }
    (void)bdf_any;
    return false;
}

// Scans a kernel log line by line, so that a log of any size is read in
// memory proportional to what is kept (80 IOMMU lines, 64 fault lines).
class LogScan {
public:
    explicit LogScan(HostFacts &h) : h(h)
    {
        h.log.lines = 0;
        h.log.iommu_lines.clear();
        h.faults.clear();
        h.fault_count = 0;
        h.fault_counts.clear();
        h.iommu.log_default_domain.clear();
        h.iommu.log_policy.clear();
        h.iommu.strict_forced = false;
    }

    void line(const std::string &raw)
    {
        static const std::regex mb(R"(\((\d+)MB\))");
        std::string m = message_of(raw);
        if (m.empty())
            return;
        h.log.lines++;
        FaultLine f;
        if (parse_fault(m, f)) {
            h.fault_count++;
            count_fault(f.device);
            // Whether or not its line is kept (64 at most), an unnamed arm-smmu
            // fault may get its device from the next line.
            last_fault_unnamed_arm = f.kind == "arm-smmu" && f.device.empty();
            last_fault_kept = h.faults.size() < kMaxFaultLines;
            if (last_fault_kept) {
                f.line = m;
                h.faults.push_back(f);
            }
            return;
        }
        // arm-smmu-v3 (6.x) prints the faulting device on a follow-up line.
        if (last_fault_unnamed_arm && has(m, "client: ")) {
            static const std::regex client(R"(client: (\S+))");
            std::smatch sm;
            if (std::regex_search(m, sm, client)) {
                std::string dev = norm_bdf(sm[1]);
                if (last_fault_kept)
                    h.faults.back().device = dev;
                // the count moves from "" to the device
                if (auto it = h.fault_counts.find(""); it != h.fault_counts.end() && --it->second == 0)
                    h.fault_counts.erase(it);
                count_fault(dev);
            }
        }
        last_fault_unnamed_arm = false;
        if (!iommu_related(m) || m.rfind("Command line:", 0) == 0 || m.rfind("Kernel command line:", 0) == 0)
            return;
        if (h.log.iommu_lines.size() < kMaxIommuLines)
            h.log.iommu_lines.push_back(m);

        if (auto p = m.find("Default domain type: "); p != std::string::npos) {
            std::string w = m.substr(p + 21);
            w = w.substr(0, w.find_first_of(" \t("));
            h.iommu.log_default_domain = w;
        }
        if (auto p = m.find("invalidation policy: "); p != std::string::npos) {
            std::string w = m.substr(p + 21);
            w = w.substr(0, w.find_first_of(" \t("));
            if (w == "strict" || w == "lazy")
                h.iommu.log_policy = w;
        }
        if (has(m, "due to virtualization") && (has(m, "strict") || has(m, "batching")))
            h.iommu.strict_forced = true;
        if (has(m, "Enabled IRQ remapping in") || has(m, "Interrupt remapping enabled")) {
            ir_log = true;
            ir_line = m;
        } else if (has(m, "Not enabling interrupt remapping") || has(m, "IRQ remapping was disabled") ||
                   has(m, "Failed to enable irq remapping")) {
            ir_log = false;
            ir_line = m;
        }
        if (has(m, "software IO TLB: mapped [mem")) {
            swiotlb_log = true;
            swiotlb_line = m;
            std::smatch sm;
            if (std::regex_search(m, sm, mb) && sm[1].length() <= 9)
                swiotlb_size = std::stoull(sm[1]) << 20;
        } else if (has(m, "Using software bounce buffering for IO (SWIOTLB)")) {
            if (!swiotlb_log) {
                swiotlb_log = true;
                swiotlb_line = m;
            }
        } else if (has(m, "software IO TLB: tearing down default memory pool") ||
                   has(m, "software IO TLB: No low mem")) {
            // "No low mem": swiotlb_print_info() found an empty default pool.
            swiotlb_log = false;
            swiotlb_line = m;
        }
    }

    void finish()
    {
        // Interrupt remapping: /proc/interrupts decides when it showed IR- chips;
        // the log fills in when /proc could not tell or showed none.
        if (ir_log && h.irq_remapping.enabled != true) {
            if (*ir_log || !h.irq_remapping.enabled.has_value()) {
                h.irq_remapping.enabled = *ir_log;
                h.irq_remapping.source = "log";
                h.irq_remapping.evidence = ir_line;
            }
        }
        // swiotlb: debugfs numbers win; the log adds the size and the boot story.
        if (swiotlb_log) {
            auto &s = h.swiotlb;
            if (s.source == "debugfs") {
                s.source = "debugfs+log";
            } else {
                s.present = *swiotlb_log;
                s.source = "log";
            }
            s.evidence = swiotlb_line;
            if (swiotlb_size && *swiotlb_log && !s.size_bytes)
                s.size_bytes = swiotlb_size;
        }
        host::summarize(h);
    }

private:
    void count_fault(const std::string &device)
    {
        auto it = h.fault_counts.find(device);
        if (it == h.fault_counts.end() && h.fault_counts.size() >= kMaxFaultDevices)
            it = h.fault_counts.try_emplace(kOtherFaultDevices, 0).first;
        else if (it == h.fault_counts.end())
            it = h.fault_counts.emplace(device, 0).first;
        it->second++;
    }
    bool last_fault_unnamed_arm = false;
    bool last_fault_kept = false;
    HostFacts &h;
    std::optional<bool> ir_log;
    std::string ir_line;
    std::optional<bool> swiotlb_log;
    std::optional<uint64_t> swiotlb_size;
    std::string swiotlb_line;
};

}  // namespace

void apply_log(HostFacts &h, const std::string &text)
{
    LogScan scan(h);
    std::istringstream in(text);
    std::string raw;
    while (std::getline(in, raw)) {
        if (raw.size() > kMaxLogLineBytes)
            raw.resize(kMaxLogLineBytes);
        scan.line(raw);
    }
    scan.finish();
}

void apply_log_fd(HostFacts &h, int fd, const std::string &name, uint64_t max_bytes)
{
    LogScan scan(h);
    std::string line;
    uint64_t total = 0;
    std::vector<char> buf(1 << 16);
    for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw Error(kExitUsage, fmt::format("{}: cannot read: {}", name, std::strerror(errno)));
        }
        if (n == 0)
            break;
        total += uint64_t(n);
        if (total > max_bytes)
            throw Error(kExitUsage, fmt::format("{}: more than {} MiB: not a kernel log (give dmesg or journalctl -k "
                                                "output)",
                                                name, max_bytes >> 20));
        for (ssize_t i = 0; i < n; i++) {
            char c = buf[size_t(i)];
            if (c == '\n') {
                scan.line(line);
                line.clear();
            } else if (line.size() < kMaxLogLineBytes) {
                line += c;  // the rest of an absurdly long line is dropped
            }
        }
    }
    if (!line.empty())
        scan.line(line);
    scan.finish();
}


}  // namespace iommuprof
