// render(Document, Format): the one entry the commands call for report, verdict
// and compare; each format's renderer is in its own file of user/render/.
#include <fmt/core.h>

#include "iommuprof/error.hpp"
#include "iommuprof/render.hpp"
#include "iommuprof/strings.hpp"
#include "iommuprof/units.hpp"

namespace iommuprof {

namespace {

std::string report_header(const Profile &p, const std::string &file)
{
    std::vector<std::string> written;
    for (const auto &kv : p.host.kernel.iommu_params)
        written.push_back(kv.written());
    std::string params = join(written, " ");
    std::string h = fmt::format("iommuprof report {}{}\n", esc(file), p.label.empty() ? "" : "  \"" + esc(p.label) + "\"");
    h += fmt::format("recorded {}  kernel {}  mode {}{}  {} on {} CPUs  (iommuprof {})\n", esc(p.created),
                     esc(p.host.kernel.release), esc(iommu_mode(p.host)), params.empty() ? "" : "  [" + esc(params) + "]",
                     units::seconds(p.snap.duration_s), p.snap.ncpus, esc(p.tool_version));
    size_t attached = 0;
    for (const auto &a : p.plan)
        attached += a.attached;
    h += fmt::format("{} of {} probe points attached\n\n", attached, p.plan.size());
    return h;
}

std::string report(const Document &d, Format f)
{
    const Profile &p = *d.profile;
    if (f == Format::Json) {
        nlohmann::json j = summary_document(
            p.snap, p.plan, SummaryMeta{"report", p.host.kernel.release, iommu_mode(p.host), p.label, p.tool_version});
        j["file"] = d.name;
        j["created"] = p.created;
        j["profile_version"] = p.version;
        return render_json(j);
    }
    std::string out = report_header(p, d.name);
    out += d.histograms ? render_histograms(p.snap, d.per_cpu) : render_table(p.snap, TableOptions{d.rows, false});
    out += render_compensation_note(p.snap);
    out += render_samples_line(p.snap);
    return out;
}

std::string verdict(const Document &d, Format f)
{
    if (f == Format::Json) {
        nlohmann::json j = verdict_json(*d.verdict);
        if (d.host)
            j["host_facts"] = *d.host;
        return render_json(j);
    }
    return render_verdict_text(*d.verdict);
}

std::string compare(const Document &d, Format f)
{
    if (f == Format::Json) {
        nlohmann::json j = compare_to_json(*d.comparison);
        j["before"]["file"] = d.name;
        j["after"]["file"] = d.after_name;
        return render_json(j);
    }
    return render_compare_text(*d.comparison, d.compare);
}

}  // namespace

std::string render(const Document &d, Format f)
{
    bool complete = false;
    switch (d.kind) {
    case Document::Kind::Report: complete = d.profile; break;
    case Document::Kind::Verdict: complete = d.verdict; break;
    case Document::Kind::Compare: complete = d.comparison && d.profile && d.after; break;
    }
    if (!complete)
        throw Error(kExitRuntime, "internal: an incomplete document was given to the renderer");
    if (f == Format::Html)
        return render_html(d);
    switch (d.kind) {
    case Document::Kind::Report: return report(d, f);
    case Document::Kind::Verdict: return verdict(d, f);
    case Document::Kind::Compare: return compare(d, f);
    }
    return "";
}

}  // namespace iommuprof
