// `iommuprof inspect`: the host's IOMMU setup, read from /proc and /sys
// (below --root) and the kernel log (docs/inspect.md).
#include <memory>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "iommuprof/cli.hpp"
#include "iommuprof/hostfacts.hpp"
#include "iommuprof/openmetrics.hpp"
#include "iommuprof/output_file.hpp"
#include "iommuprof/render.hpp"

namespace iommuprof::cli {
namespace {

struct InspectCmd {
    std::string root = "/";
    std::string dmesg;
    bool json = false;
    bool openmetrics = false;
    std::string om_file;
    bool om_given = false;  // --openmetrics-file '' is refused, not ignored
};

void run(const InspectCmd &o)
{
    HostOptions ho;
    ho.root = o.root;
    ho.dmesg_file = o.dmesg;
    ho.read_kmsg = true;  // below --root: only the live root has a readable dev/kmsg
    if (o.om_given)
        check_writable(o.om_file, 64u << 10);  // before reading: a bad target is exit 2 at once
    HostFacts h = read_host_facts(ho);
    if (o.om_given) {
        write_file_atomic(o.om_file, render_host_openmetrics(h));
    } else if (o.openmetrics) {
        print_out(render_host_openmetrics(h));
    } else if (o.json) {
        nlohmann::json j = h;
        print_out(render_json(j));
    } else {
        print_text(render_hostfacts_text(h));
    }
}

Registrar reg_inspect(40, [](CLI::App &app) {
    auto o = std::make_shared<InspectCmd>();
    auto *c = app.add_subcommand("inspect", "Show the host's IOMMU setup (mode, groups, devices, VFIO, faults)");
    c->add_option("--root", o->root, "Read /proc, /sys and /dev/kmsg below this directory (default /)")
        ->type_name("DIR");
    c->add_option("--dmesg", o->dmesg, "Read the kernel log from this file (dmesg, journalctl -k or /dev/kmsg "
                                       "format) instead of /dev/kmsg")
        ->type_name("FILE");
    auto *js = c->add_flag("--json", o->json, "Print the host facts as JSON (docs/inspect.md)");
    auto *om = c->add_flag("--openmetrics", o->openmetrics,
                           "Print the host facts as metrics for node_exporter's textfile collector "
                           "(iommuprof_facts_*, docs/openmetrics.md)");
    auto *omf = c->add_option("--openmetrics-file", o->om_file,
                              "Write those metrics to this file (*.prom), replaced atomically")
                    ->type_name("FILE")
                    ->each([o](const std::string &) { o->om_given = true; });
    js->excludes(om)->excludes(omf);
    om->excludes(omf);
    c->callback([o] { run(*o); });
});

}  // namespace
}  // namespace iommuprof::cli
