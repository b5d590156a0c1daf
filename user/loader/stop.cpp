// Ctrl-C / SIGTERM: ask the running command to stop, so it detaches and
// still writes what it recorded. (kill -9 needs nothing: every probe is a BPF
// link owned by a file descriptor, and the kernel drops them with the process.)
#include <signal.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cmath>

#include "iommuprof/session.hpp"

namespace iommuprof {

namespace {
std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }
}  // namespace

void install_stop_handlers()
{
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
}

bool stop_requested() { return g_stop.load(); }
void request_stop() { g_stop.store(true); }

bool sleep_unless_stopped(double seconds)
{
    using clk = std::chrono::steady_clock;
    auto end = clk::now() + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(
                                seconds < 0 ? 1e9 : seconds));
    while (!g_stop.load()) {
        auto left = end - clk::now();
        if (left <= clk::duration::zero())
            return true;
        auto step = std::min<clk::duration>(left, std::chrono::milliseconds(50));
        struct timespec ts;
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(step).count();
        ts.tv_sec = ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        nanosleep(&ts, nullptr);
    }
    return false;
}

}  // namespace iommuprof
