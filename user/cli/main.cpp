// iommuprof: entry point. Subcommands live in user/cli/cmd_*.cpp and register
// themselves; main parses, runs, and turns every failure into one line on
// stderr and a documented exit code (docs/cli.md).
#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <map>
#include <vector>

#include <fmt/core.h>

#include "iommuprof/cli.hpp"
#include "iommuprof/error.hpp"
#include "iommuprof/profile.hpp"
#include "iommuprof/render.hpp"
#include "iommuprof/strings.hpp"

namespace iommuprof::cli {
namespace {
struct Entry {
    int order;
    AddCommand add;
};
std::vector<Entry> &registry()
{
    static std::vector<Entry> r;
    return r;
}
int g_exit = kExitOk;
std::map<const CLI::App *, UsageErrorPolicy> &usage_policies()
{
    static std::map<const CLI::App *, UsageErrorPolicy> m;
    return m;
}
// The policy of the subcommand being parsed when a usage error came up
// (CLI11 lists a subcommand as parsed before parsing its arguments).
int usage_error(const CLI::App &app, const std::string &what)
{
    for (const CLI::App *sub : app.get_subcommands()) {
        auto it = usage_policies().find(sub);
        if (it == usage_policies().end())
            continue;
        if (it->second.report)
            it->second.report(*sub, what);
        return it->second.exit_code;
    }
    return kExitUsage;
}


// The first argument when it is meant as a subcommand but names none:
// "unknown command 'reprot' (did you mean 'report'?)"; "" otherwise.
std::string unknown_command(CLI::App &app, int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-' || argv[1][0] == 0)
        return argc >= 2 && argv[1][0] == 0 ? "empty command name" : "";
    std::string arg = argv[1];
    std::string best;
    size_t best_d = SIZE_MAX;
    for (auto *sub : app.get_subcommands([](CLI::App *) { return true; })) {
        if (sub->check_name(arg))
            return "";
        if (sub->get_group().empty())  // hidden (__generate): never suggested
            continue;
        size_t d = edit_distance(arg, sub->get_name());
        if (d < best_d) {
            best_d = d;
            best = sub->get_name();
        }
    }
    std::string shown;
    for (unsigned char c : arg.substr(0, 64))
        shown += c >= 0x20 && c < 0x7f ? std::string(1, char(c)) : fmt::format("\\x{:02x}", c);
    if (best_d <= 2)
        return fmt::format("unknown command '{}' (did you mean '{}'?)", shown, best);
    return fmt::format("unknown command '{}'", shown);
}
}  // namespace

Registrar::Registrar(int order, AddCommand add) { registry().push_back({order, std::move(add)}); }
void set_exit_code(int code) { g_exit = code; }
void set_usage_error_policy(const CLI::App *sub, UsageErrorPolicy policy) { usage_policies()[sub] = std::move(policy); }

}  // namespace iommuprof::cli

int main(int argc, char **argv)
{
    using namespace iommuprof;
    CLI::App app{"iommuprof: profile the Linux IOMMU and DMA-mapping hot paths, and tell whether iommu=pt is worth trying"};
    app.set_version_flag("--version", std::string("iommuprof ") + tool_version());
    app.require_subcommand(1);
    app.fallthrough(false);
    auto &reg = cli::registry();
    std::stable_sort(reg.begin(), reg.end(), [](auto &a, auto &b) { return a.order < b.order; });
    for (auto &e : reg)
        e.add(app);
    // A closed pipe (`iommuprof top | head -1`) is a failed write, exit 1, not
    // death by SIGPIPE.
    signal(SIGPIPE, SIG_IGN);
    if (auto msg = cli::unknown_command(app, argc, argv); !msg.empty()) {
        fmt::print(stderr, "iommuprof: {}\nRun with --help for the commands.\n", msg);
        return kExitUsage;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp &e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp &e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion &e) {
        return app.exit(e);
    } catch (const CLI::ParseError &e) {
        // One line, then a hint; usage errors exit 2 (check: 3, its UNKNOWN).
        std::string what = e.what();
        if (what.empty())
            what = "invalid command line";
        int code = cli::usage_error(app, what);
        fmt::print(stderr, "iommuprof: {}\nRun with --help for usage.\n", esc(what));
        return code;
    } catch (const Error &e) {
        fmt::print(stderr, "iommuprof: {}\n", esc(e.what()));
        return e.code;
    } catch (const std::exception &e) {
        fmt::print(stderr, "iommuprof: internal error: {}\n", esc(e.what()));
        return kExitRuntime;
    }
    return cli::g_exit;
}
