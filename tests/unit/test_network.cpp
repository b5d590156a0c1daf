// Packet counters in snapshots (model.hpp), per-device traffic (aggregate.hpp), their JSON
// (json.hpp) and text (render.hpp), and the softirq-nesting counters.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "iommuprof/aggregate.hpp"
#include "iommuprof/json.hpp"
#include "iommuprof/render.hpp"

using namespace iommuprof;
using nlohmann::json;

namespace {

const char *kE1000e = "0000:00:06.0";
const char *kVirtio = "0000:00:05.0";

Hist calls(uint64_t n, uint64_t sum_ns)
{
    Hist h;
    h.count = n;
    h.sum_ns = sum_ns;
    h.buckets[10] = n;
    h.max_ns = 2000;
    return h;
}

// Two NICs over 2 s: e1000e in namespace "labpeer" 1000 rx + 200 tx packets, 1150 maps, 1100
// unmaps, 6 ms in outermost calls; virtio-net 500 packets, 250 maps.
Snapshot traffic()
{
    Snapshot s;
    s.duration_s = 2;
    s.ncpus = 2;
    s.points = {{"dma_map", Category::DmaApi, true},
                {"dma_unmap", Category::DmaApi, true},
                {"dma_map_sg", Category::DmaApi, true},
                {"iommu_map", Category::IommuCore, true},
                {kTotalPoint, Category::Total, true}};
    s.cells = {{"dma_map", kE1000e, 0, calls(1000, 1)},  {"dma_map", kE1000e, 1, calls(100, 1)},
               {"dma_map_sg", kE1000e, 1, calls(50, 1)}, {"dma_unmap", kE1000e, 0, calls(1100, 1)},
               {"iommu_map", kE1000e, 0, calls(1150, 1)}, {kTotalPoint, kE1000e, 0, calls(2250, 4'000'000)},
               {kTotalPoint, kE1000e, 1, calls(2250, 2'000'000)}, {"dma_map", kVirtio, 0, calls(250, 1)},
               {kTotalPoint, kVirtio, 0, calls(250, 500'000)},  {"dma_map", "0000:00:04.0", 0, calls(99, 1)}};
    s.net = {{kE1000e, "eth1", "labpeer", 1000, 200, 1'400'000, 12'000}, {kVirtio, "eth0", "", 300, 200, 1, 2}};
    return s;
}

}  // namespace

TEST(Network, PacketsMapsAndCpuPerPacketPerDevice)
{
    auto net = net_by_device(traffic());
    ASSERT_EQ(net.size(), 2u) << "the NVMe disk has no interface and no row";
    const NetDeviceTraffic &e = net[1].device == kE1000e ? net[1] : net[0];
    EXPECT_EQ(e.device, kE1000e);
    EXPECT_EQ(e.ifaces, std::vector<std::string>{"labpeer/eth1"});
    EXPECT_EQ(e.packets(), 1200u);
    EXPECT_EQ(e.maps, 1150u) << "dma_map and dma_map_sg; not iommu_map (a layer below)";
    EXPECT_EQ(e.unmaps, 1100u);
    EXPECT_EQ(e.cpu_ns, 6'000'000u) << "the outermost time, every CPU";
    EXPECT_DOUBLE_EQ(e.packets_per_s, 600);
    EXPECT_DOUBLE_EQ(e.maps_per_packet, 1150.0 / 1200);
    EXPECT_DOUBLE_EQ(e.cpu_ns_per_packet, 5000);
    const NetDeviceTraffic &v = net[1].device == kE1000e ? net[0] : net[1];
    EXPECT_EQ(v.ifaces, std::vector<std::string>{"eth0"});
    EXPECT_DOUBLE_EQ(v.maps_per_packet, 0.5);
    EXPECT_DOUBLE_EQ(v.cpu_ns_per_packet, 1000);
}

TEST(Network, WithoutTheDmaApiTheDmaIommuLayerCountsTheMaps)
{
    Snapshot s = traffic();
    s.points = {{"iommu_dma_map", Category::DmaIommu, true},
                {"iommu_dma_unmap", Category::DmaIommu, true},
                {"iommu_map", Category::IommuCore, true},
                {kTotalPoint, Category::Total, true}};
    for (auto &c : s.cells)
        if (c.point == "dma_map" || c.point == "dma_unmap")
            c.point = "iommu_" + c.point;
    auto net = net_by_device(s);
    const NetDeviceTraffic &e = net[1].device == kE1000e ? net[1] : net[0];
    EXPECT_EQ(e.maps, 1100u) << "iommu_dma_map, not iommu_map";
    EXPECT_EQ(e.unmaps, 1100u);
    // Both layers timed (--dma-api): the DMA API's calls, not twice.
    Snapshot both = traffic();
    both.points.push_back({"iommu_dma_map", Category::DmaIommu, true});
    both.cells.push_back({"iommu_dma_map", kE1000e, 0, calls(1150, 1)});
    auto n2 = net_by_device(both);
    EXPECT_EQ((n2[1].device == kE1000e ? n2[1] : n2[0]).maps, 1150u);
}

TEST(Network, NoPacketsIsNotANumberAndNoCountersNoRows)
{
    Snapshot s = traffic();
    for (auto &n : s.net)
        n.rx_packets = n.tx_packets = 0;
    auto net = net_by_device(s);
    ASSERT_EQ(net.size(), 2u);
    EXPECT_TRUE(std::isnan(net[0].maps_per_packet));
    EXPECT_TRUE(std::isnan(net[0].cpu_ns_per_packet));
    s.net.clear();
    EXPECT_TRUE(net_by_device(s).empty());
    EXPECT_EQ(render_network(s), "") << "no network section for a profile without packet counters";
}

TEST(Network, SinceSubtractsPerInterfaceAndDropsNewOnes)
{
    std::vector<NetIface> t0 = {{kE1000e, "eth1", "labpeer", 10, 20, 30, 40}, {kVirtio, "eth0", "", 5, 5, 5, 5}};
    std::vector<NetIface> t1 = {{kE1000e, "eth1", "labpeer", 110, 220, 330, 440},
                                {kVirtio, "eth0", "", 4, 5, 6, 7},            // counters went back (reset)
                                {"0000:00:07.0", "eth2", "", 9, 9, 9, 9}};  // came up in the window
    auto d = net_since(t1, t0);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0], (NetIface{kE1000e, "eth1", "labpeer", 100, 200, 300, 400}));
    EXPECT_EQ(d[1], (NetIface{kVirtio, "eth0", "", 0, 0, 1, 2})) << "saturating, never wrapping";
    // The same name in another namespace is another interface.
    std::vector<NetIface> other = {{kE1000e, "eth1", "", 1000, 1000, 1000, 1000}};
    EXPECT_TRUE(net_since(other, t0).empty());
    Snapshot a = traffic(), b = traffic();
    for (auto &n : b.net)
        n.rx_packets += 7;
    b.duration_s = 3;
    EXPECT_EQ(b.since(a).net[0].rx_packets, 7u);
}

TEST(Network, JsonRoundTripsIsOptionalAndIsChecked)
{
    Snapshot s = traffic();
    s.counters.softirq_nested = 12;
    s.counters.softirq_nested_calls = 40;
    json j = s;
    ASSERT_EQ(j["net"].size(), 2u);
    EXPECT_EQ(j["net"][0]["netns"], "labpeer");
    EXPECT_EQ(j["counters"]["softirq_nested"], 12u);
    EXPECT_EQ(json::parse(j.dump()).get<Snapshot>(), s);
    json old = j;
    old.erase("net");  // a profile from before packet counters
    old["counters"].erase("softirq_nested");
    old["counters"].erase("softirq_nested_calls");
    Snapshot o = old.get<Snapshot>();
    EXPECT_TRUE(o.net.empty());
    EXPECT_EQ(o.counters.softirq_nested, 0u);
    json twice = j;
    twice["net"].push_back(twice["net"][0]);
    EXPECT_THROW((void)twice.get<Snapshot>(), Error);
    json bad = j;
    bad["net"][0]["device"] = "";
    EXPECT_THROW((void)bad.get<Snapshot>(), Error);
    bad = j;
    bad["net"][0]["rx_packets"] = -1;
    EXPECT_THROW((void)bad.get<Snapshot>(), Error);
}

TEST(Network, TextAndJsonReports)
{
    Snapshot s = traffic();
    s.counters.softirq_nested = 12;
    s.counters.softirq_nested_calls = 40;
    std::string t = render_network(s);
    EXPECT_NE(t.find("network: 850 packets/s on 2 devices"), std::string::npos) << t;
    EXPECT_NE(t.find("labpeer/eth1"), std::string::npos) << t;
    EXPECT_NE(t.find("0.958"), std::string::npos) << "e1000e's maps per packet\n" << t;
    EXPECT_NE(t.find("5.00 µs"), std::string::npos) << "e1000e's CPU per packet\n" << t;
    EXPECT_NE(t.find("nesting: 12 softirqs completed 40 probed calls"), std::string::npos) << t;
    EXPECT_NE(render_table(s).find("network:"), std::string::npos) << "part of the table of top and report";
    json r = summary_json(s);
    ASSERT_EQ(r["network"].size(), 2u);
    auto &e = r["network"][0]["device"] == kE1000e ? r["network"][0] : r["network"][1];
    EXPECT_DOUBLE_EQ(e["maps_per_packet"].get<double>(), 1150.0 / 1200);
    EXPECT_DOUBLE_EQ(e["cpu_ns_per_packet"].get<double>(), 5000);
    EXPECT_EQ(e["dma_maps"], 1150u);
    for (auto &n : s.net)
        n.rx_packets = n.tx_packets = 0;
    EXPECT_TRUE(summary_json(s)["network"][0]["maps_per_packet"].is_null());
}
