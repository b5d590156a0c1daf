// Symbol resolution and the attach plan.
#include "iommuprof/plan.hpp"

#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "iommuprof.h"

namespace iommuprof {

namespace {

// ".isra.0", ".constprop.0.isra.0", ".part.1" ... but not ".cold" (a
// function's unlikely tail, not an entry point).
bool is_clone_suffix(std::string_view s)
{
    if (s.empty())
        return false;
    while (!s.empty()) {
        if (s[0] != '.')
            return false;
        s.remove_prefix(1);
        size_t dot = s.find('.');
        if (dot == std::string_view::npos)
            return false;
        auto kind = s.substr(0, dot);
        if (kind != "isra" && kind != "constprop" && kind != "part" && kind != "llvm")
            return false;
        s.remove_prefix(dot + 1);
        size_t n = 0;
        while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n])))
            n++;
        if (n == 0)
            return false;
        s.remove_prefix(n);
    }
    return true;
}

bool have_tracepoint(const KernelView &k, const TracepointSpec &t)
{
    return k.tracepoints.count(t.full()) || k.btf_tracepoints.count(t.event);
}

std::string join(const std::vector<std::string> &v, const char *sep)
{
    return fmt::format("{}", fmt::join(v, sep));
}

}  // namespace

std::optional<Resolved> resolve_symbol(const KernelView &k, const std::string &name)
{
    if (k.symbols.count(name))
        return Resolved{name, false, {}};
    Resolved r;
    const std::string prefix = name + ".";
    for (auto it = k.symbols.lower_bound(prefix); it != k.symbols.end(); ++it) {
        if (it->compare(0, prefix.size(), prefix) != 0)
            break;
        if (!is_clone_suffix(std::string_view(*it).substr(name.size())))
            continue;
        if (r.symbol.empty())
            r.symbol = *it;
        else
            r.other_clones.push_back(*it);
    }
    if (r.symbol.empty())
        return std::nullopt;
    r.clone = true;
    return r;
}

Plan make_plan(const KernelView &k, const PlanOptions &o)
{
    if (!o.fallback_points.empty()) {
        PlanOptions first = o;
        first.fallback_points.clear();
        Plan p = make_plan(k, first);
        bool timed_dmaiommu = std::any_of(p.entries.begin(), p.entries.end(), [](const PlanEntry &e) {
            return e.att.category == Category::DmaIommu &&
                   (e.att.method == Method::Fentry || e.att.method == Method::Kprobe);
        });
        if (timed_dmaiommu)
            return p;
        PlanOptions wider = first;  // (only_points is a set of names: one listed twice is planned once)
        wider.only_points.insert(wider.only_points.end(), o.fallback_points.begin(), o.fallback_points.end());
        p = make_plan(k, wider);
        for (auto &e : p.entries)
            if (std::find(o.fallback_points.begin(), o.fallback_points.end(), e.att.point) !=
                o.fallback_points.end())
                e.att.reason += "; in place of the dma-iommu layer, which cannot be timed here";
        return p;
    }
    Plan plan;
    std::set<std::string> used_tracepoints;
    const auto &cat = catalog();
    for (size_t pid = 0; pid < cat.size(); pid++) {
        const ProbeSpec &spec = cat[pid];
        if (!o.only_points.empty() &&
            std::find(o.only_points.begin(), o.only_points.end(), spec.name) == o.only_points.end())
            continue;
        PointInfo info{spec.name, spec.category, true};
        auto base = [&](Method m) {
            PlanEntry e;
            e.att.point = spec.name;
            e.att.category = spec.category;
            e.att.method = m;
            e.point_id = int(pid);
            e.flags = spec.flags;
            return e;
        };

        if (!spec.arch.empty() && spec.arch != k.arch &&
            !(spec.arch == "arm64" && k.arch == "aarch64")) {
            PlanEntry e = base(Method::Unavailable);
            e.att.reason = fmt::format("{} only (listed for reference)", spec.arch);
            info.timed = false;
            plan.entries.push_back(e);
            plan.points.push_back(info);
            continue;
        }

        std::vector<PlanEntry> fns;
        std::vector<std::string> why;  // why functions could not be used
        for (auto &group : spec.groups) {
            const SymbolSpec *alt = nullptr;
            std::optional<Resolved> r;
            for (auto &a : group) {
                if ((r = resolve_symbol(k, a.name))) {
                    alt = &a;
                    break;
                }
            }
            if (!alt) {
                std::vector<std::string> names;
                bool in_btf = false;
                for (auto &a : group) {
                    names.push_back(a.name);
                    in_btf |= k.btf_funcs.count(a.name) > 0;
                }
                std::string what = fmt::format("{} not in kallsyms", join(names, "/"));
                if (in_btf)
                    what += " (in BTF: inlined into its callers)";
                else if (!spec.module.empty())
                    what += fmt::format(" (module {} not loaded, or not in this kernel)", spec.module);
                why.push_back(what);
                continue;
            }
            PlanEntry e = base(Method::Unavailable);
            e.att.symbol = r->symbol;
            e.ret_kind = alt->ret_kind;
            std::vector<std::string> notes;
            auto bf = k.btf_funcs.find(r->symbol);
            if (r->clone) {
                notes.push_back("compiler clone: arguments not trusted, device from call context");
                e.ret_kind = IP_RET_NONE;
            } else if (bf != k.btf_funcs.end()) {
                e.dev_arg = alt->dev_arg >= 0 || bf->second.dev_arg >= 0 ? bf->second.dev_arg : -1;
                e.size_arg = alt->size_arg < 0 ? -1 : alt->entries ? bf->second.nents_arg : bf->second.size_arg;
                if (alt->size_arg >= 0 && e.size_arg < 0)
                    notes.push_back(alt->entries ? "no `nents` parameter in BTF: entries not counted"
                                                 : "no `size` parameter in BTF: bytes not counted");
            } else {
                e.dev_arg = alt->dev_arg;
                e.size_arg = alt->size_arg;
            }
            if (alt->entries && e.size_arg >= 0)
                e.flags |= IP_F_ENTRIES;
            if (!r->other_clones.empty())
                notes.push_back(fmt::format("also cloned as {}", join(r->other_clones, ", ")));

            // fentry needs: trampolines, BTF for this exact function, ftrace-able,
            // and no more arguments than the trampoline can save.
            std::string no_fentry;
            if (o.force_kprobe)
                no_fentry = "fentry disabled (--kprobe)";
            else if (!k.fentry)
                no_fentry = k.fentry_why.empty() ? "no fentry" : k.fentry_why;
            else if (r->clone)
                no_fentry = "clone has no BTF";
            else if (bf == k.btf_funcs.end())
                no_fentry = "not in BTF";
            else if (k.ftrace_funcs && !k.ftrace_funcs->count(r->symbol))
                no_fentry = "not in available_filter_functions";
            else if (bf->second.nargs > k.fentry_max_args)
                no_fentry = fmt::format("{} arguments > {} for fentry on this kernel", bf->second.nargs,
                                        k.fentry_max_args);

            if (no_fentry.empty()) {
                e.att.method = Method::Fentry;
                e.kprobe_fallback = k.kprobes;
                notes.insert(notes.begin(), "fentry/fexit");
            } else if (k.kprobes) {
                e.att.method = Method::Kprobe;
                notes.insert(notes.begin(), "kprobe/kretprobe: " + no_fentry);
            } else {
                why.push_back(fmt::format("{}: no fentry, no kprobes on this kernel", r->symbol));
                continue;
            }
            e.att.reason = join(notes, "; ");
            fns.push_back(e);
        }

        if (!fns.empty()) {
            for (auto &e : fns)
                plan.entries.push_back(e);
            plan.points.push_back(info);
            continue;
        }

        // Counting fallback.
        info.timed = false;
        const TracepointSpec *tps = nullptr;
        // --no-tracepoints turns off the counting fallback of function
        // points; points that are tracepoints by nature (io_page_fault) stay.
        bool tp_allowed = !o.no_tracepoints || spec.groups.empty();
        if (tp_allowed && k.raw_tp) {
            for (auto &t : spec.tracepoints)
                if (have_tracepoint(k, t) && !used_tracepoints.count(t.full())) {
                    tps = &t;
                    break;
                }
        }
        if (tps) {
            used_tracepoints.insert(tps->full());
            PlanEntry e = base(Method::Tracepoint);
            e.att.symbol = tps->full();
            e.tp_event = tps->event;
            e.dev_arg = tps->dev_arg;
            e.size_arg = tps->size_arg;
            auto bt = k.btf_tracepoints.find(tps->event);
            if (bt != k.btf_tracepoints.end()) {
                // Trust the catalog's positions only where BTF agrees on the type.
                auto ok = [&](int i, const std::vector<bool> &v) { return i >= 0 && i < int(v.size()) && v[i]; };
                if (!ok(e.dev_arg, bt->second.is_device_ptr))
                    e.dev_arg = -1;
                if (!ok(e.size_arg, bt->second.is_integer))
                    e.size_arg = -1;
            }
            std::string reason = "counts";
            if (e.size_arg >= 0)
                reason += " and bytes";
            reason += ", no latency";
            if (e.dev_arg < 0)
                reason += ", no device";
            if (!why.empty())
                reason += " (" + join(why, "; ") + ")";
            else if (spec.groups.empty())
                reason = "event " + reason;
            e.att.reason = reason;
            plan.entries.push_back(e);
            plan.points.push_back(info);
            continue;
        }
        PlanEntry e = base(Method::Unavailable);
        if (!spec.tracepoints.empty()) {
            std::vector<std::string> names;
            for (auto &t : spec.tracepoints)
                names.push_back(t.full());
            if (!tp_allowed)
                why.push_back("tracepoint fallback disabled");
            else if (!k.raw_tp)
                why.push_back(k.raw_tp_why.empty() ? "raw tracepoints unavailable" : k.raw_tp_why);
            else
                why.push_back(fmt::format("no tracepoint {}", join(names, "/")));
        }
        e.att.reason = why.empty() ? "nothing to attach" : join(why, "; ");
        plan.entries.push_back(e);
        plan.points.push_back(info);
    }
    plan.points.push_back(PointInfo{kTotalPoint, Category::Total, true});
    return plan;
}

}  // namespace iommuprof
