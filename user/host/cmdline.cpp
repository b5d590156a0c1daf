// The IOMMU-related parameters of /proc/cmdline and what they ask for.
//
// Semantics follow the kernel (6.x): arch/x86/kernel/pci-dma.c iommu_setup()
// for `iommu=` (comma list; pt, nopt, off, soft, ...), drivers/iommu/iommu.c
// for iommu.strict= / iommu.passthrough= (kstrtobool), intel-iommu's and
// amd-iommu's own comma lists. Early parameters are applied in command-line
// order, so when two of them set the same thing the last one wins.
#include <optional>
#include <string>
#include <vector>

#include "iommuprof/hostfacts.hpp"
#include "iommuprof/strings.hpp"

namespace iommuprof {

namespace {

// Split like the kernel's next_arg(): white space separates, double quotes
// group (and are removed). Stops at "--" (the rest belongs to init).
std::vector<std::string> tokenize(const std::string &s)
{
    std::vector<std::string> out;
    std::string cur;
    bool in_quote = false, have = false;
    for (char c : s) {
        if (c == '"') {
            in_quote = !in_quote;
            have = true;
            continue;
        }
        if (!in_quote && (c == ' ' || c == '\t' || c == '\n')) {
            if (have) {
                if (cur == "--")
                    return out;
                out.push_back(cur);
            }
            cur.clear();
            have = false;
            continue;
        }
        cur += c;
        have = true;
    }
    if (have && cur != "--")
        out.push_back(cur);
    return out;
}

std::vector<std::string> split_commas(const std::string &v)
{
    return split_nonempty(v, [](char c) { return c == ','; });
}

// kstrtobool(): 1/y/t/on -> true, 0/n/f/off -> false.
std::optional<bool> kstrtobool(const std::string &v)
{
    if (v.empty())
        return std::nullopt;
    switch (v[0]) {
    case '1': case 'y': case 'Y': case 't': case 'T':
        return true;
    case '0': case 'n': case 'N': case 'f': case 'F':
        return false;
    case 'o': case 'O':
        if (v.size() >= 2 && (v[1] == 'n' || v[1] == 'N'))
            return true;
        if (v.size() >= 2 && (v[1] == 'f' || v[1] == 'F'))
            return false;
        return std::nullopt;
    default:
        return std::nullopt;
    }
}

// Parameter names compare with '-' == '_' (kernel parameq()).
std::string norm_key(const std::string &k)
{
    std::string out = k;
    for (auto &c : out)
        if (c == '-')
            c = '_';
    return out;
}

bool relevant(const std::string &k)
{
    static const char *keys[] = {"iommu", "intel_iommu", "amd_iommu", "iommu.strict", "iommu.passthrough",
                                 "iommu.forcedac", "intremap", "nointremap", "amd_iommu_intr", "swiotlb",
                                 "vfio.enable_unsafe_noiommu_mode", "vfio_iommu_type1.allow_unsafe_interrupts"};
    for (auto *x : keys)
        if (k == x)
            return true;
    return false;
}

struct Setting {
    std::string source;  // "iommu=pt"
    bool value;
};

// "a and b contradict each other" over settings of one kind.
void check_agree(const std::vector<Setting> &v, const char *what, std::vector<std::string> &conflicts)
{
    bool seen_true = false, seen_false = false;
    for (auto &s : v)
        (s.value ? seen_true : seen_false) = true;
    if (!(seen_true && seen_false))
        return;
    std::string list;
    for (size_t i = 0; i < v.size(); i++)
        list += (i ? (i + 1 == v.size() ? " and " : ", ") : "") + v[i].source;
    conflicts.push_back(list + " contradict each other about " + what +
                        "; the kernel applies them in command-line order, so the last one (" + v.back().source +
                        ") wins");
}

}  // namespace

std::vector<CmdlineParam> cmdline_params(const std::string &cmdline)
{
    std::vector<CmdlineParam> out;
    for (auto &tok : tokenize(cmdline)) {
        auto eq = tok.find('=');
        out.push_back({norm_key(eq == std::string::npos ? tok : tok.substr(0, eq)),
                       eq == std::string::npos ? "" : tok.substr(eq + 1)});
    }
    return out;
}

KernelFacts parse_cmdline(const std::string &cmdline)
{
    KernelFacts k;
    k.cmdline = cmdline;
    while (!k.cmdline.empty() && (k.cmdline.back() == '\n' || k.cmdline.back() == ' '))
        k.cmdline.pop_back();

    std::vector<Setting> pt, strict;
    bool iommu_off = false;
    std::optional<bool> intel_on;
    std::vector<std::string> intel_onoff;  // as written, in order
    bool amd_off = false;

    for (auto &tok : tokenize(k.cmdline)) {
        auto eq = tok.find('=');
        std::string key = norm_key(eq == std::string::npos ? tok : tok.substr(0, eq));
        std::string val = eq == std::string::npos ? "" : tok.substr(eq + 1);
        if (!relevant(key))
            continue;
        CmdlineParam p{key, val};
        k.iommu_params.push_back(p);

        if (key == "iommu") {
            for (auto &o : split_commas(val)) {
                if (o == "off") {
                    iommu_off = true;
                } else if (o == "pt") {
                    pt.push_back({"iommu=pt", true});
                } else if (o == "nopt") {
                    pt.push_back({"iommu=nopt", false});
                } else if (o == "soft") {
                    k.notes.push_back("iommu=soft forces swiotlb bounce buffering (no hardware IOMMU use)");
                }
            }
        } else if (key == "iommu.passthrough" || key == "iommu.strict") {
            auto b = kstrtobool(val);
            if (!b) {
                k.notes.push_back(p.written() + " is not a boolean the kernel accepts (it is ignored)");
                continue;
            }
            (key == "iommu.strict" ? strict : pt).push_back({p.written(), *b});
        } else if (key == "intel_iommu") {
            for (auto &o : split_commas(val)) {
                if (o == "on" || o == "off") {
                    intel_on = o == "on";
                    intel_onoff.push_back("intel_iommu=" + o);
                } else if (o == "strict") {
                    strict.push_back({"intel_iommu=strict", true});
                    k.notes.push_back("intel_iommu=strict is deprecated; iommu.strict=1 is the current spelling");
                }
            }
        } else if (key == "amd_iommu") {
            for (auto &o : split_commas(val)) {
                if (o == "off") {
                    amd_off = true;
                } else if (o == "fullflush") {
                    strict.push_back({"amd_iommu=fullflush", true});
                    k.notes.push_back("amd_iommu=fullflush is deprecated; iommu.strict=1 is the current spelling");
                } else if (o == "on") {
                    k.notes.push_back(
                        "amd_iommu=on is not an AMD-Vi option (the kernel logs \"Unknown option - 'on'\" and "
                        "ignores it); AMD-Vi is enabled by default when the firmware describes it");
                }
            }
        } else if (key == "vfio.enable_unsafe_noiommu_mode" && kstrtobool(val.empty() ? "1" : val).value_or(false)) {
            k.notes.push_back("VFIO no-IOMMU mode is allowed: devices can be given to user space with no DMA "
                              "isolation at all");
        }
    }

    if (!pt.empty())
        k.wants_passthrough = pt.back().value;
    if (!strict.empty())
        k.wants_strict = strict.back().value;
    if (iommu_off)
        k.disabled_by.push_back("iommu=off");
    if (intel_on == false)
        k.disabled_by.push_back("intel_iommu=off");
    if (amd_off)
        k.disabled_by.push_back("amd_iommu=off");

    check_agree(pt, "passthrough", k.conflicts);
    check_agree(strict, "strict invalidation", k.conflicts);
    bool intel_both = false;
    for (size_t i = 1; i < intel_onoff.size(); i++)
        if (intel_onoff[i] != intel_onoff[0])
            intel_both = true;
    if (intel_both)
        k.conflicts.push_back("intel_iommu=on and intel_iommu=off are both given; the last one (" +
                              intel_onoff.back() + ") wins");
    if (iommu_off && intel_on == true)
        k.conflicts.push_back("iommu=off switches the IOMMU drivers off: intel_iommu=on has no effect");
    if (k.wants_passthrough == true && !k.disabled_by.empty()) {
        k.conflicts.push_back(pt.back().source + " asks for passthrough but " + join(k.disabled_by, " and ") +
                              " switches the IOMMU off: with the IOMMU off nothing is translated either way");
    }
    if (k.wants_strict.has_value() && k.wants_passthrough == true)
        k.notes.push_back(strict.back().source +
                          " only affects translated domains: under passthrough it matters only for devices "
                          "that stay translated (VFIO, untrusted external devices)");
    return k;
}

}  // namespace iommuprof
