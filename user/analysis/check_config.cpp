// `iommuprof check` expectations: the keys, their values, the config file
// format (docs/check.md). Text in, Expectations out; no file access.
#include <algorithm>
#include <cctype>

#include <fmt/core.h>

#include "iommuprof/check.hpp"
#include "iommuprof/strings.hpp"

namespace iommuprof {

namespace {

// Keys that ask for a check (the others shape how checks run).
bool is_check_key(const std::string &k) { return k != "severity" && k != "skip" && k != "baseline"; }

std::string lower(std::string s)
{
    for (auto &c : s)
        c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// Case-insensitive match against `allowed`, returning the canonical spelling.
std::string one_of(const std::string &key, const std::string &v, const std::vector<std::string> &allowed)
{
    for (auto &a : allowed)
        if (lower(v) == lower(a))
            return a;
    throw ExpectationError(key, fmt::format("'{}' is not one of {}", v, join(allowed)));
}

bool boolean(const std::string &key, const std::string &v)
{
    std::string l = lower(v);
    if (l == "yes" || l == "on" || l == "true" || l == "1")
        return true;
    if (l == "no" || l == "off" || l == "false" || l == "0")
        return false;
    throw ExpectationError(key, fmt::format("'{}' is not yes or no (also on/off, true/false, 1/0)", v));
}

uint64_t count(const std::string &key, const std::string &v)
{
    if (v.empty() || v.size() > 15 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
        throw ExpectationError(key, fmt::format("'{}' is not a count (a plain decimal integer, 0 or more)", v));
    return std::stoull(v);
}

// Items separated by white space (and commas when `commas`).
std::vector<std::string> items(const std::string &v, bool commas)
{
    return split_nonempty(v, [commas](char c) { return c == ' ' || c == '\t' || (commas && c == ','); });
}

// "iommu=pt", "intel_iommu", "intel-iommu=on,sm_on" -> key normalized like
// the kernel's parameq() ('-' == '_').
std::vector<std::string> cmdline_list(const std::string &key, const std::string &v)
{
    auto list = items(v, false);
    if (list.empty())
        throw ExpectationError(key, "no parameter given");
    if (list.size() > 64)
        throw ExpectationError(key, "more than 64 parameters");
    for (auto &p : list) {
        auto eq = p.find('=');
        std::string k = p.substr(0, eq);
        bool ok = !k.empty() && std::all_of(k.begin(), k.end(), [](unsigned char c) {
            return std::isalnum(c) || c == '_' || c == '-' || c == '.';
        });
        if (!ok || p.find('"') != std::string::npos)
            throw ExpectationError(key, fmt::format("'{}' is not a kernel parameter (key or key=value)", p));
        for (auto &c : k)
            if (c == '-')
                c = '_';
        p = eq == std::string::npos ? k : k + p.substr(eq);
    }
    return list;
}

bool has_control(std::string_view s)
{
    return std::any_of(s.begin(), s.end(), [](char c) {
        return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
    });
}


std::string trim(std::string_view s)
{
    size_t b = 0, e = s.size();
    while (b < e && (s[b] == ' ' || s[b] == '\t'))
        b++;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r'))
        e--;
    return std::string(s.substr(b, e - b));
}

}  // namespace

const std::vector<std::string> &expectation_keys()
{
    static const std::vector<std::string> keys = {
        "default-domain", "dma-policy",     "vendor",     "iommu-active", "irq-remapping",
        "cmdline-require", "cmdline-forbid", "max-faults", "faults-critical", "vfio-groups",
        "mixed-groups",   "max-swiotlb-slabs", "severity", "skip",         "baseline"};
    return keys;
}

void set_expectation(Expectations &e, const std::string &key, const std::string &value, const std::string &source)
{
    std::string v = trim(value);
    if (v.empty())
        throw ExpectationError(key, "no value");
    if (has_control(v))
        throw ExpectationError(key, "control characters in the value");
    if (key == "default-domain")
        e.default_domain =
            one_of(key, v, {"translated", "passthrough", "DMA", "DMA-FQ", "identity", "mixed", "none"});
    else if (key == "dma-policy")
        e.dma_policy = one_of(key, v, {"strict", "lazy", "none", "mixed"});
    else if (key == "vendor")
        e.vendor = one_of(key, v, {"intel", "amd", "arm", "virtio", "other", "mixed", "none"});
    else if (key == "iommu-active")
        e.iommu_active = boolean(key, v);
    else if (key == "irq-remapping")
        e.irq_remapping = boolean(key, v);
    else if (key == "cmdline-require")
        e.cmdline_require = cmdline_list(key, v);
    else if (key == "cmdline-forbid")
        e.cmdline_forbid = cmdline_list(key, v);
    else if (key == "max-faults")
        e.max_faults = count(key, v);
    else if (key == "faults-critical")
        e.faults_critical = count(key, v);
    else if (key == "vfio-groups")
        e.vfio_clean = one_of(key, v, {"clean", "any"}) == "clean";
    else if (key == "mixed-groups")
        e.no_mixed_groups = one_of(key, v, {"none", "any"}) == "none";
    else if (key == "max-swiotlb-slabs")
        e.max_swiotlb_slabs = count(key, v);
    else if (key == "severity") {
        std::map<std::string, CheckStatus> sev;
        for (auto &item : items(v, true)) {
            auto eq = item.find('=');
            std::string check = item.substr(0, eq);
            if (eq == std::string::npos)
                throw ExpectationError(key, fmt::format("'{}' is not CHECK=warning or CHECK=critical", item));
            auto &names = check_names();
            if (std::find(names.begin(), names.end(), check) == names.end())
                throw ExpectationError(key, fmt::format("'{}' is not a check ({})", check, join(names)));
            if (sev.count(check))
                throw ExpectationError(key, fmt::format("'{}' is given twice", check));
            std::string level = one_of(key, item.substr(eq + 1), {"warning", "critical"});
            sev[check] = level == "warning" ? CheckStatus::Warning : CheckStatus::Critical;
        }
        e.severity = sev;
    } else if (key == "skip") {
        std::set<std::string> skip;
        for (auto &check : items(v, true)) {
            auto &names = check_names();
            if (std::find(names.begin(), names.end(), check) == names.end())
                throw ExpectationError(key, fmt::format("'{}' is not a check ({})", check, join(names)));
            skip.insert(check);
        }
        e.skip = skip;
    } else if (key == "baseline") {
        e.baseline = v;
    } else {
        throw ExpectationError(key, "not a key of iommuprof check");
    }
    e.source[key] = source;
}

Expectations parse_check_config(std::string_view text, const std::string &name)
{
    if (text.size() > kMaxCheckConfigBytes)
        throw Error(kExitUsage, fmt::format("{}: larger than {} KiB: not a check config", name,
                                            kMaxCheckConfigBytes / 1024));
    if (text.substr(0, 3) == "\xef\xbb\xbf")
        text.remove_prefix(3);  // a UTF-8 byte order mark
    Expectations e;
    std::map<std::string, size_t> seen;  // key -> line
    size_t lineno = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        lineno++;
        auto fail = [&](const std::string &what) {
            throw Error(kExitUsage, fmt::format("{}:{}: {}", name, lineno, what));
        };
        // A comment: '#' at the start of the line or after white space.
        for (size_t i = 0; i < line.size(); i++)
            if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
                line = line.substr(0, i);
                break;
            }
        std::string l = trim(line);
        if (l.empty())
            continue;
        if (has_control(l))
            fail("control characters in the line (a binary file?)");
        auto eq = l.find('=');
        std::string key = trim(std::string_view(l).substr(0, eq));
        if (eq == std::string::npos || key.empty())
            fail("expected 'key = value'");
        auto &keys = expectation_keys();
        if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
            std::string shown = key.size() > 64 ? key.substr(0, 64) + "..." : key;
            if (key == "root" || key == "dmesg" || key == "config" || key == "json" || key == "no-config")
                fail(fmt::format("'{}' is an option of the command line only, not a config key", key));
            std::string best;
            size_t best_d = 3;
            for (auto &k : keys)
                if (size_t d = edit_distance(key, k); d < best_d) {
                    best_d = d;
                    best = k;
                }
            fail(best.empty() ? fmt::format("unknown key '{}'", shown)
                              : fmt::format("unknown key '{}' (did you mean '{}'?)", shown, best));
        }
        if (auto it = seen.find(key); it != seen.end())
            fail(fmt::format("'{}' is already set on line {}", key, it->second));
        seen[key] = lineno;
        std::string value = trim(std::string_view(l).substr(eq + 1));
        if (key == "baseline" && !value.empty() && value[0] != '/')
            fail(fmt::format("baseline: '{}' is not an absolute path", value));
        try {
            set_expectation(e, key, value, fmt::format("{}:{}", name, lineno));
        } catch (const ExpectationError &x) {
            fail(x.what());
        }
    }
    return e;
}

void finish_expectations(Expectations &e)
{
    auto src = [&](const char *k) { return e.source.count(k) ? " (" + e.source.at(k) + ")" : std::string(); };
    if (e.default_domain && e.dma_policy) {
        const std::string &d = *e.default_domain, &p = *e.dma_policy;
        std::string implied = d == "DMA" ? "strict" : d == "DMA-FQ" ? "lazy" : "";
        bool untranslated = d == "passthrough" || d == "identity" || d == "none";
        if ((!implied.empty() && p != implied) || (untranslated && p != "none") || (d == "translated" && p == "none"))
            throw Error(kExitUsage, fmt::format("default-domain {}{} contradicts dma-policy {}{}", d,
                                                src("default-domain"), p, src("dma-policy")));
    }
    if (e.iommu_active == false) {
        // With no IOMMU there is no domain, policy or vendor to have.
        const std::pair<const char *, const std::optional<std::string> *> needs_iommu[] = {
            {"default-domain", &e.default_domain}, {"dma-policy", &e.dma_policy}, {"vendor", &e.vendor}};
        for (auto &[k, v] : needs_iommu)
            if (*v && **v != "none")
                throw Error(kExitUsage, fmt::format("iommu-active no{} contradicts {} {}{}", src("iommu-active"), k,
                                                    **v, src(k)));
    }
    bool any = std::any_of(e.source.begin(), e.source.end(), [](auto &kv) { return is_check_key(kv.first); });
    if (!any) {
        e.max_faults = 0;
        e.vfio_clean = true;
        e.source["max-faults"] = "default";
        e.source["vfio-groups"] = "default";
        e.defaults = true;
    }
}

}  // namespace iommuprof
