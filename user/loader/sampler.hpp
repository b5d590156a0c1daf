// The probe-free witness: kernel-stack sampling on a perf event (bpf/sampler.bpf.c).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "iommuprof/aggregate.hpp"

struct sampler_bpf;
struct bpf_link;

namespace iommuprof {

// Kernel text symbols (kallsyms), for naming sampled return addresses.
class Kallsyms {
public:
    void load();                       // throws Error(kExitRuntime) when unreadable or hidden
    void check();                      // the same refusal, from the first line only
    std::string name(uint64_t addr) const;  // "" when below the first symbol
    bool empty() const { return syms_.empty(); }
private:
    std::vector<std::pair<uint64_t, std::string>> syms_;
};

class Sampler {
public:
    // A perf event on every online CPU (cycles where a PMU exists, else cpu-clock) at hz
    // samples per second, running ip_sample. Throws Error(kExitRuntime) with the reason.
    // late_names: kallsyms is read at the first read() that needs it, after the samples are.
    explicit Sampler(double hz, bool late_names = false);
    ~Sampler();
    Sampler(const Sampler &) = delete;
    Sampler &operator=(const Sampler &) = delete;
    // Cumulative since the start. Throws Error(kExitRuntime) when the stacks cannot be named.
    SampleStats read();
    const std::string &event() const { return event_; }

private:
    void release();  // detach, close, unload (the destructor, and a constructor that fails)
    sampler_bpf *skel_ = nullptr;
    std::vector<int> fds_;
    std::vector<bpf_link *> links_;
    std::string event_;
    double hz_;
    Kallsyms syms_;
    bool names_tried_ = false;
    std::string names_error_;  // kallsyms could not be read late: read() throws it
    // stackid -> (class, folded stack or "" when not kept)
    std::map<int, std::pair<SampleClass, std::string>> cache_;
};

}  // namespace iommuprof
