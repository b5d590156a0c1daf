// Packet counters of the network interfaces that sit on a device, in every network
// namespace: rtnetlink (RTM_GETLINK dumps through libmnl), one socket per namespace.
// A netlink socket belongs to the namespace it was created in, so a short-lived thread
// enters the namespace (setns changes only the calling thread's), creates the socket
// and leaves; the dump is read from this thread. sysfs cannot do this: it shows only
// the interfaces of the namespace it was mounted in.
#include <dirent.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <regex>
#include <set>
#include <thread>

#include <fmt/core.h>

#include "iommuprof/session.hpp"

namespace iommuprof {

namespace {

constexpr size_t kMaxNamespaces = 64;
constexpr size_t kMaxIfaces = 1024;

struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    ~Fd()
    {
        if (fd >= 0)
            close(fd);
    }
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;
};

struct Socket {
    mnl_socket *nl = nullptr;
    ~Socket()
    {
        if (nl)
            mnl_socket_close(nl);
    }
};

bool is_pci_name(const std::string &s)
{
    static const std::regex bdf("^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]$");
    return std::regex_match(s, bdf);
}

// The device the DMA API is called with for an interface whose parent is bus/name: the
// PCI function at or above it in the device tree (virtio-net's parent is "virtio0" on
// the virtio bus, its DMA device the PCI function under it); else the parent itself.
std::string dma_device(const std::string &bus, const std::string &name)
{
    if (bus == "pci" || is_pci_name(name))
        return name;
    if (bus.empty() || bus.find('/') != std::string::npos || name.find('/') != std::string::npos || bus == ".." ||
        name == "..")
        return name;
    std::error_code ec;
    auto p = std::filesystem::canonical("/sys/bus/" + bus + "/devices/" + name, ec);
    if (ec)
        return name;
    for (auto q = p; q.has_relative_path() && q != q.root_path(); q = q.parent_path())
        if (is_pci_name(q.filename().string()))
            return q.filename().string();
    return name;
}

// The parent device of an interface of this process's own namespace, when the kernel
// is older than IFLA_PARENT_DEV_NAME (5.15): /sys/class/net/NAME/device.
std::string sysfs_parent(const std::string &ifname)
{
    if (ifname.empty() || ifname.find('/') != std::string::npos || ifname == "." || ifname == "..")
        return "";
    std::error_code ec;
    auto p = std::filesystem::canonical("/sys/class/net/" + ifname + "/device", ec);
    if (ec)
        return "";
    for (auto q = p; q.has_relative_path() && q != q.root_path(); q = q.parent_path())
        if (is_pci_name(q.filename().string()))
            return q.filename().string();
    return p.filename().string();
}

struct Link {
    std::string name, parent, parent_bus;
    rtnl_link_stats64 stats{};
    bool has_stats = false;
};

int attr_cb(const nlattr *a, void *data)
{
    auto **tb = static_cast<const nlattr **>(data);
    int type = mnl_attr_get_type(a);
    if (type >= 0 && type <= IFLA_MAX)
        tb[type] = a;
    return MNL_CB_OK;
}

std::string attr_string(const nlattr *a)
{
    if (!a)
        return "";
    const char *s = static_cast<const char *>(mnl_attr_get_payload(a));
    size_t n = mnl_attr_get_payload_len(a);
    return std::string(s, strnlen(s, n));
}

int link_cb(const nlmsghdr *nlh, void *data)
{
    auto *links = static_cast<std::vector<Link> *>(data);
    if (links->size() >= kMaxIfaces)
        return MNL_CB_OK;
    const nlattr *tb[IFLA_MAX + 1] = {};
    if (mnl_attr_parse(nlh, sizeof(ifinfomsg), attr_cb, tb) < 0)
        return MNL_CB_OK;
    Link l;
    l.name = attr_string(tb[IFLA_IFNAME]);
    l.parent = attr_string(tb[IFLA_PARENT_DEV_NAME]);
    l.parent_bus = attr_string(tb[IFLA_PARENT_DEV_BUS_NAME]);
    if (tb[IFLA_STATS64]) {
        size_t n = std::min<size_t>(mnl_attr_get_payload_len(tb[IFLA_STATS64]), sizeof(l.stats));
        memcpy(&l.stats, mnl_attr_get_payload(tb[IFLA_STATS64]), n);
        l.has_stats = true;
    }
    links->push_back(std::move(l));
    return MNL_CB_OK;
}

// A netlink socket in the namespace `nsfd` (-1: this thread's own).
mnl_socket *socket_in(int nsfd)
{
    if (nsfd < 0)
        return mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    mnl_socket *nl = nullptr;
    std::thread t([&] {
        if (setns(nsfd, CLONE_NEWNET) == 0)
            nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    });
    t.join();
    return nl;
}

bool dump_links(mnl_socket *nl, std::vector<Link> &links)
{
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
        return false;
    // a receive that never comes cannot hang the profiler
    timeval tv{1, 0};
    setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE > 32768 ? MNL_SOCKET_BUFFER_SIZE : 32768);
    nlmsghdr *nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_GETLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    unsigned seq = static_cast<unsigned>(time(nullptr));
    nlh->nlmsg_seq = seq;
    auto *ifm = static_cast<ifinfomsg *>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    ifm->ifi_family = AF_UNSPEC;
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
        return false;
    unsigned portid = mnl_socket_get_portid(nl);
    for (int rounds = 0; rounds < 4096; rounds++) {
        ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
        if (n <= 0)
            return false;
        int r = mnl_cb_run(buf.data(), n, seq, portid, link_cb, &links);
        if (r <= MNL_CB_STOP)
            return r == MNL_CB_STOP;
    }
    return false;
}

struct Namespace {
    std::string label;  // "" (own), a /run/netns name, "net:[INODE]"
    int fd = -1;        // -1: own
};

}  // namespace

std::vector<NetIface> read_net_ifaces()
{
    std::vector<NetIface> out;
    struct stat self{};
    if (stat("/proc/self/ns/net", &self) != 0)
        return out;
    std::set<std::pair<dev_t, ino_t>> seen{{self.st_dev, self.st_ino}};
    std::vector<std::unique_ptr<Fd>> fds;
    std::vector<Namespace> spaces{{"", -1}};
    // (read-only: /run/netns holds nsfs bind mounts, not links; /proc/PID/ns/net is the kernel's
    // own link to the namespace, which O_NOFOLLOW would refuse)
    auto add = [&](const std::string &path, const std::string &label, int flags) {
        if (spaces.size() >= kMaxNamespaces)
            return;
        int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | flags);
        if (fd < 0)
            return;
        auto owner = std::make_unique<Fd>(fd);
        struct stat st{};
        if (fstat(fd, &st) != 0 || !seen.insert({st.st_dev, st.st_ino}).second)
            return;
        spaces.push_back({label.empty() ? fmt::format("net:[{}]", st.st_ino) : label, fd});
        fds.push_back(std::move(owner));
    };
    // Named namespaces first (`ip netns add`), then those of running processes.
    std::error_code ec;
    for (auto &e : std::filesystem::directory_iterator("/run/netns", ec)) {
        std::string name = e.path().filename().string();
        add(e.path().string(), name, O_NOFOLLOW);
    }
    if (DIR *d = opendir("/proc")) {
        while (dirent *e = readdir(d)) {
            if (e->d_name[0] < '1' || e->d_name[0] > '9')
                continue;
            add(std::string("/proc/") + e->d_name + "/ns/net", "", 0);
            if (spaces.size() >= kMaxNamespaces)
                break;
        }
        closedir(d);
    }
    for (auto &ns : spaces) {
        Socket s;
        s.nl = socket_in(ns.fd);
        if (!s.nl)
            continue;
        std::vector<Link> links;
        if (!dump_links(s.nl, links))
            continue;
        for (auto &l : links) {
            if (!l.has_stats || l.name.empty())
                continue;
            std::string dev;
            if (!l.parent.empty())
                dev = dma_device(l.parent_bus, l.parent);
            else if (ns.fd < 0)
                dev = sysfs_parent(l.name);
            if (dev.empty())
                continue;  // not on a device: loopback, bridges, veth, tunnels
            out.push_back({dev, l.name, ns.label, l.stats.rx_packets, l.stats.tx_packets, l.stats.rx_bytes,
                           l.stats.tx_bytes});
            if (out.size() >= kMaxIfaces)
                return out;
        }
    }
    std::sort(out.begin(), out.end(), [](const NetIface &a, const NetIface &b) {
        return std::tie(a.device, a.netns, a.name) < std::tie(b.device, b.netns, b.name);
    });
    return out;
}

}  // namespace iommuprof
