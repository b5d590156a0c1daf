// `iommuprof run -- CMD [ARGS...]`: attach the probes, start the benchmark,
// profile exactly while it runs, propagate its exit status (128+N when a
// signal N killed it), print the summary (and the verdict with --verdict) on
// stderr, like time(1), so the benchmark's own stdout stays clean.
// `run --pid PID` profiles until an already running process exits.
#include <fmt/core.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.hpp"
#include "iommuprof/cli.hpp"
#include "iommuprof/compare.hpp"
#include "iommuprof/error.hpp"
#include "iommuprof/hostfacts.hpp"
#include "iommuprof/profile.hpp"
#include "iommuprof/render.hpp"
#include "iommuprof/units.hpp"
#include "iommuprof/session.hpp"
#include "iommuprof/verdict.hpp"
#include "iommuprof/strings.hpp"

namespace iommuprof::cli {
namespace {

struct RunCmd {
    std::string out;
    double max_duration = 0;  // 0: no limit
    std::string label;
    int pid = 0;
    bool verdict = false;
    bool json = false;
    bool raw = false;
    std::vector<std::string> command;
    PlanFlags plan;
};

int pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
    return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

// Waits until `pid` exits, `deadline_s` (monotonic seconds since `start`) passes
// or a stop signal arrives. `child`: reap it and fill `status`.
enum class WaitEnd { Exited, Deadline, Stopped };

double now_s()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

struct Target {
    pid_t pid = 0;
    bool child = false;
    int pidfd = -1;
    int status = 0;
    bool reaped = false;

    ~Target()
    {
        if (pidfd >= 0)
            close(pidfd);
    }

    bool gone()
    {
        if (child) {
            if (reaped)
                return true;
            pid_t r = waitpid(pid, &status, WNOHANG);
            if (r == pid)
                reaped = true;
            return reaped;
        }
        return kill(pid, 0) != 0 && errno == ESRCH;
    }

    // Blocks up to `seconds` (< 0: forever) for the process to exit; returns
    // early on a stop signal (EINTR) too.
    void wait_for(double seconds)
    {
        if (pidfd >= 0) {
            struct pollfd pfd{pidfd, POLLIN, 0};
            int ms = seconds < 0 ? 1000 : static_cast<int>(std::min(seconds, 1.0) * 1000);
            poll(&pfd, 1, std::max(ms, 1));
        } else {
            // No pidfd (kernel < 5.3): poll every 10 ms.
            struct timespec ts{0, 10 * 1000 * 1000};
            nanosleep(&ts, nullptr);
        }
    }

    WaitEnd wait(double deadline)
    {
        for (;;) {
            if (gone())
                return WaitEnd::Exited;
            if (stop_requested())
                return WaitEnd::Stopped;
            double left = deadline > 0 ? deadline - now_s() : -1;
            if (deadline > 0 && left <= 0)
                return WaitEnd::Deadline;
            wait_for(left);
        }
    }
};

// fork + exec with an error pipe: exec failures come back as errno.
pid_t spawn(const std::vector<std::string> &argv)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        throw Error(kExitRuntime, fmt::format("pipe: {}", strerror(errno)));
    std::vector<char *> args;
    for (const auto &a : argv)
        args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(pfd[0]);
        close(pfd[1]);
        throw Error(kExitRuntime, fmt::format("fork: {}", strerror(e)));
    }
    if (pid == 0) {
        // The benchmark gets default signal dispositions and an unblocked mask.
        struct sigaction sa{};
        sa.sa_handler = SIG_DFL;
        for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE})
            sigaction(s, &sa, nullptr);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        close(pfd[0]);
        execvp(args[0], args.data());
        int e = errno;
        (void)!write(pfd[1], &e, sizeof e);
        _exit(127);
    }
    close(pfd[1]);
    int e = 0;
    ssize_t n;
    do
        n = read(pfd[0], &e, sizeof e);
    while (n < 0 && errno == EINTR);
    close(pfd[0]);
    if (n == sizeof e) {
        waitpid(pid, nullptr, 0);
        throw Error(e == ENOENT ? 127 : 126, fmt::format("cannot run '{}': {}", argv[0], strerror(e)));
    }
    return pid;
}

void print_summary(const RunCmd &o, const Profile &saved, const std::string &what)
{
    Profile p = saved;
    if (o.raw)
        p.snap = raw_times(p.snap);
    std::string out;
    if (o.json) {
        nlohmann::json j = summary_document(
            p.snap, p.plan, SummaryMeta{"run", p.host.kernel.release, iommu_mode(p.host), p.label, p.tool_version});
        j["command"] = o.command;
        if (o.pid)
            j["pid"] = o.pid;
        if (o.verdict)
            j["verdict"] = verdict_json(decide(p.host, &p.snap, Thresholds{}));
        out = render_json(j);
    } else {
        std::optional<Verdict> v;
        if (o.verdict)
            v = decide(p.host, &p.snap, Thresholds{});
        out = render_run_summary_text(p, what, v ? &*v : nullptr);
    }
    fputs(terminal_safe(out).c_str(), stderr);
    fflush(stderr);
}

void run(RunCmd &o)
{
    if (o.pid && !o.command.empty())
        throw Error(kExitUsage, "give either --pid PID or a command after --, not both");
    if (!o.pid && o.command.empty())
        throw Error(kExitUsage, "nothing to run: give a command after -- (iommuprof run -- CMD ARGS) or --pid PID");
    Target t;
    if (o.pid) {
        if (o.pid <= 0)
            throw Error(kExitUsage, fmt::format("--pid {}: not a process ID", o.pid));
        t.pid = o.pid;
        t.pidfd = pidfd_open_(o.pid);
        if (t.pidfd < 0 && errno == ESRCH)
            throw Error(kExitUsage, fmt::format("--pid {}: no such process", o.pid));
        if (t.pidfd < 0 && kill(o.pid, 0) != 0 && errno == ESRCH)
            throw Error(kExitUsage, fmt::format("--pid {}: no such process", o.pid));
    }
    if (!o.out.empty())
        check_writable(o.out, kExpectedProfileBytes);
    install_stop_handlers();
    HostOptions ho;
    ho.read_kmsg = true;
    HostFacts host = read_host_facts(ho);
    std::string created = now_iso8601_utc();
    auto session = Session::open(o.plan.options(&host));
    warn_sampling(*session);
    announce_ready(*session);

    // Counters are cumulative since attach: the profile is the difference
    // between the moment the command starts and the moment it is reaped.
    Snapshot s0 = session->snapshot();
    double start = now_s();
    if (!o.pid) {
        t.pid = spawn(o.command);
        t.child = true;
        t.pidfd = pidfd_open_(t.pid);
    }
    double deadline = o.max_duration > 0 ? start + o.max_duration : 0;
    WaitEnd end = t.wait(deadline);
    if (end == WaitEnd::Stopped && t.child) {
        // Ctrl-C on a terminal reaches the benchmark too: give it a moment to
        // exit, then pass the stop on (SIGTERM sent to iommuprof alone).
        double grace = now_s() + 1.0;
        while (!t.gone() && now_s() < grace)
            t.wait_for(0.05);
        if (!t.gone())
            kill(t.pid, SIGTERM);
        while (!t.gone())
            t.wait_for(0.2);
        end = WaitEnd::Exited;
    }
    Snapshot s1 = session->snapshot();
    std::vector<Attachment> plan = session->plan();
    session.reset();  // detach now: the probes cost nothing after this

    Profile p;
    p.label = o.label;
    p.created = created;
    p.tool_version = tool_version();
    p.host = std::move(host);
    p.plan = std::move(plan);
    p.snap = s1.since(s0);
    // A command that ends within the attach (`run -- true`): see record.
    if (!p.snap.cells.empty() && p.snap.duration_s < kMinProfileDuration)
        p.snap.duration_s = kMinProfileDuration;
    if (!o.out.empty())
        write_profile(p, o.out);

    std::string what;
    if (o.pid) {
        what = fmt::format("PID {}", o.pid);
    } else {
        what = join(o.command, " ");
        if (what.size() > 60)
            what = what.substr(0, 57) + "...";
    }
    switch (end) {
    case WaitEnd::Exited:
        what += t.child ? "" : " (exited)";
        break;
    case WaitEnd::Deadline:
        what += fmt::format(" (profiling stopped after -d {:g} s)", o.max_duration);
        break;
    case WaitEnd::Stopped:
        what += " (profiling stopped by signal)";
        break;
    }
    print_summary(o, p, what);
    if (!o.out.empty())
        fmt::print(stderr, "iommuprof: wrote {}\n", o.out);

    if (!t.child)
        return;
    if (end == WaitEnd::Deadline && !t.gone()) {
        fmt::print(stderr, "iommuprof: waiting for the command to exit (Ctrl-C to interrupt it)\n");
        bool forwarded = false;
        while (!t.gone()) {
            if (stop_requested() && !forwarded) {
                t.wait_for(0.5);
                if (!t.gone())
                    kill(t.pid, SIGTERM);
                forwarded = true;
            }
            t.wait_for(1.0);
        }
    }
    if (WIFEXITED(t.status))
        set_exit_code(WEXITSTATUS(t.status));
    else if (WIFSIGNALED(t.status))
        set_exit_code(128 + WTERMSIG(t.status));
}

Registrar reg_run(31, [](CLI::App &app) {
    auto o = std::make_shared<RunCmd>();
    auto *c = app.add_subcommand("run", "Run a benchmark and profile exactly while it runs (or --pid: until a process exits)");
    c->add_option("-o,--output", o->out, "Also save the profile to this file")->type_name("FILE");
    c->add_option("-d,--duration", o->max_duration,
                  "Profile at most this many seconds (the command keeps running; its exit status is still returned)")
        ->check(decimal_in(0.1, 1e7));
    c->add_option("--label", o->label, "Free text stored in the profile");
    c->add_option("-p,--pid", o->pid, "Profile until this running process exits, instead of starting a command")
        ->check(integer_in(1, 2147483647));
    c->add_flag("--verdict", o->verdict, "Also print the verdict: is iommu=pt worth trying here?");
    c->add_flag("--json", o->json, "Print the summary (and verdict) as one JSON document on stderr");
    add_raw_flag(c, o->raw);
    c->add_option("command", o->command, "The benchmark and its arguments, after --")->type_name("COMMAND");
    o->plan.add_to(c, true);
    c->positionals_at_end(true);
    c->footer("Example: iommuprof run -o strict.iprof -- fio --name=t --rw=randread --bs=4k --filename=/dev/nvme0n1\n"
              "The command's exit status becomes iommuprof's (128+N if signal N killed it).");
    c->callback([o] { run(*o); });
});

}  // namespace
}  // namespace iommuprof::cli
