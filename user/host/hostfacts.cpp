// Host facts from /proc, /sys and (optionally) the kernel log, below a root
// directory. Only reads files; nothing here changes the system.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/core.h>

#include "iommuprof/error.hpp"
#include "iommuprof/hostfacts.hpp"
#include "rootfs.hpp"
#include "summarize.hpp"

namespace iommuprof {

using host::RootFs;
using host::trim;

std::string GroupDevice::id() const { return pci ? vendor + ":" + device : ""; }

DomainKind domain_kind(const std::string &t)
{
    if (t == "DMA" || t == "DMA-FQ")
        return DomainKind::Translated;
    if (t == "identity")
        return DomainKind::Passthrough;
    if (t == "blocked" || t == "unmanaged")
        return DomainKind::Other;
    return DomainKind::Unknown;
}

const IommuGroup *HostFacts::group_of(const std::string &device) const
{
    for (auto &g : groups)
        for (auto &d : g.devices)
            if (d.name == device)
                return &g;
    return nullptr;
}

std::vector<std::string> HostFacts::fault_devices() const
{
    std::vector<std::string> out;
    for (auto &f : faults)
        if (!f.device.empty() && std::find(out.begin(), out.end(), f.device) == out.end())
            out.push_back(f.device);
    return out;
}

namespace host {

std::string pci_class_name(const std::string &c)
{
    static const std::map<std::string, std::string> sub = {
        {"0100", "SCSI storage controller"}, {"0101", "IDE interface"}, {"0104", "RAID bus controller"},
        {"0106", "SATA controller"}, {"0107", "SAS controller"}, {"0108", "Non-Volatile memory controller"},
        {"0200", "Ethernet controller"}, {"0207", "InfiniBand controller"}, {"0280", "Network controller"},
        {"0300", "VGA compatible controller"}, {"0302", "3D controller"}, {"0380", "Display controller"},
        {"0401", "Audio device"}, {"0403", "Audio device"}, {"0600", "Host bridge"}, {"0601", "ISA bridge"},
        {"0604", "PCI bridge"}, {"0700", "Serial controller"}, {"0805", "SD Host controller"},
        {"0806", "IOMMU"}, {"0b40", "Co-processor"}, {"0c03", "USB controller"}, {"0c05", "SMBus"},
        {"0c80", "Serial bus controller"}, {"1080", "Encryption controller"}, {"1200", "Processing accelerators"},
    };
    static const std::map<std::string, std::string> base = {
        {"00", "Unclassified device"}, {"01", "Mass storage controller"}, {"02", "Network controller"},
        {"03", "Display controller"}, {"04", "Multimedia controller"}, {"05", "Memory controller"},
        {"06", "Bridge"}, {"07", "Communication controller"}, {"08", "Generic system peripheral"},
        {"09", "Input device controller"}, {"0c", "Serial bus controller"}, {"0d", "Wireless controller"},
        {"10", "Encryption controller"}, {"11", "Signal processing controller"},
        {"12", "Processing accelerators"},
    };
    if (c.size() < 4)
        return "";
    if (auto it = sub.find(c.substr(0, 4)); it != sub.end())
        return it->second;
    if (auto it = base.find(c.substr(0, 2)); it != base.end())
        return it->second;
    return "";
}

namespace {

bool is_bdf(const std::string &s)
{
    static const std::regex re(R"(^[0-9a-f]{4,}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$)");
    return std::regex_match(s, re);
}

// Slot of a BDF: "0000:03:00.1" -> "0000:03:00".
std::string slot_of(const std::string &bdf)
{
    auto dot = bdf.rfind('.');
    return dot == std::string::npos ? bdf : bdf.substr(0, dot);
}

// "0x8086\n" -> "8086" (width digits, lower case); "" when unparsable.
std::string hexid(const std::optional<std::string> &raw, size_t width)
{
    if (!raw)
        return "";
    std::string s = trim(*raw);
    if (s.rfind("0x", 0) == 0 || s.rfind("0X", 0) == 0)
        s = s.substr(2);
    if (s.empty() || s.size() > width || !std::all_of(s.begin(), s.end(), ::isxdigit))
        return "";
    for (auto &c : s)
        c = char(std::tolower(static_cast<unsigned char>(c)));
    return std::string(width - s.size(), '0') + s;
}

GroupDevice read_device(const RootFs &fs, const std::string &dir, const std::string &name)
{
    GroupDevice d;
    d.name = name;
    d.pci = is_bdf(name);
    d.driver = fs.link_basename(dir + "/driver").value_or("");
    if (d.pci) {
        d.vendor = hexid(fs.read_line(dir + "/vendor"), 4);
        d.device = hexid(fs.read_line(dir + "/device"), 4);
        d.class_code = hexid(fs.read_line(dir + "/class"), 6);
        d.class_name = pci_class_name(d.class_code);
        d.bridge = d.class_code.rfind("06", 0) == 0;
    }
    d.removable = fs.read_line(dir + "/removable").value_or("") == "removable";
    return d;
}

std::string unit_vendor(const RootFs &fs, const std::string &name)
{
    if (name.rfind("dmar", 0) == 0)
        return "intel";
    if (name.rfind("ivhd", 0) == 0)
        return "amd";
    if (name.find("smmu") != std::string::npos)
        return "arm";
    auto drv = fs.link_basename("sys/class/iommu/" + name + "/device/driver").value_or("");
    if (drv == "virtio_iommu" || name.rfind("virtio", 0) == 0)
        return "virtio";
    if (drv.find("smmu") != std::string::npos)
        return "arm";
    return "other";
}

std::optional<uint64_t> read_u64(const RootFs &fs, const std::string &rel)
{
    auto s = fs.read_line(rel);
    if (!s || s->empty() || !std::all_of(s->begin(), s->end(), ::isdigit))
        return std::nullopt;
    try {
        return std::stoull(*s);
    } catch (...) {
        return std::nullopt;
    }
}

void read_meminfo(const RootFs &fs, HostFacts &h)
{
    auto txt = fs.read("proc/meminfo");
    if (!txt) {
        h.warnings.push_back("proc/meminfo: not readable");
        return;
    }
    h.hugepages.read = true;
    std::istringstream in(*txt);
    std::string key;
    uint64_t v;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        if (!(ls >> key >> v))
            continue;
        if (key == "HugePages_Total:")
            h.hugepages.total = v;
        else if (key == "HugePages_Free:")
            h.hugepages.free = v;
        else if (key == "Hugepagesize:")
            h.hugepages.size_kb = v;
        else if (key == "AnonHugePages:")
            h.hugepages.anon_kb = v;
    }
}

void read_interrupts(const RootFs &fs, HostFacts &h)
{
    auto txt = fs.read("proc/interrupts");
    if (!txt) {
        h.warnings.push_back("proc/interrupts: not readable");
        return;
    }
    std::istringstream in(*txt);
    std::string line, tok;
    bool x86_chips = false;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        while (ls >> tok) {
            if (tok.rfind("IR-", 0) == 0) {
                h.irq_remapping.enabled = true;
                h.irq_remapping.source = "/proc/interrupts";
                h.irq_remapping.evidence = tok;
                return;
            }
            if (tok == "IO-APIC" || tok.rfind("PCI-MSI", 0) == 0)
                x86_chips = true;
        }
    }
    if (x86_chips) {
        h.irq_remapping.enabled = false;
        h.irq_remapping.source = "/proc/interrupts";
        h.irq_remapping.evidence = "IO-APIC/PCI-MSI interrupt chips without an IR- prefix";
    }
}

void read_swiotlb(const RootFs &fs, HostFacts &h)
{
    auto &s = h.swiotlb;
    const std::string dir = "sys/kernel/debug/swiotlb";
    auto nslabs = read_u64(fs, dir + "/io_tlb_nslabs");
    if (nslabs) {
        s.source = "debugfs";
        s.total_slabs = nslabs;
        s.present = *nslabs > 0;
        s.used_slabs = read_u64(fs, dir + "/io_tlb_used");
        s.hiwater_slabs = read_u64(fs, dir + "/io_tlb_used_hiwater");
        if (*nslabs > 0)
            s.size_bytes = *nslabs * 2048;  // IO_TLB_SIZE = 1 << IO_TLB_SHIFT (11)
        return;
    }
    if (fs.is_dir(dir)) {
        // debugfs is mounted; recent kernels create the files only for a pool
        // that has slabs, so an empty directory means no default pool.
        s.source = "debugfs";
        s.present = false;
        s.evidence = "sys/kernel/debug/swiotlb has no io_tlb_nslabs (no default pool)";
        return;
    }
    for (auto &p : h.kernel.iommu_params)
        if (p.key == "swiotlb" && p.value.find("noforce") != std::string::npos) {
            s.present = false;
            s.source = "cmdline";
            s.evidence = "swiotlb=" + p.value;
        }
}

// --dmesg FILE: a file or a pipe (`--dmesg <(dmesg)`), never a device
// (/dev/zero, /dev/kmsg would never end) or a directory.
void read_log_file(const std::string &path, HostFacts &h)
{
    const std::string name = "--dmesg " + path;
    // A device is refused without being opened.
    auto file_or_pipe = [](mode_t m) { return S_ISREG(m) || S_ISFIFO(m); };
    struct stat st{};
    int fd = open_for_reading(path, file_or_pipe, st);
    if (fd < 0)
        throw Error(kExitUsage, open_failure(name, st, errno, file_or_pipe, ", not a kernel log file",
                                             "not a regular file or a pipe (save the log first: dmesg > FILE)"));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    apply_log_fd(h, fd, name);
}

std::string read_kmsg(const RootFs &fs, HostFacts &h)
{
    auto p = fs.resolve("dev/kmsg");
    if (!p) {
        h.warnings.push_back("kernel log not read: no dev/kmsg; use --dmesg FILE");
        return "";
    }
    std::error_code ec;
    if (std::filesystem::is_regular_file(*p, ec)) {  // a saved copy in a fixture tree
        auto text = fs.read("dev/kmsg", 64u << 20);
        if (text)
            h.log.source = "dev/kmsg";
        return text.value_or("");
    }
    struct stat st{};
    if (::stat(p->c_str(), &st) != 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 11)) {
        // Not the kernel's log device (1:11): a FIFO or /dev/zero planted in
        // a --root tree would hang or never end.
        h.warnings.push_back("kernel log not read: dev/kmsg is not the kernel log device; use --dmesg FILE");
        return "";
    }
    int fd = ::open(p->c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        h.warnings.push_back(std::string("kernel log not read: /dev/kmsg: ") + std::strerror(errno) +
                             "; use --dmesg FILE");
        return "";
    }
    std::string out;
    std::vector<char> buf(16384);
    for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n > 0) {
            out.append(buf.data(), size_t(n));
            if (out.back() != '\n')
                out += '\n';
            if (out.size() > (64u << 20))
                break;
            continue;
        }
        if (n < 0 && errno == EPIPE)
            continue;  // records overwritten while reading: go on with the next
        if (n < 0 && errno == EINTR)
            continue;
        break;  // EAGAIN: end of the buffer; anything else: stop
    }
    ::close(fd);
    h.log.source = "/dev/kmsg";
    return out;
}

}  // namespace

void summarize(HostFacts &h)
{
    auto &io = h.iommu;
    io.group_types.clear();
    io.notes.clear();

    std::set<std::string> vendors;
    for (auto &u : io.units)
        vendors.insert(u.vendor);
    io.vendor = vendors.empty() ? "" : vendors.size() == 1 ? *vendors.begin() : "mixed";

    // A translated group made only of removable (external-facing, untrusted)
    // endpoints: the kernel gives those a DMA domain whatever the default is.
    auto external_only = [](const IommuGroup &g) {
        int ext = 0;
        for (auto &d : g.devices) {
            if (d.pci && d.bridge)
                continue;
            if (!d.removable)
                return false;
            ext++;
        }
        return ext > 0;
    };
    int translated = 0, passthrough = 0, strict = 0, lazy = 0, unknown = 0;
    std::vector<int> forced;  // translated external-only groups
    for (auto &g : h.groups) {
        io.group_types[g.type.empty() ? "unknown" : g.type]++;
        switch (domain_kind(g.type)) {
        case DomainKind::Translated:
            if (external_only(g)) {
                forced.push_back(g.id);
                break;
            }
            translated++;
            (g.type == "DMA" ? strict : lazy)++;
            break;
        case DomainKind::Passthrough:
            passthrough++;
            break;
        case DomainKind::Unknown:
            unknown++;
            break;
        default:
            break;
        }
    }
    // Untrusted groups alone say nothing about the default: count them only
    // when nothing else does.
    if (!forced.empty() && !passthrough) {
        for (auto &g : h.groups)
            if (std::find(forced.begin(), forced.end(), g.id) != forced.end()) {
                translated++;
                (g.type == "DMA" ? strict : lazy)++;
            }
        forced.clear();
    }
    io.active = !h.groups.empty();

    bool from_log = false;
    if (translated && passthrough)
        io.default_domain = "mixed";
    else if (translated)
        io.default_domain = "translated";
    else if (passthrough)
        io.default_domain = "passthrough";
    else if (io.active && unknown && io.log_default_domain == "Translated") {
        io.default_domain = "translated";
        from_log = true;
    } else if (io.active && unknown && io.log_default_domain == "Passthrough") {
        io.default_domain = "passthrough";
        from_log = true;
    } else
        io.default_domain = "none";

    if (strict && !lazy)
        io.dma_policy = "strict";
    else if (lazy && !strict)
        io.dma_policy = "lazy";
    else if (from_log && io.default_domain == "translated")
        io.dma_policy = io.log_policy;
    else
        io.dma_policy = "";

    // Per-group flags.
    for (auto &g : h.groups) {
        std::set<std::string> slots;
        int nonpci = 0;
        g.has_vfio = false;
        bool host_owned_endpoint = false;
        for (auto &d : g.devices) {
            if (d.driver == "vfio-pci")
                g.has_vfio = true;
            if (d.pci && d.bridge)
                continue;
            if (d.pci)
                slots.insert(slot_of(d.name));
            else
                nonpci++;
            if (!d.driver.empty() && d.driver != "vfio-pci" && d.driver != "pci-stub")
                host_owned_endpoint = true;
        }
        g.mixed = slots.size() + size_t(nonpci) > 1;
        g.vfio_shared = g.has_vfio && host_owned_endpoint;
    }

    // Notes: why the summary says what it says.
    auto join_ids = [](const std::vector<int> &ids) {
        std::string s;
        for (size_t i = 0; i < ids.size() && i < 12; i++)
            s += (i ? "," : "") + std::to_string(ids[i]);
        if (ids.size() > 12)
            s += ",...";
        return s;
    };
    if (!io.active) {
        if (io.units.empty())
            io.notes.push_back("no IOMMU in /sys/class/iommu and no IOMMU groups: no IOMMU is present, enabled, "
                               "or supported by this kernel, so DMA is not translated");
        else
            io.notes.push_back("IOMMU units are registered but there are no IOMMU groups: no device is behind "
                               "an IOMMU");
        if (!h.kernel.disabled_by.empty()) {
            std::string d;
            for (size_t i = 0; i < h.kernel.disabled_by.size(); i++)
                d += (i ? ", " : "") + h.kernel.disabled_by[i];
            io.notes.push_back("the kernel command line switches the IOMMU off (" + d + ")");
        }
    } else if (io.units.empty()) {
        io.notes.push_back("IOMMU groups exist but /sys/class/iommu lists no IOMMU unit (vendor unknown)");
    }
    if (!forced.empty())
        io.notes.push_back("group(s) " + join_ids(forced) +
                           " stay translated: they hold only external-facing (untrusted) devices, which the "
                           "kernel keeps in a DMA domain even under passthrough");
    if (from_log)
        io.notes.push_back("group types are not readable; the default domain is taken from the kernel log");
    if (translated && passthrough) {
        std::vector<int> t, p;
        for (auto &g : h.groups) {
            auto k = domain_kind(g.type);
            bool is_forced = std::find(forced.begin(), forced.end(), g.id) != forced.end();
            if (k == DomainKind::Translated && !is_forced)
                t.push_back(g.id);
            else if (k == DomainKind::Passthrough)
                p.push_back(g.id);
        }
        io.notes.push_back("groups differ: translated " + join_ids(t) + "; identity (passthrough) " +
                           join_ids(p));
    }
    if (strict && lazy)
        io.notes.push_back("translated groups differ in invalidation policy: " + std::to_string(strict) +
                           " strict (DMA), " + std::to_string(lazy) + " lazy (DMA-FQ)");
    if (h.kernel.wants_passthrough == true && translated && !passthrough)
        io.notes.push_back("the command line asks for passthrough but " + std::to_string(translated) +
                           " group(s) are translated (untrusted/external devices, or a group type changed "
                           "through sysfs, or an option this kernel does not know: iommu=pt is x86-only, "
                           "iommu.passthrough=1 works everywhere)");
    if (h.kernel.wants_passthrough == false && passthrough && !translated)
        io.notes.push_back("the command line asks for translation but every group is identity");
    if (io.strict_forced)
        io.notes.push_back("the kernel forces strict invalidation here (virtualized IOMMU: caching mode or "
                           "emulated AMD-Vi): iommu.strict=0 will not make it lazy");
    if (h.kernel.wants_strict == false && io.dma_policy == "strict" && !io.strict_forced)
        io.notes.push_back("iommu.strict=0 is on the command line but the translated groups are strict (DMA)");
}

}  // namespace host

HostFacts read_host_facts(const HostOptions &opts)
{
    std::error_code ec;
    if (opts.root.empty())
        throw Error(kExitUsage, "--root: empty directory name (use --root / for this host)");
    const std::string &root = opts.root;
    if (!std::filesystem::is_directory(root, ec))
        throw Error(kExitUsage, "--root " + root + ": no such directory");
    RootFs fs(root);
    HostFacts h;
    h.root = fs.root().string();

    // Kernel.
    auto cmdline = fs.read("proc/cmdline");
    if (cmdline) {
        h.kernel = parse_cmdline(*cmdline);
    } else {
        h.warnings.push_back("proc/cmdline: not readable");
    }
    if (auto rel = fs.read_line("proc/sys/kernel/osrelease"))
        h.kernel.release = *rel;
    else
        h.warnings.push_back("proc/sys/kernel/osrelease: not readable");

    // IOMMU units.
    for (auto &name : fs.list("sys/class/iommu")) {
        IommuUnit u;
        u.name = name;
        u.vendor = host::unit_vendor(fs, name);
        u.devices = int(fs.list("sys/class/iommu/" + name + "/devices").size());
        h.iommu.units.push_back(u);
    }
    if (!fs.is_dir("sys/class/iommu"))
        h.warnings.push_back("sys/class/iommu: missing (is sysfs mounted?)");

    // PCI devices.
    std::map<std::string, GroupDevice> pci;
    for (auto &bdf : fs.list("sys/bus/pci/devices"))
        pci[bdf] = host::read_device(fs, "sys/bus/pci/devices/" + bdf, bdf);
    for (auto &[bdf, d] : pci) {
        if (d.driver == "vfio-pci")
            h.vfio_devices.push_back(bdf);
        if (d.removable)
            h.external_devices.push_back(bdf);
    }

    // IOMMU groups, by number.
    std::vector<int> ids;
    for (auto &n : fs.list("sys/kernel/iommu_groups")) {
        if (!n.empty() && n.size() <= 9 && std::all_of(n.begin(), n.end(), ::isdigit))
            ids.push_back(std::stoi(n));
    }
    std::sort(ids.begin(), ids.end());
    for (int id : ids) {
        IommuGroup g;
        g.id = id;
        std::string dir = "sys/kernel/iommu_groups/" + std::to_string(id);
        g.type = fs.read_line(dir + "/type").value_or("");
        for (auto &name : fs.list(dir + "/devices")) {
            auto it = pci.find(name);
            if (it != pci.end())
                g.devices.push_back(it->second);
            else
                g.devices.push_back(host::read_device(fs, dir + "/devices/" + name, name));
        }
        h.groups.push_back(std::move(g));
    }

    // Thunderbolt / USB4 DMA protection.
    for (auto &n : fs.list("sys/bus/thunderbolt/devices")) {
        if (n.rfind("domain", 0) != 0)
            continue;
        h.thunderbolt.domains.push_back(n);
        if (auto v = fs.read_line("sys/bus/thunderbolt/devices/" + n + "/iommu_dma_protection")) {
            bool on = *v == "1";
            h.thunderbolt.iommu_dma_protection = h.thunderbolt.iommu_dma_protection.value_or(false) || on;
        }
    }

    host::read_interrupts(fs, h);
    host::read_swiotlb(fs, h);
    host::read_meminfo(fs, h);
    host::summarize(h);

    // Kernel log.
    if (!opts.dmesg_file.empty()) {
        h.log.source = opts.dmesg_file;
        host::read_log_file(opts.dmesg_file, h);
    } else if (opts.read_kmsg) {
        std::string text = host::read_kmsg(fs, h);
        if (!h.log.source.empty())
            apply_log(h, text);
    } else {
        h.warnings.push_back("kernel log not read (use --dmesg FILE): faults and boot messages unknown");
    }
    return h;
}

void apply_log_file(HostFacts &h, const std::string &path)
{
    host::read_log_file(path, h);
    h.log.source = path;
}

}  // namespace iommuprof
