// iommuprof: entry point. Subcommands live in user/cli/cmd_*.cpp and register
// themselves; main parses, runs, and turns every failure into one line on
// stderr and a documented exit code (docs/cli.md).
#include <algorithm>
#include <cstdio>
#include <exception>
#include <vector>

#include <fmt/core.h>

#include "iommuprof/cli.hpp"
#include "iommuprof/error.hpp"

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
}  // namespace

Registrar::Registrar(int order, AddCommand add) { registry().push_back({order, std::move(add)}); }
void set_exit_code(int code) { g_exit = code; }

}  // namespace iommuprof::cli

int main(int argc, char **argv)
{
    using namespace iommuprof;
    CLI::App app{"iommuprof: profile the Linux IOMMU and DMA-mapping hot paths, and tell whether iommu=pt is worth trying"};
    app.set_version_flag("--version", "iommuprof 0.1.0");
    app.require_subcommand(1);
    app.fallthrough(false);
    auto &reg = cli::registry();
    std::stable_sort(reg.begin(), reg.end(), [](auto &a, auto &b) { return a.order < b.order; });
    for (auto &e : reg)
        e.add(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp &e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp &e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion &e) {
        return app.exit(e);
    } catch (const CLI::ParseError &e) {
        // One line, then a hint; usage errors exit 2.
        std::string what = e.what();
        if (what.empty())
            what = "invalid command line";
        fmt::print(stderr, "iommuprof: {}\nRun with --help for usage.\n", what);
        return kExitUsage;
    } catch (const Error &e) {
        fmt::print(stderr, "iommuprof: {}\n", e.what());
        return e.code;
    } catch (const std::exception &e) {
        fmt::print(stderr, "iommuprof: internal error: {}\n", e.what());
        return kExitRuntime;
    }
    return cli::g_exit;
}
