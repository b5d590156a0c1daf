// `iommuprof inspect`: the host's IOMMU setup, read from /proc and /sys
// (below --root) and the kernel log (docs/inspect.md).
#include <memory>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "iommuprof/cli.hpp"
#include "iommuprof/hostfacts.hpp"
#include "iommuprof/render.hpp"

namespace iommuprof::cli {
namespace {

struct InspectCmd {
    std::string root = "/";
    std::string dmesg;
    bool json = false;
};

void run(const InspectCmd &o)
{
    HostOptions ho;
    ho.root = o.root;
    ho.dmesg_file = o.dmesg;
    ho.read_kmsg = true;  // below --root: only the live root has a readable dev/kmsg
    HostFacts h = read_host_facts(ho);
    if (o.json) {
        nlohmann::json j = h;
        print_out(render_json(j));
    } else {
        print_text(render_hostfacts_text(h));
    }
}

Registrar reg(40, [](CLI::App &app) {
    auto o = std::make_shared<InspectCmd>();
    auto *c = app.add_subcommand("inspect", "Show the host's IOMMU setup (mode, groups, devices, VFIO, faults)");
    c->add_option("--root", o->root, "Read /proc, /sys and /dev/kmsg below this directory (default /)")
        ->type_name("DIR");
    c->add_option("--dmesg", o->dmesg, "Read the kernel log from this file (dmesg, journalctl -k or /dev/kmsg "
                                       "format) instead of /dev/kmsg")
        ->type_name("FILE");
    c->add_flag("--json", o->json, "Print the host facts as JSON (docs/inspect.md)");
    c->callback([o] { run(*o); });
});

}  // namespace
}  // namespace iommuprof::cli
