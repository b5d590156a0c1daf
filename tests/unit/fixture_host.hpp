// Host facts read from one of the fixture trees (tests/fixtures/hosts/NAME), as iommuprof reads a
// live host's /proc and /sys. Shared by the unit tests.
#pragma once

#include <string>

#include "iommuprof/hostfacts.hpp"

namespace iommuprof::test {

// (intel-lazy: a translated, DMA-FQ, Intel host.) dmesg: the kernel log file in the tree, "" for
// none.
inline HostFacts fixture_host(const std::string &name, const std::string &dmesg = "dmesg.txt")
{
    HostOptions o;
    o.root = std::string(IOMMUPROF_FIXTURES) + "/hosts/" + name;
    if (!dmesg.empty())
        o.dmesg_file = o.root + "/" + dmesg;
    return read_host_facts(o);
}

}  // namespace iommuprof::test
