// Host facts: what /proc, /sys and the kernel log say about the IOMMU setup.
// Read below a root directory (default "/") so tests run on fixture trees.
// Reading never writes anything and never touches the kernel beyond reading
// files (plus /dev/kmsg when asked to read the live log).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace iommuprof {

// One IOMMU-related kernel command-line parameter, as written.
struct CmdlineParam {
    std::string key;    // "iommu", "intel_iommu", "amd_iommu", "iommu.strict", ...
    std::string value;  // "pt", "on,sm_on", "0", ... ("" for a bare flag)
    // As written on the command line: "iommu=pt", or "key" for a bare flag.
    std::string written() const { return value.empty() ? key : key + "=" + value; }
    bool operator==(const CmdlineParam &o) const = default;
};

struct KernelFacts {
    std::string release;  // /proc/sys/kernel/osrelease ("" when unreadable)
    std::string cmdline;  // /proc/cmdline, trailing newline removed
    std::vector<CmdlineParam> iommu_params;  // in command-line order
    // What the command line asks for, after all params (null: not said).
    std::optional<bool> wants_passthrough;  // iommu=pt / iommu.passthrough=1 (true), iommu=nopt / passthrough=0 (false)
    std::optional<bool> wants_strict;       // iommu.strict=1, intel_iommu=strict, amd_iommu=fullflush (true); iommu.strict=0 (false)
    // Parameters that switch an IOMMU off, as written: "iommu=off",
    // "intel_iommu=off", "amd_iommu=off" (each only when it is the last word
    // of its kind on the line).
    std::vector<std::string> disabled_by;
    std::vector<std::string> conflicts;     // one sentence each: settings that contradict
    std::vector<std::string> notes;         // one sentence each: no-ops, deprecated or unknown options
    bool operator==(const KernelFacts &o) const = default;
};

// One hardware (or virtual) IOMMU instance: /sys/class/iommu/<name>.
struct IommuUnit {
    std::string name;    // "dmar0", "ivhd0", "smmu3.0x...", "virtio0"
    std::string vendor;  // "intel", "amd", "arm", "virtio", "other"
    int devices = 0;     // entries in /sys/class/iommu/<name>/devices
    bool operator==(const IommuUnit &o) const = default;
};

// A device of an IOMMU group (PCI or not).
struct GroupDevice {
    std::string name;        // directory name: a BDF for PCI, else the platform name
    bool pci = false;
    std::string vendor;      // "8086" (4 hex digits, lower case), PCI only
    std::string device;      // "10d3"
    std::string class_code;  // "020000" (6 hex digits), PCI only
    std::string class_name;  // "Ethernet controller", or "" when unknown
    std::string driver;      // bound driver, "" when none
    bool bridge = false;     // PCI class 06xx
    bool removable = false;  // sysfs "removable" says "removable" (behind an external-facing port)
    std::string id() const;  // "vvvv:dddd", "" when not PCI
    bool operator==(const GroupDevice &o) const = default;
};

// /sys/kernel/iommu_groups/<id>.
struct IommuGroup {
    int id = -1;
    std::string type;  // raw "type" file: "DMA", "DMA-FQ", "identity", "blocked", "unmanaged", "" unreadable
    std::vector<GroupDevice> devices;
    // Endpoints (non-bridges) from more than one PCI slot, or a mix of PCI and
    // platform devices: they cannot be isolated from each other.
    bool mixed = false;
    bool has_vfio = false;   // some device bound to vfio-pci
    // A vfio-pci device shares the group with an endpoint bound to a host
    // driver: VFIO refuses such a group (not viable).
    bool vfio_shared = false;
    bool operator==(const IommuGroup &o) const = default;
};

// Kind of translation a group type means.
enum class DomainKind { Translated, Passthrough, Other, Unknown };
DomainKind domain_kind(const std::string &group_type);

struct IommuFacts {
    bool active = false;  // some IOMMU unit registered and some group has a default domain
    std::string vendor;   // "intel", "amd", "arm", "virtio", "other", "mixed"; "" when none
    std::vector<IommuUnit> units;
    // Host-wide default domain over groups with a translated or identity type:
    // "translated", "passthrough", "mixed", "none".
    std::string default_domain = "none";
    // Invalidation policy of the translated groups: "strict" (DMA), "lazy"
    // (DMA-FQ); "" (JSON null) when nothing is translated or groups differ.
    std::string dma_policy;
    std::map<std::string, int> group_types;  // type -> number of groups
    // What the kernel log said at boot ("" when not seen).
    std::string log_default_domain;  // "Translated", "Passthrough"
    std::string log_policy;          // "strict", "lazy"
    // The kernel forces strict invalidation whatever iommu.strict says (seen
    // in the log: Intel caching mode / AMD under virtualization).
    bool strict_forced = false;
    std::vector<std::string> notes;  // one sentence each: why, caveats
    bool operator==(const IommuFacts &o) const = default;
};

struct IrqRemapping {
    std::optional<bool> enabled;  // null: could not tell
    std::string source;           // "/proc/interrupts", "log", ""
    std::string evidence;         // the chip name or log line
    bool operator==(const IrqRemapping &o) const = default;
};

struct SwiotlbFacts {
    std::optional<bool> present;         // null: could not tell
    std::optional<uint64_t> size_bytes;  // from the log, or nslabs * 2 KiB
    std::optional<uint64_t> used_slabs;  // debugfs io_tlb_used
    std::optional<uint64_t> total_slabs; // debugfs io_tlb_nslabs
    std::optional<uint64_t> hiwater_slabs;  // debugfs io_tlb_used_hiwater
    std::string source;                  // "debugfs", "log", "debugfs+log", ""
    std::string evidence;                // log line
    bool operator==(const SwiotlbFacts &o) const = default;
};

struct Hugepages {
    bool read = false;  // /proc/meminfo was readable
    uint64_t total = 0;
    uint64_t free = 0;
    uint64_t size_kb = 0;
    uint64_t anon_kb = 0;  // AnonHugePages (transparent huge pages in use)
    bool operator==(const Hugepages &o) const = default;
};

// An IOMMU fault line from the kernel log.
struct FaultLine {
    std::string kind;    // "dmar", "amd-vi", "arm-smmu", "iommu"
    std::string device;  // normalized BDF ("0000:03:00.0") or device name, "" if not found
    std::string line;    // the log message
    bool operator==(const FaultLine &o) const = default;
};

struct LogFacts {
    std::string source;  // "/dev/kmsg", the --dmesg file, or "" (not read)
    uint64_t lines = 0;
    std::vector<std::string> iommu_lines;  // IOMMU/DMA-related boot lines (bounded)
    bool operator==(const LogFacts &o) const = default;
};

struct Thunderbolt {
    // /sys/bus/thunderbolt/devices/domain*/iommu_dma_protection: the kernel
    // relies on the IOMMU to protect against Thunderbolt/USB4 DMA.
    std::vector<std::string> domains;
    std::optional<bool> iommu_dma_protection;
    bool operator==(const Thunderbolt &o) const = default;
};

struct HostFacts {
    int schema = 1;
    std::string root = "/";
    KernelFacts kernel;
    IommuFacts iommu;
    std::vector<IommuGroup> groups;          // by id
    std::vector<std::string> vfio_devices;   // BDFs bound to vfio-pci
    std::vector<std::string> external_devices;  // BDFs marked removable (external-facing)
    Thunderbolt thunderbolt;
    IrqRemapping irq_remapping;
    SwiotlbFacts swiotlb;
    Hugepages hugepages;
    std::vector<FaultLine> faults;  // bounded (kMaxFaultLines); fault_count has them all
    uint64_t fault_count = 0;
    // Fault lines per device over the whole log ("" = no device named), at
    // most kMaxFaultDevices keys: further devices are counted under
    // kOtherFaultDevices.
    std::map<std::string, uint64_t> fault_counts;
    LogFacts log;
    std::vector<std::string> warnings;  // what could not be read and why
    bool operator==(const HostFacts &o) const = default;

    const IommuGroup *group_of(const std::string &device) const;
    // Distinct devices named in the fault lines.
    std::vector<std::string> fault_devices() const;
};

inline constexpr size_t kMaxFaultLines = 64;
inline constexpr size_t kMaxFaultDevices = 256;
inline constexpr const char *kOtherFaultDevices = "[other]";

struct HostOptions {
    std::string root = "/";
    std::string dmesg_file;   // read this file as the kernel log ("" = none)
    // Read /dev/kmsg (below root) when no dmesg_file is given. Off by default:
    // the CLI turns it on for the live root only.
    bool read_kmsg = false;
};

// Throws Error(kExitUsage) when the root (or the --dmesg file) does not exist;
// everything else that cannot be read becomes a warning and unknown facts.
HostFacts read_host_facts(const HostOptions &opts);

// Pieces, exposed for tests.
KernelFacts parse_cmdline(const std::string &cmdline);
// Every parameter of a command line (not only the IOMMU ones), split like the
// kernel does (quotes group, parsing stops at "--"), names with '-' as '_'.
std::vector<CmdlineParam> cmdline_params(const std::string &cmdline);
// Apply kernel log text (dmesg or /dev/kmsg records) to facts already read
// from /proc and /sys.
void apply_log(HostFacts &facts, const std::string &log_text);
// The same, read from `fd` in pieces (memory proportional to what is kept);
// lines are cut at kMaxLogLineBytes; more than max_bytes in all is
// Error(kExitUsage) naming `name`.
inline constexpr size_t kMaxLogLineBytes = 4096;
inline constexpr uint64_t kMaxLogBytes = 512ull << 20;
void apply_log_fd(HostFacts &facts, int fd, const std::string &name, uint64_t max_bytes = kMaxLogBytes);
// --dmesg PATH: a regular file or a pipe, read as above; a device or a
// directory is Error(kExitUsage) (never opened).
void apply_log_file(HostFacts &facts, const std::string &path);

void to_json(nlohmann::json &j, const HostFacts &h);
void from_json(const nlohmann::json &j, HostFacts &h);

// ---- Small files read by `check` (user/host/check_files.cpp, not pure) ----

// The config and the baseline: a small regular file, checked through O_PATH
// before it is opened (a FIFO or a device is never opened; symbolic links are
// followed). A missing file (or a dangling link) gives nullopt when
// missing_ok. Anything else that cannot be read, that is not a regular file,
// or that is larger than max_bytes throws Error(kExitUsage, "<path>: <why>").
std::optional<std::string> read_small_file(const std::string &path, size_t max_bytes, bool missing_ok);

}  // namespace iommuprof
