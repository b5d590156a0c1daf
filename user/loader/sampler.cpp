// Kernel-stack sampling: perf events on every CPU, counts per stack in the kernel,
// classified here (analysis/sampling.cpp) after naming the frames from kallsyms.
#include "sampler.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/core.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <charconv>
#include <fstream>

#include "iommuprof/error.hpp"
#include "kernel_view.hpp"
#include "proc_lines.hpp"
#include "sampler.h"
#include "sampler.skel.h"

namespace iommuprof {

void Kallsyms::load()
{
    std::vector<std::pair<uint64_t, std::string>> syms;  // (kept only when complete)
    bool nonzero = false;
    bool ok = for_each_line("/proc/kallsyms", [&](std::string_view line) {
        // (the profiler's own programs too: "... t bpf_prog_6deef7357e7b4530_ip_fentry_3\t[bpf]")
        auto l = parse_kallsyms_line(line);
        if (!l || (l->type != 't' && l->type != 'T' && l->type != 'W' && l->type != 'w'))
            return;
        uint64_t a = 0;
        std::from_chars(l->addr.data(), l->addr.data() + l->addr.size(), a, 16);
        nonzero |= a != 0;
        syms.emplace_back(a, std::string(l->name));
    });
    if (!ok)
        throw Error(kExitRuntime, "sampling: cannot read /proc/kallsyms");
    if (!nonzero)
        throw Error(kExitRuntime, "sampling: /proc/kallsyms hides the addresses (kptr_restrict): run as root");
    std::sort(syms.begin(), syms.end());
    syms_ = std::move(syms);
}

void Kallsyms::check()
{
    // The first line only (the kernel prints no more than the reader asks for).
    std::ifstream in("/proc/kallsyms");
    std::string line;
    if (!in || !std::getline(in, line))
        throw Error(kExitRuntime, "sampling: cannot read /proc/kallsyms");
    if (strtoull(line.c_str(), nullptr, 16) == 0)
        throw Error(kExitRuntime, "sampling: /proc/kallsyms hides the addresses (kptr_restrict): run as root");
}

std::string Kallsyms::name(uint64_t addr) const
{
    auto it = std::upper_bound(syms_.begin(), syms_.end(), std::make_pair(addr, std::string()),
                               [](const auto &a, const auto &b) { return a.first < b.first; });
    if (it == syms_.begin())
        return "";
    return std::prev(it)->second;
}

namespace {

int perf_open(perf_event_attr *a, int cpu)
{
    return int(syscall(SYS_perf_event_open, a, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
}

std::vector<int> online_cpus()
{
    std::vector<int> v;
    std::ifstream in("/sys/devices/system/cpu/online");
    std::string s;
    if (in && std::getline(in, s)) {
        size_t i = 0;
        while (i < s.size()) {
            int a = 0, b = 0, n = 0;
            if (sscanf(s.c_str() + i, "%d-%d%n", &a, &b, &n) == 2) {
            } else if (sscanf(s.c_str() + i, "%d%n", &a, &n) == 1) {
                b = a;
            } else {
                break;
            }
            for (int c = a; c <= b && c < 65536; c++)
                v.push_back(c);
            i += size_t(n);
            if (i < s.size() && s[i] == ',')
                i++;
        }
    }
    if (v.empty())
        for (long c = 0; c < sysconf(_SC_NPROCESSORS_ONLN); c++)
            v.push_back(int(c));
    return v;
}

}  // namespace

Sampler::Sampler(double hz, bool late_names) : hz_(hz)
{
    // Named now, unless late_names, not at the first read: reading kallsyms takes a while (0.4-0.5 s
    // under emulation), which must not fall inside a profile's window (`run` snapshots at the
    // start). The profiler's own BPF programs are loaded by now, so their names are in it.
    if (late_names)
        syms_.check();  // (what load() would refuse, refused now)
    else
        syms_.load();
    skel_ = sampler_bpf__open_and_load();
    if (!skel_)
        throw Error(kExitRuntime, "sampling: loading the sampler failed: " + errstr(errno));
    // (from here on a failure calls release(): a throwing constructor runs no destructor)
    perf_event_attr a{};
    a.size = sizeof(a);
    a.freq = 1;
    a.sample_freq = uint64_t(hz);
    // cycles where the CPU has a PMU; cpu-clock (an hrtimer) otherwise, as in most VMs
    for (int hw = 1; hw >= 0 && fds_.empty(); hw--) {
        a.type = hw ? PERF_TYPE_HARDWARE : PERF_TYPE_SOFTWARE;
        a.config = hw ? uint64_t(PERF_COUNT_HW_CPU_CYCLES) : uint64_t(PERF_COUNT_SW_CPU_CLOCK);
        event_ = hw ? "cycles" : "cpu-clock";
        std::vector<int> fds;
        int err = 0;
        for (int cpu : online_cpus()) {
            int fd = perf_open(&a, cpu);
            if (fd < 0) {
                err = errno;
                if (err == ENODEV)  // went offline meanwhile
                    continue;
                break;
            }
            fds.push_back(fd);
        }
        if (err && err != ENODEV) {
            for (int fd : fds)
                close(fd);
            if (!hw) {
                release();
                throw Error(kExitRuntime, "sampling: perf_event_open(cpu-clock) failed: " + errstr(err));
            }
            continue;
        }
        fds_ = fds;
    }
    for (int fd : fds_) {
        bpf_link *l = bpf_program__attach_perf_event(skel_->progs.ip_sample, fd);
        if (!l) {
            int e = errno;
            release();
            throw Error(kExitRuntime, "sampling: attaching to the perf event failed: " + errstr(e));
        }
        links_.push_back(l);
    }
}

Sampler::~Sampler() { release(); }

void Sampler::release()
{
    for (auto *l : links_)
        bpf_link__destroy(l);
    links_.clear();
    for (int fd : fds_)
        close(fd);
    fds_.clear();
    if (skel_)
        sampler_bpf__destroy(skel_);
    skel_ = nullptr;
}

SampleStats Sampler::read()
{
    SampleStats st;
    st.event = event_;
    st.freq_hz = hz_;
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0)
        ncpu = 1;
    int cfd = bpf_map__fd(skel_->maps.counts), sfd = bpf_map__fd(skel_->maps.stacks);
    std::vector<uint64_t> per(ncpu);
    // The counts and the stacks not named yet first, then the names: with late names, reading
    // kallsyms falls after the samples it would otherwise add to.
    struct Row {
        ip_sample_key key;
        std::vector<uint64_t> per, ips;  // ips: only for a stack not named yet
    };
    std::vector<Row> rows;
    ip_sample_key key{}, next{};
    ip_sample_key *prev = nullptr;
    bool unnamed = false;
    while (bpf_map_get_next_key(cfd, prev, &next) == 0) {
        key = next;
        prev = &key;
        if (bpf_map_lookup_elem(cfd, &key, per.data()) != 0)
            continue;
        Row r{key, per, {}};
        if (key.stackid >= 0 && !cache_.count(key.stackid * 2 + int(key.idle != 0))) {
            r.ips.assign(IP_SAMPLE_DEPTH, 0);
            if (bpf_map_lookup_elem(sfd, &key.stackid, r.ips.data()) != 0)
                std::fill(r.ips.begin(), r.ips.end(), 0);
            unnamed = true;
        }
        rows.push_back(std::move(r));
    }
    if (unnamed && syms_.empty() && !names_tried_) {
        names_tried_ = true;  // (a failure leaves the stacks unnamed: they count as "other")
        try {
            syms_.load();
        } catch (const Error &e) {
            names_error_ = e.what();
        }
    }
    // Unnamed stacks would all read as "other": no sampling result rather than a wrong one.
    if (!names_error_.empty())
        throw Error(kExitRuntime, names_error_);
    for (auto &[key, per, ips] : rows) {
        SampleClass cls = SampleClass::Other;
        std::string folded;
        if (key.stackid >= 0) {
            int cache_key = key.stackid * 2 + int(key.idle != 0);
            auto it = cache_.find(cache_key);
            if (it == cache_.end()) {
                std::vector<std::string> frames;
                for (uint64_t ip : ips) {
                    if (!ip)
                        break;
                    std::string n = syms_.name(ip);
                    frames.push_back(n.empty() ? fmt::format("{:#x}", ip) : n);
                }
                SampleClass c = classify_stack(frames, key.idle != 0);
                std::string f;
                if (c == SampleClass::Translation || c == SampleClass::DmaApi || c == SampleClass::Profiler ||
                    c == SampleClass::Vfio)
                    for (auto r = frames.rbegin(); r != frames.rend(); ++r)
                        f += (f.empty() ? "" : ";") + *r;
                it = cache_.emplace(cache_key, std::make_pair(c, f)).first;
            }
            cls = it->second.first;
            folded = it->second.second;
        } else if (key.idle) {
            cls = SampleClass::Idle;
        }
        uint64_t sum = 0;
        for (int cpu = 0; cpu < ncpu; cpu++) {
            uint64_t n = per[cpu];
            if (!n)
                continue;
            sum += n;
            SampleCounts &c = st.cpus[cpu];
            c.total += n;
            switch (cls) {
            case SampleClass::Translation: c.translation += n; break;
            case SampleClass::DmaApi: c.dma_api += n; break;
            case SampleClass::Profiler: c.profiler += n; break;
            case SampleClass::Vfio: c.vfio += n; break;
            case SampleClass::Idle: c.idle += n; break;
            case SampleClass::Other: break;
            }
        }
        if (!folded.empty() && sum)
            st.folded[folded] += sum;
    }
    // Samples taken but not in the counts map (stack not recorded, counts map full):
    // they are in the total, unclassified.
    int xfd = bpf_map__fd(skel_->maps.sstats);
    auto stat = [&](uint32_t k) {
        std::vector<uint64_t> v(ncpu);
        if (bpf_map_lookup_elem(xfd, &k, v.data()) != 0)
            std::fill(v.begin(), v.end(), 0);
        return v;
    };
    auto all = stat(IP_SSTAT_ALL), lost = stat(IP_SSTAT_LOST), full = stat(IP_SSTAT_FULL);
    for (int cpu = 0; cpu < ncpu; cpu++) {
        st.lost += lost[cpu] + full[cpu];
        if (all[cpu] > st.cpus[cpu].total)
            st.cpus[cpu].total = all[cpu];
        if (!st.cpus[cpu].total)
            st.cpus.erase(cpu);
    }
    return st;
}

}  // namespace iommuprof
