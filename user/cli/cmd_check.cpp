// `iommuprof check`: the host's IOMMU setup against an expectation given in a
// config file and/or on the command line, as a Nagios plugin: exit 0 OK,
// 1 WARNING, 2 CRITICAL, 3 UNKNOWN (docs/check.md). Reads files only.
#include <fmt/core.h>

#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "iommuprof/check.hpp"
#include "iommuprof/cli.hpp"
#include "iommuprof/error.hpp"
#include "iommuprof/hostfacts.hpp"
#include "iommuprof/output_file.hpp"
#include "iommuprof/profile.hpp"
#include "iommuprof/render.hpp"

namespace iommuprof::cli {
namespace {

constexpr const char *kDefaultConfig = "/etc/iommuprof/check.conf";

struct CheckCmd {
    std::string root = "/";
    std::string dmesg;
    std::string config;
    bool no_config = false;
    bool json = false;
    // Expectation options as given: key -> values (several for the list keys).
    std::map<std::string, std::vector<std::string>> given;
};

struct KeyHelp {
    const char *value;
    const char *help;
    bool list = false;  // may be repeated; the values add up
};

const std::map<std::string, KeyHelp> &key_help()
{
    static const std::map<std::string, KeyHelp> h = {
        {"default-domain", {"DOMAIN", "Expected default domain: translated, passthrough, or a group type DMA, DMA-FQ, "
                                      "identity (also mixed, none)"}},
        {"dma-policy", {"POLICY", "Expected invalidation policy of the translated groups: strict, lazy (also none, "
                                  "mixed)"}},
        {"vendor", {"VENDOR", "Expected IOMMU vendor: intel, amd, arm, virtio, other, mixed, none"}},
        {"iommu-active", {"yes|no", "Expect an active IOMMU (yes) or none (no)"}},
        {"irq-remapping", {"yes|no", "Expect interrupt remapping on (yes) or off (no)"}},
        {"cmdline-require", {"PARAM", "Kernel parameter that must be on the command line: key=value or key "
                                      "(repeatable; space-separated list)", true}},
        {"cmdline-forbid", {"PARAM", "Kernel parameter that must not be on the command line: key=value or key "
                                     "(repeatable; space-separated list)", true}},
        {"max-faults", {"N", "WARNING when the kernel log has more than N IOMMU faults (UNKNOWN when the log "
                             "cannot be read)"}},
        {"faults-critical", {"N", "CRITICAL when the kernel log has more than N IOMMU faults"}},
        {"vfio-groups", {"clean|any", "clean: every vfio-pci device in a group of its own (not shared with host "
                                      "drivers, not mixed)"}},
        {"mixed-groups", {"none|any", "none: no IOMMU group mixes devices that cannot be isolated"}},
        {"max-swiotlb-slabs", {"N", "WARNING when more than N swiotlb slabs are in use (needs debugfs)"}},
        {"severity", {"CHECK=LEVEL", "Status of a check's violations: CHECK=warning or CHECK=critical "
                                     "(repeatable; comma-separated list)", true}},
        {"skip", {"CHECK", "Leave these checks out (repeatable; comma-separated list)", true}},
        {"baseline", {"FILE", "Record the current default domain, policy, vendor and interrupt remapping in FILE "
                              "when it is missing; compare with it when it exists"}},
    };
    return h;
}

// A failure to check: UNKNOWN, one line on stderr, and the status line (or
// the JSON document) on stdout for the monitor.
void unknown(const std::string &why, bool json)
{
    fmt::print(stderr, "iommuprof: {}\n", esc(why));
    try {
        print_out(json ? render_json(check_error_json(why)) : render_check_error_text(why));
    } catch (const Error &) {
        // stdout is gone: the exit code still says UNKNOWN.
    }
    set_exit_code(int(CheckStatus::Unknown));
}

void handle_baseline(Expectations &e, const HostFacts &h, std::vector<std::string> &notes)
{
    const std::string &path = *e.baseline;
    if (auto text = read_small_file(path, kMaxBaselineBytes, true)) {
        auto doc = nlohmann::json::parse(*text, nullptr, false);
        if (doc.is_discarded())
            throw Error(kExitUsage, path + ": not JSON, so not an iommuprof check baseline (remove it to record a "
                                           "new baseline)");
        apply_baseline(e, doc, path);
        return;
    }
    // Missing: record this boot. Only a new file (or a dangling link, which
    // is replaced, never followed) is written, atomically.
    if (classify_output(path) != OutputKind::Replace)
        throw Error(kExitUsage, path + ": not a regular file");
    nlohmann::json doc = make_baseline(h, now_iso8601_utc());
    write_file_atomic(path, render_json(doc));
    apply_baseline(e, doc, path);
    notes.push_back(fmt::format("baseline written to {}: {}; later runs compare with it (remove it to record a new "
                                "one)",
                                path, describe_baseline(doc)));
}

void run(const CheckCmd &o)
{
    try {
        Expectations e;
        std::string cfg = o.config.empty() && !o.no_config ? kDefaultConfig : o.config;
        if (!cfg.empty()) {
            std::optional<std::string> text;
            try {
                text = read_small_file(cfg, kMaxCheckConfigBytes, o.config.empty());
            } catch (const Error &x) {
                throw Error(x.code, std::string("config ") + x.what());
            }
            if (text)
                e = parse_check_config(*text, cfg);
        }
        // The command line overrides the config, key by key.
        for (auto &key : expectation_keys()) {
            auto it = o.given.find(key);
            if (it == o.given.end() || it->second.empty())
                continue;
            // Repeated list options add up: parameters separate by spaces,
            // checks by commas.
            const char *sep = key == "severity" || key == "skip" ? "," : " ";
            std::string value;
            for (auto &v : it->second)
                value += (value.empty() ? "" : sep) + v;
            try {
                set_expectation(e, key, value, "command line");
            } catch (const ExpectationError &x) {
                throw Error(kExitUsage, "--" + x.key + ": " + x.problem);
            }
        }
        finish_expectations(e);

        HostOptions ho;
        ho.root = o.root;
        ho.dmesg_file = o.dmesg;
        ho.read_kmsg = true;
        HostFacts h = read_host_facts(ho);
        std::vector<std::string> notes;
        if (e.baseline) {
            try {
                handle_baseline(e, h, notes);
            } catch (const Error &x) {
                throw Error(x.code, std::string("baseline ") + x.what());
            }
        }
        CheckReport r = evaluate_checks(h, e);
        r.notes = notes;
        print_out(o.json ? render_json(check_json(r)) : render_check_text(r));
        set_exit_code(int(r.status));
    } catch (const std::exception &x) {
        unknown(x.what(), o.json);
    }
}

Registrar reg_check(42, [](CLI::App &app) {
    auto o = std::make_shared<CheckCmd>();
    auto *c = app.add_subcommand("check", "Check the host's IOMMU setup against an expectation (Nagios plugin: "
                                          "exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)");
    c->add_option("--root", o->root, "Read /proc, /sys and /dev/kmsg below this directory (default /)")
        ->type_name("DIR");
    c->add_option("--dmesg", o->dmesg, "Read the kernel log from this file instead of /dev/kmsg")->type_name("FILE");
    auto *config = c->add_option("--config", o->config, std::string("Read expectations from this file (default ") +
                                                            kDefaultConfig + " when it exists)")
                       ->type_name("FILE");
    auto *no_config = c->add_flag("--no-config", o->no_config, std::string("Do not read ") + kDefaultConfig);
    config->excludes(no_config);
    c->add_flag("--json", o->json, "Print the result as JSON (docs/check.md)");
    for (auto &key : expectation_keys()) {
        const KeyHelp &kh = key_help().at(key);
        auto *opt = c->add_option("--" + key, o->given[key], kh.help)->type_name(kh.value);
        if (kh.list)
            opt->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
        else
            opt->multi_option_policy(CLI::MultiOptionPolicy::Throw)->expected(1);
        // The same check as a config value, so a bad value is a usage error naming the option.
        opt->check(CLI::Validator(
            [key](std::string &v) -> std::string {
                Expectations scratch;
                try {
                    set_expectation(scratch, key, v, "command line");
                } catch (const ExpectationError &x) {
                    return x.problem;
                }
                return "";
            },
            ""));
    }
    c->callback([o] { run(*o); });
    // Usage errors are UNKNOWN (3), with the status line a monitor reads on stdout.
    set_usage_error_policy(c, {int(CheckStatus::Unknown), [](const CLI::App &sub, const std::string &what) {
                                   bool json = sub.count("--json") > 0;
                                   std::string why = "usage: " + what;
                                   try {
                                       print_out(json ? render_json(check_error_json(why))
                                                      : render_check_error_text(why));
                                   } catch (const Error &) {
                                   }
                               }});
});

}  // namespace
}  // namespace iommuprof::cli
