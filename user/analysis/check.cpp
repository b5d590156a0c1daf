// `iommuprof check`: host facts against expectations -> one result per check
// (docs/check.md). Pure: no kernel, no files.
#include <algorithm>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "iommuprof/check.hpp"
#include "iommuprof/strings.hpp"

namespace iommuprof {

const char *status_name(CheckStatus s)
{
    switch (s) {
    case CheckStatus::Ok:
        return "OK";
    case CheckStatus::Warning:
        return "WARNING";
    case CheckStatus::Critical:
        return "CRITICAL";
    case CheckStatus::Unknown:
        break;
    }
    return "UNKNOWN";
}

namespace {

int rank(CheckStatus s)  // higher is worse
{
    switch (s) {
    case CheckStatus::Ok:
        return 0;
    case CheckStatus::Warning:
        return 1;
    case CheckStatus::Unknown:
        return 2;
    case CheckStatus::Critical:
        return 3;
    }
    return 2;
}

std::string plural(uint64_t n, const char *one, const char *many) { return fmt::format("{} {}", n, n == 1 ? one : many); }

// ---- facts as the checks see them ----

// "translated", "passthrough", "mixed", "none"; "" when the groups exist but
// their types could not be read (and the log did not say).
std::string host_domain(const HostFacts &h)
{
    const auto &io = h.iommu;
    if (io.default_domain == "none" && io.active && io.group_types.count("unknown"))
        return "";
    return io.default_domain;
}

// "strict", "lazy", "mixed" (translated groups differ), "none" (nothing is
// translated); "" when unknown.
std::string host_policy(const HostFacts &h)
{
    if (!h.iommu.dma_policy.empty())
        return h.iommu.dma_policy;
    std::string d = host_domain(h);
    if (d == "passthrough" || d == "none")
        return "none";
    if (h.iommu.group_types.count("DMA") && h.iommu.group_types.count("DMA-FQ"))
        return "mixed";
    return "";
}

std::string host_vendor(const HostFacts &h) { return h.iommu.vendor.empty() ? "none" : h.iommu.vendor; }

std::string policy_type(const std::string &p)
{
    return p == "strict" ? "strict (DMA)" : p == "lazy" ? "lazy (DMA-FQ)" : p;
}

std::string iommu_params(const HostFacts &h)
{
    std::vector<std::string> ps;
    for (auto &p : h.kernel.iommu_params)
        ps.push_back(p.written());
    return ps.empty() ? "no IOMMU parameter on the command line" : "command line: " + join(ps, " ");
}

bool cmdline_unreadable(const HostFacts &h)
{
    return h.kernel.cmdline.empty() && std::any_of(h.warnings.begin(), h.warnings.end(), [](auto &w) {
               return w.rfind("proc/cmdline:", 0) == 0;
           });
}

// The parameters of the command line that `want` ("key" or "key=value")
// matches: the same key and, when a value is given, the same value or one
// item of a comma list ("intel_iommu=on" matches "intel_iommu=on,sm_on").
std::vector<std::string> matching_params(const std::vector<CmdlineParam> &params, const std::string &want)
{
    auto eq = want.find('=');
    std::string key = want.substr(0, eq);
    std::vector<std::string> out;
    for (auto &p : params) {
        if (p.key != key)
            continue;
        std::string written = p.written();
        if (eq == std::string::npos) {
            out.push_back(written);
            continue;
        }
        std::string v = want.substr(eq + 1);
        bool match = p.value == v;
        for (size_t b = 0; !match && b < p.value.size();) {
            size_t c = std::min(p.value.find(',', b), p.value.size());
            match = p.value.substr(b, c - b) == v;
            b = c + 1;
        }
        if (match)
            out.push_back(written);
    }
    return out;
}

std::string device_label(const GroupDevice &d)
{
    return d.driver.empty() ? d.name + " (no driver)" : d.name + " (" + d.driver + ")";
}

bool vfio_unclean(const IommuGroup &g) { return g.has_vfio && (g.vfio_shared || g.mixed); }

class Evaluator {
public:
    Evaluator(const HostFacts &h, const Expectations &e) : h_(h), e_(e) {}

    CheckReport run()
    {
        CheckReport r;
        r.root = h_.root;
        r.defaults = e_.defaults;
        default_domain();
        dma_policy();
        vendor();
        iommu_active();
        irq_remapping();
        cmdline(true);
        cmdline(false);
        faults();
        vfio_groups();
        mixed_groups();
        swiotlb();
        std::stable_sort(out_.begin(), out_.end(), [](auto &a, auto &b) {
            auto order = [](CheckStatus s) { return s == CheckStatus::Ok ? 3 : 3 - rank(s); };
            return order(a.status) < order(b.status);
        });
        r.results = out_;
        for (auto &x : r.results)
            r.status = worse(r.status, x.status);

        if (!h_.log.source.empty())
            r.faults = h_.fault_count;
        r.faults_warn = e_.max_faults;
        r.faults_crit = e_.faults_critical;
        r.vfio_devices = int(h_.vfio_devices.size());
        for (auto &g : h_.groups) {
            r.vfio_unclean_groups += vfio_unclean(g);
            r.mixed_groups += g.mixed;
        }
        if (h_.swiotlb.present == false)
            r.swiotlb_used_slabs = 0;
        else if (h_.swiotlb.used_slabs)
            r.swiotlb_used_slabs = h_.swiotlb.used_slabs;
        r.swiotlb_warn = e_.max_swiotlb_slabs;
        return r;
    }

private:
    const HostFacts &h_;
    const Expectations &e_;
    std::vector<CheckResult> out_;

    bool wanted(const char *check) const { return !e_.skip.count(check); }
    std::string source(const char *key) const { return e_.source.count(key) ? e_.source.at(key) : ""; }
    CheckStatus violation(const char *check, CheckStatus dflt) const
    {
        auto it = e_.severity.find(check);
        return it == e_.severity.end() ? dflt : it->second;
    }
    void add(const char *check, const char *key, CheckStatus st, std::string expected, std::string actual,
             std::string message, std::string subject = "")
    {
        out_.push_back({check, std::move(subject), st, std::move(expected), std::move(actual), std::move(message),
                        source(key)});
    }

    void default_domain()
    {
        if (!e_.default_domain || !wanted("default-domain"))
            return;
        const std::string &want = *e_.default_domain;
        std::string dom = host_domain(h_), pol = host_policy(h_);
        std::string want_dom = want == "DMA" || want == "DMA-FQ" ? "translated" : want == "identity" ? "passthrough" : want;
        std::string want_pol = want == "DMA" ? "strict" : want == "DMA-FQ" ? "lazy" : "";
        std::string shown = want_dom == want ? want : want + " (" + want_dom + (want_pol.empty() ? "" : ", " + want_pol) + ")";
        if (dom.empty() || (!want_pol.empty() && dom == "translated" && pol.empty())) {
            add("default-domain", "default-domain", CheckStatus::Unknown, shown, "",
                "cannot tell: the IOMMU group types are not readable and the kernel log does not say");
            return;
        }
        std::string actual = dom == "translated" && !pol.empty() ? dom + " (" + pol + ")" : dom;
        bool ok = dom == want_dom && (want_pol.empty() || pol == want_pol);
        if (ok)
            add("default-domain", "default-domain", CheckStatus::Ok, shown, actual, actual + ", as expected");
        else
            add("default-domain", "default-domain", violation("default-domain", CheckStatus::Critical), shown, actual,
                fmt::format("{}, expected {} ({})", actual, shown, iommu_params(h_)));
    }

    void dma_policy()
    {
        if (!e_.dma_policy || !wanted("dma-policy"))
            return;
        const std::string &want = *e_.dma_policy;
        std::string pol = host_policy(h_);
        if (pol.empty()) {
            add("dma-policy", "dma-policy", CheckStatus::Unknown, want, "",
                "cannot tell: the IOMMU group types are not readable and the kernel log does not say");
            return;
        }
        std::string actual = pol == "none" ? "none (nothing is translated: default domain " + host_domain(h_) + ")"
                             : pol == "mixed" ? "mixed (both DMA and DMA-FQ groups)"
                                              : policy_type(pol);
        if (pol == want)
            add("dma-policy", "dma-policy", CheckStatus::Ok, want, pol, actual + ", as expected");
        else
            add("dma-policy", "dma-policy", violation("dma-policy", CheckStatus::Critical), want, pol,
                fmt::format("{}, expected {} ({})", actual, want, iommu_params(h_)));
    }

    void vendor()
    {
        if (!e_.vendor || !wanted("vendor"))
            return;
        std::string v = host_vendor(h_);
        std::vector<std::string> units;
        for (auto &u : h_.iommu.units)
            units.push_back(u.name);
        std::string where = units.empty() ? "no unit in /sys/class/iommu" : "units " + join_some(units, 4);
        if (v == *e_.vendor)
            add("vendor", "vendor", CheckStatus::Ok, *e_.vendor, v, fmt::format("{} ({}), as expected", v, where));
        else
            add("vendor", "vendor", violation("vendor", CheckStatus::Critical), *e_.vendor, v,
                fmt::format("{} ({}), expected {}", v, where, *e_.vendor));
    }

    void iommu_active()
    {
        if (!e_.iommu_active || !wanted("iommu-active"))
            return;
        bool want = *e_.iommu_active, on = h_.iommu.active;
        std::string actual =
            on ? fmt::format("active ({}, {})", host_vendor(h_), plural(h_.groups.size(), "IOMMU group", "IOMMU groups"))
               : "no IOMMU is active (no IOMMU groups)";
        if (!on && !h_.kernel.disabled_by.empty())
            actual += "; the command line switches it off: " + join(h_.kernel.disabled_by);
        if (want == on)
            add("iommu-active", "iommu-active", CheckStatus::Ok, want ? "yes" : "no", on ? "yes" : "no",
                actual + ", as expected");
        else
            add("iommu-active", "iommu-active", violation("iommu-active", CheckStatus::Critical), want ? "yes" : "no",
                on ? "yes" : "no", actual + (want ? ", expected an active IOMMU" : ", expected none"));
    }

    void irq_remapping()
    {
        if (!e_.irq_remapping || !wanted("irq-remapping"))
            return;
        bool want = *e_.irq_remapping;
        const auto &ir = h_.irq_remapping;
        std::string expected = want ? "on" : "off";
        if (!ir.enabled) {
            add("irq-remapping", "irq-remapping", CheckStatus::Unknown, expected, "",
                "cannot tell: neither /proc/interrupts nor the kernel log says");
            return;
        }
        std::string actual = *ir.enabled ? "on" : "off";
        std::string why = ir.evidence.empty() ? ir.source : ir.source + ": " + ir.evidence;
        std::string msg = why.empty() ? actual : actual + " (" + why + ")";
        if (*ir.enabled == want)
            add("irq-remapping", "irq-remapping", CheckStatus::Ok, expected, actual, msg + ", as expected");
        else
            add("irq-remapping", "irq-remapping", violation("irq-remapping", CheckStatus::Critical), expected, actual,
                msg + ", expected " + expected);
    }

    void cmdline(bool require)
    {
        const char *check = require ? "cmdline-require" : "cmdline-forbid";
        const auto &list = require ? e_.cmdline_require : e_.cmdline_forbid;
        if (!list || !wanted(check))
            return;
        bool unreadable = cmdline_unreadable(h_);
        auto params = cmdline_params(h_.kernel.cmdline);
        for (auto &want : *list) {
            std::string expected = require ? "present" : "absent";
            if (unreadable) {
                add(check, check, CheckStatus::Unknown, expected, "", "cannot tell: proc/cmdline is not readable",
                    want);
                continue;
            }
            auto found = matching_params(params, want);
            std::string actual = found.empty() ? "absent" : join(found, " ");
            if (found.empty() != require) {
                add(check, check, CheckStatus::Ok, expected, actual,
                    require ? fmt::format("{} is on the kernel command line", actual)
                            : fmt::format("{} is not on the kernel command line", want),
                    want);
                continue;
            }
            std::string msg;
            if (require) {
                auto key = want.substr(0, want.find('='));
                auto same_key = matching_params(params, key);
                msg = fmt::format("{} is not on the kernel command line{}", want,
                                  same_key.empty() ? "" : " (it has " + join(same_key, " ") + ")");
            } else {
                msg = fmt::format("{} is on the kernel command line", actual);
            }
            add(check, check, violation(check, CheckStatus::Critical), expected, actual, msg, want);
        }
    }

    void faults()
    {
        if ((!e_.max_faults && !e_.faults_critical) || !wanted("faults"))
            return;
        const char *key = e_.max_faults ? "max-faults" : "faults-critical";
        std::string expected;
        if (e_.max_faults)
            expected = fmt::format("at most {}", *e_.max_faults);
        if (e_.faults_critical)
            expected += fmt::format("{}CRITICAL above {}", expected.empty() ? "" : ", ", *e_.faults_critical);
        if (h_.log.source.empty()) {
            std::string why = "kernel log not read";
            for (auto &w : h_.warnings)
                if (w.rfind("kernel log not read", 0) == 0)
                    why = w;
            if (why.find("not permitted") != std::string::npos || why.find("denied") != std::string::npos)
                why += " (kernel.dmesg_restrict=1: run as root)";
            add("faults", key, CheckStatus::Unknown, expected, "", why);
            return;
        }
        uint64_t n = h_.fault_count;
        std::string msg = n == 0 ? "no IOMMU fault in the kernel log"
                                 : fmt::format("{} in the kernel log", plural(n, "IOMMU fault", "IOMMU faults"));
        if (auto devs = h_.fault_devices(); n && !devs.empty())
            msg += " (" + join_some(devs, 4) + ")";
        CheckStatus st = CheckStatus::Ok;
        if (e_.faults_critical && n > *e_.faults_critical) {
            st = CheckStatus::Critical;
            key = "faults-critical";
            msg += fmt::format(", more than {}", *e_.faults_critical);
        } else if (e_.max_faults && n > *e_.max_faults) {
            st = violation("faults", CheckStatus::Warning);
            key = "max-faults";
            msg += fmt::format(", more than {}", *e_.max_faults);
        } else {
            msg += ", as expected";
        }
        add("faults", key, st, expected, std::to_string(n), msg);
    }

    void vfio_groups()
    {
        if (!e_.vfio_clean || !*e_.vfio_clean || !wanted("vfio-groups"))
            return;
        CheckStatus bad = violation("vfio-groups", CheckStatus::Warning);
        int clean = 0, problems = 0;
        for (auto &g : h_.groups) {
            if (!g.has_vfio)
                continue;
            if (!vfio_unclean(g)) {
                clean++;
                continue;
            }
            std::vector<std::string> vfio, others;
            for (auto &d : g.devices)
                if (!(d.pci && d.bridge))
                    (d.driver == "vfio-pci" ? vfio : others).push_back(d.driver == "vfio-pci" ? d.name : device_label(d));
            std::string msg = fmt::format("vfio-pci {} {} the group with {}", join_some(vfio, 4),
                                          vfio.size() == 1 ? "shares" : "share", join_some(others, 4));
            msg += g.vfio_shared ? ": VFIO refuses a group with host-owned devices"
                                 : ": devices of different slots cannot be isolated from each other";
            add("vfio-groups", "vfio-groups", bad, "clean", g.vfio_shared ? "shared" : "mixed", msg,
                fmt::format("group {}", g.id));
            problems++;
        }
        for (auto &bdf : h_.vfio_devices)
            if (!h_.group_of(bdf)) {
                add("vfio-groups", "vfio-groups", bad, "clean", "no group",
                    bdf + " is bound to vfio-pci but in no IOMMU group (VFIO no-IOMMU mode: no DMA isolation)", bdf);
                problems++;
            }
        if (problems == 0)
            add("vfio-groups", "vfio-groups", CheckStatus::Ok, "clean", "clean",
                h_.vfio_devices.empty()
                    ? std::string("no device is bound to vfio-pci")
                    : fmt::format("{} in {}, none shared or mixed",
                                  plural(h_.vfio_devices.size(), "vfio-pci device", "vfio-pci devices"),
                                  plural(uint64_t(clean), "group", "groups")));
    }

    void mixed_groups()
    {
        if (!e_.no_mixed_groups || !*e_.no_mixed_groups || !wanted("mixed-groups"))
            return;
        int mixed = 0;
        for (auto &g : h_.groups) {
            if (!g.mixed)
                continue;
            std::vector<std::string> devs;
            for (auto &d : g.devices)
                if (!(d.pci && d.bridge))
                    devs.push_back(device_label(d));
            add("mixed-groups", "mixed-groups", violation("mixed-groups", CheckStatus::Warning), "none", "mixed",
                fmt::format("its devices cannot be isolated from each other: {}", join_some(devs, 4)),
                fmt::format("group {}", g.id));
            mixed++;
        }
        if (mixed == 0)
            add("mixed-groups", "mixed-groups", CheckStatus::Ok, "none", "none",
                fmt::format("no mixed group ({})", plural(h_.groups.size(), "IOMMU group", "IOMMU groups")));
    }

    void swiotlb()
    {
        if (!e_.max_swiotlb_slabs || !wanted("swiotlb"))
            return;
        uint64_t max = *e_.max_swiotlb_slabs;
        std::string expected = fmt::format("at most {} slabs in use", max);
        const auto &s = h_.swiotlb;
        if (s.present == false) {
            add("swiotlb", "max-swiotlb-slabs", CheckStatus::Ok, expected, "0",
                "swiotlb is not present" + (s.evidence.empty() ? std::string() : " (" + s.evidence + ")"));
            return;
        }
        if (!s.used_slabs) {
            add("swiotlb", "max-swiotlb-slabs", CheckStatus::Unknown, expected, "",
                "slabs in use unknown: needs debugfs (sys/kernel/debug/swiotlb/io_tlb_used, root)");
            return;
        }
        uint64_t used = *s.used_slabs;
        std::string msg = fmt::format("{} in use", plural(used, "slab", "slabs"));
        if (s.total_slabs)
            msg += fmt::format(" of {}", *s.total_slabs);
        if (s.hiwater_slabs)
            msg += fmt::format(", high water {}", *s.hiwater_slabs);
        if (used > max)
            add("swiotlb", "max-swiotlb-slabs", violation("swiotlb", CheckStatus::Warning), expected,
                std::to_string(used), msg + fmt::format(", more than {}", max));
        else
            add("swiotlb", "max-swiotlb-slabs", CheckStatus::Ok, expected, std::to_string(used), msg + ", as expected");
    }
};

}  // namespace

CheckStatus worse(CheckStatus a, CheckStatus b) { return rank(a) >= rank(b) ? a : b; }

const std::vector<std::string> &check_names()
{
    static const std::vector<std::string> names = {
        "default-domain", "dma-policy", "vendor",      "iommu-active", "irq-remapping", "cmdline-require",
        "cmdline-forbid", "faults",     "vfio-groups", "mixed-groups", "swiotlb"};
    return names;
}

int CheckReport::count(CheckStatus s) const
{
    return int(std::count_if(results.begin(), results.end(), [s](auto &r) { return r.status == s; }));
}

CheckReport evaluate_checks(const HostFacts &h, const Expectations &e) { return Evaluator(h, e).run(); }

// ---- baseline ----

namespace {
constexpr const char *kBaselineFormat = "iommuprof-check-baseline";
constexpr int kBaselineVersion = 1;
}  // namespace

nlohmann::json make_baseline(const HostFacts &h, const std::string &created)
{
    nlohmann::json j;
    j["format"] = kBaselineFormat;
    j["version"] = kBaselineVersion;
    j["created"] = created;
    j["kernel"] = h.kernel.release.empty() ? nlohmann::json(nullptr) : nlohmann::json(h.kernel.release);
    j["iommu_active"] = h.iommu.active;
    j["vendor"] = host_vendor(h);
    std::string dom = host_domain(h), pol = host_policy(h);
    j["default_domain"] = dom.empty() ? nlohmann::json(nullptr) : nlohmann::json(dom);
    j["dma_policy"] = pol.empty() ? nlohmann::json(nullptr) : nlohmann::json(pol);
    j["irq_remapping"] = h.irq_remapping.enabled ? nlohmann::json(*h.irq_remapping.enabled) : nlohmann::json(nullptr);
    return j;
}

void apply_baseline(Expectations &e, const nlohmann::json &doc, const std::string &name)
{
    auto fail = [&](const std::string &what) {
        throw Error(kExitUsage, fmt::format("{}: {} (remove it to record a new baseline)", name, what));
    };
    if (!doc.is_object() || !doc.contains("format") || doc["format"] != kBaselineFormat)
        fail("not an iommuprof check baseline");
    if (!doc.contains("version") || !doc["version"].is_number_integer() || doc["version"] != kBaselineVersion)
        fail(fmt::format("baseline version {}, this iommuprof reads version {}",
                         doc.contains("version") ? doc["version"].dump() : "missing", kBaselineVersion));
    // Each value: a string, a bool or null, of the right kind.
    auto get = [&](const char *k, bool boolean) -> std::optional<std::string> {
        if (!doc.contains(k))
            fail(fmt::format("'{}' is missing", k));
        const auto &v = doc[k];
        if (v.is_null())
            return std::nullopt;
        if (boolean && v.is_boolean())
            return v.get<bool>() ? "yes" : "no";
        if (!boolean && v.is_string())
            return v.get<std::string>();
        fail(fmt::format("'{}' is not {}", k, boolean ? "true, false or null" : "a string or null"));
        return std::nullopt;
    };
    std::string created = doc.contains("created") && doc["created"].is_string() ? doc["created"].get<std::string>() : "";
    std::string src = "baseline " + name + (created.empty() ? "" : " of " + created);
    auto set = [&](const char *key, const std::optional<std::string> &v) {
        if (!v)
            return;
        try {
            set_expectation(e, key, *v, src);
        } catch (const ExpectationError &x) {
            fail(x.what());
        }
    };
    auto active = get("iommu_active", true), vendor = get("vendor", false), domain = get("default_domain", false),
         policy = get("dma_policy", false), irq = get("irq_remapping", true);
    if (!active)
        fail("'iommu_active' is not true or false");
    // Keys set in the config or on the command line win, in pairs that
    // depend on each other.
    if (!e.default_domain && !e.dma_policy) {
        set("default-domain", domain);
        if (domain && (*domain == "translated" || *domain == "mixed"))
            set("dma-policy", policy);
    }
    if (!e.iommu_active && !e.vendor) {
        set("iommu-active", active);
        if (*active == "yes")
            set("vendor", vendor);
    }
    if (!e.irq_remapping)
        set("irq-remapping", irq);
}

std::string describe_baseline(const nlohmann::json &doc)
{
    auto str = [&](const char *k) {
        return doc.contains(k) && doc[k].is_string() ? doc[k].get<std::string>() : std::string("unknown");
    };
    if (!doc.contains("iommu_active") || doc["iommu_active"] != true)
        return "no IOMMU active";
    std::string s = fmt::format("default domain {}", str("default_domain"));
    if (str("dma_policy") != "none" && str("dma_policy") != "unknown")
        s += fmt::format(" ({})", str("dma_policy"));
    s += fmt::format(", {} IOMMU", str("vendor"));
    if (doc.contains("irq_remapping") && doc["irq_remapping"].is_boolean())
        s += fmt::format(", interrupt remapping {}", doc["irq_remapping"].get<bool>() ? "on" : "off");
    return s;
}

}  // namespace iommuprof
