// JSON mapping of HostFacts (docs/inspect.md). `inspect --json` prints it and
// profile files embed it. from_json is strict like json.hpp: a missing or
// ill-typed field throws JsonError (Error(kExitUsage)) naming its path.
#include <cstdint>

#include <nlohmann/json.hpp>

#include "iommuprof/hostfacts.hpp"
#include "iommuprof/json_read.hpp"

namespace iommuprof {

using nlohmann::json;
using namespace json_detail;

namespace {

json str_or_null(const std::string &s) { return s.empty() ? json(nullptr) : json(s); }
template <class T>
json opt(const std::optional<T> &v)
{
    return v ? json(*v) : json(nullptr);
}

std::string get_str_or_null(const json &o, const char *key)
{
    const json &v = field(o, key);
    if (v.is_null())
        return "";
    return get_string(o, key);
}
std::optional<bool> get_opt_bool(const json &o, const char *key)
{
    if (field(o, key).is_null())
        return std::nullopt;
    return get_bool(o, key);
}
std::optional<uint64_t> get_opt_u64(const json &o, const char *key)
{
    if (field(o, key).is_null())
        return std::nullopt;
    return get_u64(o, key);
}
std::vector<std::string> get_strings(const json &o, const char *key)
{
    std::vector<std::string> out;
    const json &a = get_array(o, key);
    for (size_t i = 0; i < a.size(); i++) {
        if (!a[i].is_string())
            fail(std::string(key) + "[" + std::to_string(i) + "]", "expected a string");
        out.push_back(a[i].get<std::string>());
    }
    return out;
}
// Each element of array `key` read by f(element, out), errors prefixed "key[i]".
template <class T, class F>
std::vector<T> get_list(const json &o, const char *key, F f)
{
    std::vector<T> out;
    const json &a = get_array(o, key);
    for (size_t i = 0; i < a.size(); i++) {
        with_path(std::string(key) + "[" + std::to_string(i) + "]", [&] {
            if (!a[i].is_object())
                fail("", "expected an object");
            T t;
            f(a[i], t);
            out.push_back(std::move(t));
        });
    }
    return out;
}
template <class F>
void sub(const json &o, const char *key, F f)
{
    const json &v = get_object(o, key);
    with_path(key, [&] { f(v); });
}

}  // namespace

void to_json(json &j, const HostFacts &h)
{
    json params = json::array();
    for (auto &p : h.kernel.iommu_params)
        params.push_back({{"key", p.key}, {"value", p.value}});
    j["schema"] = h.schema;
    j["root"] = h.root;
    j["kernel"] = {
        {"release", str_or_null(h.kernel.release)},
        {"cmdline", h.kernel.cmdline},
        {"iommu_params", params},
        {"wants_passthrough", opt(h.kernel.wants_passthrough)},
        {"wants_strict", opt(h.kernel.wants_strict)},
        {"disabled_by", h.kernel.disabled_by},
        {"conflicts", h.kernel.conflicts},
        {"notes", h.kernel.notes},
    };
    json units = json::array();
    for (auto &u : h.iommu.units)
        units.push_back({{"name", u.name}, {"vendor", u.vendor}, {"devices", u.devices}});
    j["iommu"] = {
        {"active", h.iommu.active},
        {"vendor", str_or_null(h.iommu.vendor)},
        {"units", units},
        {"default_domain", h.iommu.default_domain},
        {"dma_policy", str_or_null(h.iommu.dma_policy)},
        {"group_types", h.iommu.group_types},
        {"log_default_domain", str_or_null(h.iommu.log_default_domain)},
        {"log_policy", str_or_null(h.iommu.log_policy)},
        {"strict_forced", h.iommu.strict_forced},
        {"notes", h.iommu.notes},
    };
    json groups = json::array();
    for (auto &g : h.groups) {
        json devs = json::array();
        for (auto &d : g.devices)
            devs.push_back({
                {"name", d.name},
                {"bdf", d.pci ? json(d.name) : json(nullptr)},
                {"id", str_or_null(d.id())},
                {"vendor", str_or_null(d.vendor)},
                {"device", str_or_null(d.device)},
                {"class", str_or_null(d.class_code)},
                {"class_name", str_or_null(d.class_name)},
                {"driver", str_or_null(d.driver)},
                {"bridge", d.bridge},
                {"removable", d.removable},
            });
        groups.push_back({{"id", g.id},
                          {"type", str_or_null(g.type)},
                          {"mixed", g.mixed},
                          {"has_vfio", g.has_vfio},
                          {"vfio_shared", g.vfio_shared},
                          {"devices", devs}});
    }
    j["groups"] = groups;
    j["vfio_devices"] = h.vfio_devices;
    j["external_devices"] = h.external_devices;
    j["thunderbolt"] = {{"domains", h.thunderbolt.domains},
                        {"iommu_dma_protection", opt(h.thunderbolt.iommu_dma_protection)}};
    j["irq_remapping"] = {{"enabled", opt(h.irq_remapping.enabled)},
                          {"source", str_or_null(h.irq_remapping.source)},
                          {"evidence", str_or_null(h.irq_remapping.evidence)}};
    j["swiotlb"] = {{"present", opt(h.swiotlb.present)},
                    {"size_bytes", opt(h.swiotlb.size_bytes)},
                    {"used_slabs", opt(h.swiotlb.used_slabs)},
                    {"total_slabs", opt(h.swiotlb.total_slabs)},
                    {"hiwater_slabs", opt(h.swiotlb.hiwater_slabs)},
                    {"source", str_or_null(h.swiotlb.source)},
                    {"evidence", str_or_null(h.swiotlb.evidence)}};
    j["hugepages"] = {{"read", h.hugepages.read},
                      {"total", h.hugepages.total},
                      {"free", h.hugepages.free},
                      {"size_kb", h.hugepages.size_kb},
                      {"anon_kb", h.hugepages.anon_kb}};
    json lines = json::array();
    for (auto &f : h.faults)
        lines.push_back({{"kind", f.kind}, {"device", str_or_null(f.device)}, {"line", f.line}});
    json per_device = json::array();
    for (auto &[dev, n] : h.fault_counts)
        per_device.push_back({{"device", str_or_null(dev)}, {"count", n}});
    j["faults"] = {{"count", h.fault_count}, {"devices", h.fault_devices()}, {"per_device", per_device}, {"lines", lines}};
    j["log"] = {{"source", str_or_null(h.log.source)}, {"lines", h.log.lines}, {"iommu_lines", h.log.iommu_lines}};
    j["warnings"] = h.warnings;
}

void from_json(const json &j, HostFacts &h)
{
    if (!j.is_object())
        fail("", "expected an object");
    h = HostFacts{};
    h.schema = int(get_i64(j, "schema"));
    if (h.schema != 1)
        fail("schema", "unsupported host facts schema " + std::to_string(h.schema));
    h.root = get_string(j, "root");
    sub(j, "kernel", [&](const json &k) {
        h.kernel.release = get_str_or_null(k, "release");
        h.kernel.cmdline = get_string(k, "cmdline");
        h.kernel.iommu_params = get_list<CmdlineParam>(k, "iommu_params", [](const json &o, CmdlineParam &p) {
            p.key = get_string(o, "key");
            p.value = get_string(o, "value");
        });
        h.kernel.wants_passthrough = get_opt_bool(k, "wants_passthrough");
        h.kernel.wants_strict = get_opt_bool(k, "wants_strict");
        h.kernel.disabled_by = get_strings(k, "disabled_by");
        h.kernel.conflicts = get_strings(k, "conflicts");
        h.kernel.notes = get_strings(k, "notes");
    });
    sub(j, "iommu", [&](const json &o) {
        auto &io = h.iommu;
        io.active = get_bool(o, "active");
        io.vendor = get_str_or_null(o, "vendor");
        io.units = get_list<IommuUnit>(o, "units", [](const json &u, IommuUnit &x) {
            x.name = get_string(u, "name");
            x.vendor = get_string(u, "vendor");
            x.devices = int(get_i64(u, "devices"));
        });
        io.default_domain = get_string(o, "default_domain");
        if (io.default_domain != "translated" && io.default_domain != "passthrough" && io.default_domain != "mixed" &&
            io.default_domain != "none")
            fail("default_domain", "unknown value \"" + io.default_domain + "\"");
        io.dma_policy = get_str_or_null(o, "dma_policy");
        if (!io.dma_policy.empty() && io.dma_policy != "strict" && io.dma_policy != "lazy")
            fail("dma_policy", "unknown value \"" + io.dma_policy + "\"");
        const json &gt = get_object(o, "group_types");
        for (auto it = gt.begin(); it != gt.end(); ++it)
            with_path("group_types", [&] {
                // The value itself, not a lookup by c_str(): a group type read
                // from sysfs may hold a NUL ("DMA\0x"), which c_str() cuts.
                const auto &v = it.value();
                bool count = v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
                if (!count || v.get<uint64_t>() > uint64_t(INT32_MAX))
                    fail(it.key(), "expected a group count");
                io.group_types[it.key()] = int(v.get<uint64_t>());
            });
        io.log_default_domain = get_str_or_null(o, "log_default_domain");
        io.log_policy = get_str_or_null(o, "log_policy");
        io.strict_forced = get_bool(o, "strict_forced");
        io.notes = get_strings(o, "notes");
    });
    h.groups = get_list<IommuGroup>(j, "groups", [](const json &o, IommuGroup &g) {
        g.id = int(get_i64(o, "id"));
        g.type = get_str_or_null(o, "type");
        g.mixed = get_bool(o, "mixed");
        g.has_vfio = get_bool(o, "has_vfio");
        g.vfio_shared = get_bool(o, "vfio_shared");
        g.devices = get_list<GroupDevice>(o, "devices", [](const json &d, GroupDevice &x) {
            x.name = get_string(d, "name");
            x.pci = !field(d, "bdf").is_null();
            x.vendor = get_str_or_null(d, "vendor");
            x.device = get_str_or_null(d, "device");
            x.class_code = get_str_or_null(d, "class");
            x.class_name = get_str_or_null(d, "class_name");
            x.driver = get_str_or_null(d, "driver");
            x.bridge = get_bool(d, "bridge");
            x.removable = get_bool(d, "removable");
        });
    });
    h.vfio_devices = get_strings(j, "vfio_devices");
    h.external_devices = get_strings(j, "external_devices");
    sub(j, "thunderbolt", [&](const json &o) {
        h.thunderbolt.domains = get_strings(o, "domains");
        h.thunderbolt.iommu_dma_protection = get_opt_bool(o, "iommu_dma_protection");
    });
    sub(j, "irq_remapping", [&](const json &o) {
        h.irq_remapping.enabled = get_opt_bool(o, "enabled");
        h.irq_remapping.source = get_str_or_null(o, "source");
        h.irq_remapping.evidence = get_str_or_null(o, "evidence");
    });
    sub(j, "swiotlb", [&](const json &o) {
        auto &s = h.swiotlb;
        s.present = get_opt_bool(o, "present");
        s.size_bytes = get_opt_u64(o, "size_bytes");
        s.used_slabs = get_opt_u64(o, "used_slabs");
        s.total_slabs = get_opt_u64(o, "total_slabs");
        s.hiwater_slabs = get_opt_u64(o, "hiwater_slabs");
        s.source = get_str_or_null(o, "source");
        s.evidence = get_str_or_null(o, "evidence");
    });
    sub(j, "hugepages", [&](const json &o) {
        h.hugepages.read = get_bool(o, "read");
        h.hugepages.total = get_u64(o, "total");
        h.hugepages.free = get_u64(o, "free");
        h.hugepages.size_kb = get_u64(o, "size_kb");
        h.hugepages.anon_kb = get_u64(o, "anon_kb");
    });
    sub(j, "faults", [&](const json &o) {
        h.fault_count = get_u64(o, "count");
        h.faults = get_list<FaultLine>(o, "lines", [](const json &f, FaultLine &x) {
            x.kind = get_string(f, "kind");
            x.device = get_str_or_null(f, "device");
            x.line = get_string(f, "line");
        });
        if (h.faults.size() > h.fault_count)
            fail("count", "smaller than the number of fault lines");
        h.fault_counts.clear();
        if (o.contains("per_device")) {
            uint64_t sum = 0;
            for (auto &[dev, n] : get_list<std::pair<std::string, uint64_t>>(
                     o, "per_device", [](const json &f, std::pair<std::string, uint64_t> &x) {
                         x.first = get_str_or_null(f, "device");
                         x.second = get_u64(f, "count");
                     })) {
                if (h.fault_counts.size() >= kMaxFaultDevices + 1 || h.fault_counts.count(dev))
                    fail("per_device", "too many or repeated devices");
                h.fault_counts[dev] = n;
                if (n > h.fault_count - sum)
                    fail("per_device", "counts add up to more than count");
                sum += n;
            }
            if (sum != h.fault_count)
                fail("per_device", "counts do not add up to count");
        } else {
            // Files written before per-device counts: the lines kept, the
            // rest unattributed.
            for (auto &f : h.faults)
                h.fault_counts[f.device]++;
            if (h.fault_count > h.faults.size())
                h.fault_counts[kOtherFaultDevices] += h.fault_count - h.faults.size();
        }
    });
    sub(j, "log", [&](const json &o) {
        h.log.source = get_str_or_null(o, "source");
        h.log.lines = get_u64(o, "lines");
        h.log.iommu_lines = get_strings(o, "iommu_lines");
    });
    h.warnings = get_strings(j, "warnings");
}

}  // namespace iommuprof
