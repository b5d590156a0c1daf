// The text of the live commands: a `top` frame, the `run` summary, `probes`.
#include <fmt/core.h>

#include "iommuprof/render.hpp"
#include "iommuprof/units.hpp"

namespace iommuprof {

std::string render_top_frame(const Snapshot &win, const std::string &kernel, double elapsed_s, bool tty,
                             bool histograms, bool per_cpu, size_t rows)
{
    std::string out = fmt::format("iommuprof top  kernel {}  interval {}  elapsed {}{}\n", esc(kernel),
                                  units::seconds(win.duration_s), units::seconds(elapsed_s),
                                  tty ? "  (Ctrl-C to stop)" : "");
    out += histograms ? render_histograms(win, per_cpu) : render_table(win, TableOptions{rows, false});
    return out;
}

std::string render_run_summary_text(const Profile &p, const std::string &what, const Verdict *verdict)
{
    std::string out = fmt::format("\niommuprof: {} — {} on {} CPUs, mode {}\n", esc(what), units::seconds(p.snap.duration_s),
                                  p.snap.ncpus, esc(iommu_mode(p.host)));
    out += render_table(p.snap);
    out += render_compensation_note(p.snap);
    out += render_samples_line(p.snap);
    if (verdict)
        out += "\n" + render_verdict_text(*verdict);
    return out;
}

std::string render_probes_text(const KernelFeatures &f, const std::string &kernel, const std::vector<Attachment> &plan)
{
    auto yn = [](bool b, const std::string &why) { return b ? std::string("yes") : "NO - " + esc(why); };
    std::string kp = yn(f.kprobes, f.kprobes_why);
    if (f.kprobes)
        kp += f.kprobe_multi ? " (kprobe_multi links)"
                             : " (one kprobe per function: " + esc(f.kprobe_multi_why.empty() ? "no kprobe_multi" : f.kprobe_multi_why) + ")";
    std::string fe = yn(f.fentry, f.fentry_why);
    if (f.fentry)
        fe += f.fentry_multi ? " (tracing multi links)"
              : f.fsession   ? " (fsession: one program per function, for its entry and its exit)"
                             : " (an fentry and an fexit program per function: " +
                                   esc(f.fsession_why.empty() ? "no fsession programs" : f.fsession_why) + "; " +
                                   esc(f.fentry_multi_why.empty() ? "no tracing multi links" : f.fentry_multi_why) + ")";
    std::string out = fmt::format("kernel {}: BTF {}; fentry/fexit {}; kprobes {}; raw tracepoints {}\n", esc(kernel),
                                  f.btf ? "yes" : "NO", fe, kp, f.raw_tp ? "yes" : "NO");
    for (auto &m : f.missing)
        out += "older kernel: " + esc(m) + "\n";
    if (!f.fentry && !f.kprobes)
        out += "=> no function probes can attach on this kernel: latency cannot be measured; "
               "counting on tracepoints only\n";
    if (!f.tracefs)
        out += "note: tracefs is not mounted (neither /sys/kernel/tracing nor /sys/kernel/debug/tracing): "
               "which functions ftrace can hook (available_filter_functions) is not checked and tracepoints "
               "are found from BTF; mount -t tracefs nodev /sys/kernel/tracing to check\n";
    out += render_plan_text(plan, kernel);
    return out;
}

nlohmann::json probes_json(const KernelFeatures &f, const std::string &kernel, const std::vector<Attachment> &plan,
                           double attach_seconds)
{
    return nlohmann::json{{"kernel", kernel},
                          {"features",
                           {{"btf", f.btf},
                            {"fentry", f.fentry},
                            {"fentry_reason", f.fentry_why},
                            {"kprobes", f.kprobes},
                            {"kprobes_reason", f.kprobes_why},
                            {"kprobe_multi", f.kprobe_multi},
                            {"kprobe_multi_reason", f.kprobe_multi_why},
                            {"fentry_multi", f.fentry_multi},
                            {"fentry_multi_reason", f.fentry_multi_why},
                            {"fsession", f.fsession},
                            {"fsession_reason", f.fsession_why},
                            {"missing", f.missing},
                            {"raw_tracepoints", f.raw_tp},
                            {"tracefs", f.tracefs}}},
                          {"attach_seconds", attach_seconds},
                          {"attachments", plan_json(plan)}};
}

}  // namespace iommuprof
