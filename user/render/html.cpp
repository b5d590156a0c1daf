// `report --html`, `verdict --html`, `compare --html`: one self-contained page.
//
// Inline CSS and SVG only: no script, no font, no image file, no request of any
// kind (a Content-Security-Policy of default-src 'none' says so to the browser).
// Every string from a profile (device names, labels, log lines, stack frames) is
// escaped twice: esc() makes control characters visible, html() escapes markup.
// Elements carry data-* attributes with the plain numbers they draw, for tests and
// for anyone who wants to scrape the page.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "iommuprof/render.hpp"
#include "iommuprof/strings.hpp"
#include "iommuprof/units.hpp"

namespace iommuprof {

namespace {

// Largest figures drawn; beyond them the page says how many were left out.
constexpr size_t kMaxHistFigures = 48;
constexpr size_t kMaxFlameRects = 3000;
constexpr int kMaxFlameDepth = 48;

// Markup escaped in text that esc() has already made safe.
std::string html_escaped(std::string_view e)
{
    std::string out;
    out.reserve(e.size());
    for (char c : e) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string html(std::string_view s) { return html_escaped(esc(s)); }

// A number for an attribute: plain, locale-free, finite.
std::string num(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "0"; }

const char *kCss = R"CSS(
:root{--fg:#1d2430;--muted:#5b6675;--line:#d8dde5;--bg:#fff;--panel:#f6f8fa;--s0:#3b6fb6;--s1:#e07b24;
--ok:#2f7d32;--warn:#b26a00;--bad:#b3261e}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1100px;padding:16px;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg);overflow-wrap:anywhere}
h1{font-size:1.45em;margin:.2em 0}
h2{font-size:1.15em;margin:1.6em 0 .5em;border-bottom:1px solid var(--line);padding-bottom:.2em}
h3{font-size:1em;margin:.2em 0}
.sub{color:var(--muted);margin:.2em 0}
.verdict{border:1px solid var(--line);border-left:6px solid var(--warn);background:var(--panel);padding:10px 14px;
border-radius:4px}
.verdict.worth-trying{border-left-color:var(--ok)}
.verdict.fix-faults-first{border-left-color:var(--bad)}
.verdict .word{font-weight:700;font-size:1.2em;text-transform:uppercase;letter-spacing:.03em}
.verdict ul{margin:.4em 0 .2em;padding-left:1.3em}
.cautions li{color:var(--bad)}
.warnings li{color:var(--warn)}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;color:var(--muted);font-size:.9em;margin:.3em 0}
.key{display:inline-block;width:.9em;height:.9em;border-radius:2px;vertical-align:-.1em;margin-right:4px}
.s0{background:var(--s0);fill:var(--s0)}.s1{background:var(--s1);fill:var(--s1)}
.bars{display:grid;grid-template-columns:minmax(8em,16em) 1fr;gap:4px 10px;align-items:center}
.bars .lbl{font-size:.92em}
.track{position:relative;background:var(--panel);border:1px solid var(--line);border-radius:3px;padding:2px 0}
.bar{height:12px;margin:2px 0;border-radius:2px;min-width:1px}
.barval{font-size:.8em;color:var(--muted);margin-left:4px;white-space:nowrap}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:14px}
figure{margin:0;border:1px solid var(--line);border-radius:4px;padding:8px;background:var(--bg);break-inside:avoid}
figcaption{font-size:.85em;color:var(--muted)}
figcaption b{color:var(--fg)}
svg{display:block;width:100%;height:auto}
svg text{font:10px system-ui,sans-serif;fill:var(--muted)}
.flame text{fill:#1d2430;font-size:10px}
.flamewrap{overflow-x:auto}.flamewrap svg{min-width:720px}
svg.histsvg text{font-size:12px}
table{border-collapse:collapse;width:100%;font-size:.92em}
td,th{border-bottom:1px solid var(--line);padding:3px 6px;text-align:left;vertical-align:top}
th{color:var(--muted);font-weight:600;width:12em}
.scroll{overflow-x:auto}
footer{margin-top:2em;color:var(--muted);font-size:.85em}
@media (max-width:600px){body{padding:10px;font-size:14px}.bars{grid-template-columns:1fr}th{width:auto}}
@media print{body{max-width:none;padding:0;font-size:10pt}.grid{grid-template-columns:repeat(2,1fr)}
h2{break-after:avoid}section{break-inside:auto}.verdict{break-inside:avoid}
.s0,.s1,.bar,.key{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
)CSS";

struct Page {
    std::string out;
    void add(std::string_view s) { out += s; }
    template <class... A>
    void f(fmt::format_string<A...> s, A &&...a)
    {
        out += fmt::format(s, std::forward<A>(a)...);
    }
};

void list(Page &p, const char *cls, const std::vector<std::string> &items)
{
    if (items.empty())
        return;
    p.f("<ul class=\"{}\">", cls);
    for (auto &i : items)
        p.f("<li>{}</li>", html(i));
    p.add("</ul>\n");
}

void verdict_box(Page &p, const Verdict &v, const char *title, const char *id = "verdict")
{
    p.f("<div class=\"verdict {}\" id=\"{}\" data-verdict=\"{}\">\n", html(v.verdict), id, html(v.verdict));
    p.f("<h3>{}</h3><div class=\"word\">{}</div><p class=\"summary\">{}</p>\n", title, html(v.verdict),
        html(v.summary));
    if (!v.reasons.empty()) {
        p.add("<div>Why:</div>");
        list(p, "reasons", v.reasons);
    }
    if (!v.cautions.empty()) {
        p.add("<div>Cautions (DMA isolation):</div>");
        list(p, "cautions", v.cautions);
    }
    if (!v.next_steps.empty()) {
        p.add("<div>Next steps:</div>");
        list(p, "steps", v.next_steps);
    }
    p.add("</div>\n");
}

// The colour key of the series (before, after); nothing for one series.
void legend(Page &p, const std::vector<std::string> &series)
{
    if (series.size() < 2)
        return;
    p.add("<div class=\"legend\">");
    for (size_t i = 0; i < series.size(); i++)
        p.f("<span><span class=\"key s{}\"></span>{}</span>", i, html(series[i]));
    p.add("</div>\n");
}

// ---- bars: one row per quantity, one bar per series, lengths proportional ----

struct BarRow {
    std::string label;
    std::vector<double> values;  // one per series (fractions of CPU time)
};

void bars(Page &p, const char *id, const std::vector<std::string> &series, const std::vector<BarRow> &rows,
          const char *note)
{
    double max = 0;
    for (auto &r : rows)
        for (double v : r.values)
            if (std::isfinite(v))
                max = std::max(max, v);
    p.f("<div class=\"chart\" id=\"{}\" data-max=\"{}\">\n", id, num(max));
    legend(p, series);
    p.add("<div class=\"bars\">\n");
    for (auto &r : rows) {
        p.f("<div class=\"lbl\">{}</div><div class=\"track\">", html(r.label));
        for (size_t i = 0; i < r.values.size(); i++) {
            double v = std::isfinite(r.values[i]) && r.values[i] > 0 ? r.values[i] : 0;
            double w = max > 0 ? 100.0 * v / max : 0;
            p.f("<div style=\"display:flex;align-items:center\"><div class=\"bar s{}\" data-series=\"{}\" "
                "data-value=\"{}\" style=\"width:{:.3f}%\" title=\"{}: {}\"></div><span class=\"barval\">{}</span>"
                "</div>",
                i, html(i < series.size() ? series[i] : ""), num(v), w * 0.85, html(r.label), units::pct(v),
                units::pct(v));
        }
        p.add("</div>\n");
    }
    p.add("</div>\n");
    if (note && *note)
        p.f("<p class=\"sub\">{}</p>\n", note);
    p.add("</div>\n");
}

// ---- latency histograms: log2 buckets on a log time axis ----

struct Series {
    std::string name;
    const Hist *hist = nullptr;
};

std::string hist_svg(const std::vector<Series> &series)
{
    int lo = kBuckets, hi = -1;
    for (auto &s : series)
        for (int i = 0; i < kBuckets; i++)
            if (s.hist && s.hist->buckets[i]) {
                lo = std::min(lo, i);
                hi = std::max(hi, i);
            }
    if (hi < 0)
        return "<p class=\"sub\">no timed calls</p>";
    lo = std::max(0, lo - 1);
    hi = std::min(kBuckets - 1, hi + 1);
    while (hi - lo < 5) {
        if (lo > 0)
            lo--;
        if (hi - lo < 5 && hi < kBuckets - 1)
            hi++;
        if (lo == 0 && hi == kBuckets - 1)
            break;
    }
    const double W = 480, H = 170, L = 38, R = 6, T = 8, B = 30;
    const double pw = W - L - R, ph = H - T - B;
    int n = hi - lo + 1;
    double band = pw / n;
    // Share of each series' calls per bucket: series of different sizes compare.
    double maxf = 0;
    std::vector<std::vector<double>> frac(series.size(), std::vector<double>(kBuckets, 0));
    for (size_t s = 0; s < series.size(); s++) {
        uint64_t tot = series[s].hist ? series[s].hist->bucket_total() : 0;
        for (int i = lo; i <= hi && tot; i++) {
            frac[s][i] = double(series[s].hist->buckets[i]) / double(tot);
            maxf = std::max(maxf, frac[s][i]);
        }
    }
    std::string o = fmt::format("<svg viewBox=\"0 0 {} {}\" role=\"img\" class=\"histsvg\" data-lo=\"{}\" "
                                "data-hi=\"{}\">",
                                W, H, lo, hi);
    // Axes and the y grid at the fullest bucket.
    o += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#8a94a3\"/>", L, T + ph, L + pw, T + ph);
    o += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#d8dde5\" stroke-dasharray=\"3 3\"/>", L,
                     T, L + pw, T);
    o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>", L - 3, T + 4, units::pct(maxf));
    o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>", L - 3, T + ph);
    size_t ns = std::max<size_t>(1, series.size());
    double bw = (band - 2) / double(ns);
    for (size_t s = 0; s < series.size(); s++)
        for (int i = lo; i <= hi; i++) {
            uint64_t c = series[s].hist ? series[s].hist->buckets[i] : 0;
            if (!c)
                continue;
            double h = maxf > 0 ? ph * frac[s][i] / maxf : 0;
            o += fmt::format("<rect class=\"b s{}\" data-bucket=\"{}\" data-count=\"{}\" x=\"{:.2f}\" y=\"{:.2f}\" "
                             "width=\"{:.2f}\" height=\"{:.2f}\"><title>{} .. {}: {} calls ({})</title></rect>",
                             s, i, c, L + (i - lo) * band + 1 + double(s) * bw, T + ph - h, std::max(bw, 0.5),
                             std::max(h, 0.5), units::ns(double(bucket_lo(i))),
                             i == kBuckets - 1 ? std::string("∞") : units::ns(double(bucket_hi(i))), c,
                             html(series[s].name));
        }
    // x labels: bucket lower bounds, at most 7 of them.
    int step = std::max(1, (n + 6) / 7);
    for (int i = lo; i <= hi; i += step)
        o += fmt::format("<text x=\"{:.2f}\" y=\"{}\" text-anchor=\"middle\">{}</text>", L + (i - lo) * band, T + ph + 13,
                         units::ns(double(bucket_lo(i))));
    o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">latency (log2 buckets; height: share of the "
                     "calls)</text>",
                     L + pw / 2, H - 3);
    o += "</svg>";
    return o;
}

std::string hist_stats(const std::string &name, const Hist &h)
{
    if (!h.timed())
        return fmt::format("{}: {} calls, not timed", html(name), h.count);
    return fmt::format("{}: {} calls, p50 {}, p99 {}, max {}", html(name), h.count, units::ns(h.percentile_ns(0.5)),
                       units::ns(h.percentile_ns(0.99)), units::ns(double(h.max_ns)));
}

struct HistKey {
    std::string point, device;
    bool operator<(const HistKey &o) const { return std::tie(point, device) < std::tie(o.point, o.device); }
};

// Per (point, device) over one or two snapshots, in catalog order; timed points only.
void histograms(Page &p, const std::vector<std::string> &names, const std::vector<const Snapshot *> &snaps)
{
    std::vector<HistKey> order;
    std::set<HistKey> seen;
    std::vector<std::map<HistKey, Hist>> per(snaps.size());
    for (size_t s = 0; s < snaps.size(); s++) {
        for (auto &r : by_device(*snaps[s])) {
            const PointInfo *pi = snaps[s]->point(r.point);
            // The outermost calls are drawn only where they compare two profiles whose inner
            // points differ (translated vs pt): in one profile they repeat its points.
            if ((r.point == kTotalPoint && snaps.size() == 1) || !pi || !pi->timed || !r.hist.timed())
                continue;
            HistKey k{r.point, r.device};
            per[s][k] = r.hist;
            if (seen.insert(k).second)
                order.push_back(k);
        }
    }
    // Catalog order of the first snapshot that has the point.
    auto rank = [&](const std::string &pt) {
        for (auto *s : snaps)
            for (size_t i = 0; i < s->points.size(); i++)
                if (s->points[i].name == pt)
                    return i;
        return size_t(-1);
    };
    // The outermost calls first (compare), then catalog order.
    auto key = [&](const HistKey &k) { return k.point == kTotalPoint ? size_t(0) : rank(k.point) + 1; };
    std::stable_sort(order.begin(), order.end(), [&](const HistKey &a, const HistKey &b) {
        return key(a) != key(b) ? key(a) < key(b) : a.device < b.device;
    });
    if (order.empty()) {
        p.add("<p class=\"sub\" id=\"no-histograms\">No timed calls in this profile: nothing to draw.</p>\n");
        return;
    }
    legend(p, names);
    p.add("<div class=\"grid\">\n");
    size_t shown = 0;
    for (auto &k : order) {
        if (shown++ >= kMaxHistFigures)
            break;
        std::vector<Series> series;
        std::string cap;
        for (size_t s = 0; s < snaps.size(); s++) {
            auto it = per[s].find(k);
            series.push_back({names[s], it == per[s].end() ? nullptr : &it->second});
            cap += "<br>" + (it == per[s].end() ? html(names[s]) + ": no calls" : hist_stats(names[s], it->second));
        }
        p.f("<figure class=\"hist\" data-point=\"{}\" data-device=\"{}\">{}<figcaption><b>{}</b> · {}{}</figcaption>"
            "</figure>\n",
            html(k.point), html(k.device), hist_svg(series),
            k.point == kTotalPoint ? std::string("all outermost calls") : html(k.point), html(k.device), cap);
    }
    p.add("</div>\n");
    if (order.size() > kMaxHistFigures)
        p.f("<p class=\"sub\">{} more (point, device) histograms left out; `report -H` prints them all.</p>\n",
            order.size() - kMaxHistFigures);
}

// ---- flame graph of the sampled DMA-path stacks (root at the bottom) ----

struct Frame {
    uint64_t count = 0;
    std::map<std::string, std::unique_ptr<Frame>> kids;
};

const char *frame_colour(const std::string &name)
{
    switch (classify_stack({name}, false)) {
    case SampleClass::Translation: return "#e8743b";
    case SampleClass::DmaApi: return "#f2c14e";
    case SampleClass::Profiler: return "#9c6ade";
    case SampleClass::Vfio: return "#4e9de0";
    default: break;
    }
    unsigned h = 0;
    for (char c : name)
        h = h * 31 + static_cast<unsigned char>(c);
    static const char *warm[] = {"#f6d3a1", "#f3c892", "#efd9b4", "#f5e1c0", "#eacb9f"};
    return warm[h % 5];
}

void flame(Page &p, const SampleStats &s, const std::string &name)
{
    Frame root;
    for (auto &[stack, n] : s.folded) {
        root.count = sat_add(root.count, n);
        Frame *f = &root;
        int depth = 0;
        for (auto &part : split_nonempty(stack, [](char c) { return c == ';'; })) {
            if (++depth > kMaxFlameDepth)
                break;
            auto &k = f->kids[part];
            if (!k)
                k = std::make_unique<Frame>();
            k->count = sat_add(k->count, n);
            f = k.get();
        }
    }
    if (!root.count) {
        p.f("<p class=\"sub\">{}: no stacks of the DMA paths were sampled.</p>\n", html(name));
        return;
    }
    int maxd = 0;
    std::function<void(const Frame &, int)> depth = [&](const Frame &f, int d) {
        maxd = std::max(maxd, d);
        for (auto &[n, k] : f.kids)
            depth(*k, d + 1);
    };
    depth(root, 0);
    const double W = 1000, RH = 17;
    double H = (maxd + 1) * RH + 4;
    std::string o = fmt::format("<svg class=\"flame\" viewBox=\"0 0 {} {}\" data-samples=\"{}\">", W, H, root.count);
    size_t rects = 0, dropped = 0;
    std::function<void(const std::string &, const Frame &, double, int)> draw = [&](const std::string &n,
                                                                                  const Frame &f, double x, int d) {
        double w = W * double(f.count) / double(root.count);
        if (w < 0.6 || rects >= kMaxFlameRects) {
            dropped++;
            return;
        }
        rects++;
        double y = H - (d + 1) * RH;
        std::string label = d == 0 ? "all sampled DMA-path stacks" : n;
        o += fmt::format("<g><title>{} — {} samples ({})</title><rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" "
                         "height=\"{}\" fill=\"{}\" stroke=\"#fff\" stroke-width=\"0.5\"/>",
                         html(label), f.count, units::pct(double(f.count) / double(root.count)), x, y, w, RH - 1,
                         d == 0 ? "#d9dee6" : frame_colour(n));
        size_t fit = w > 24 ? size_t((w - 6) / 6.2) : 0;
        if (fit >= 3) {
            // Cut the shown (escaped) text at a character boundary, counting characters.
            std::string shown = esc(label), t;
            size_t chars = 0;
            for (size_t i = 0; i < shown.size();) {
                size_t len = std::max<size_t>(1, utf8_seq_len(shown, i));
                if (++chars > fit - 1 && i + len < shown.size()) {
                    t += "…";
                    break;
                }
                t.append(shown, i, len);
                i += len;
            }
            o += fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\">{}</text>", x + 3, y + RH - 5, html_escaped(t));
        }
        o += "</g>";
        double cx = x;
        for (auto &[kn, k] : f.kids) {
            draw(kn, *k, cx, d + 1);
            cx += W * double(k->count) / double(root.count);
        }
    };
    draw("", root, 0, 0);
    o += "</svg>";
    p.f("<figure class=\"flamegraph\" data-name=\"{}\">{}<figcaption><b>{}</b>: {} samples of the DMA paths and of "
        "the profiler's probes ({}). Colours: <span class=\"key\" style=\"background:#e8743b\"></span>translation-only "
        "(what iommu=pt removes) <span class=\"key\" style=\"background:#f2c14e\"></span>DMA API (remains) "
        "<span class=\"key\" style=\"background:#9c6ade\"></span>the profiler <span class=\"key\" "
        "style=\"background:#4e9de0\"></span>VFIO. Hover a frame for its count.{}</figcaption></figure>\n",
        html(name), "<div class=\"flamewrap\">" + o + "</div>", html(name), root.count, html(s.event),
        dropped ? fmt::format(" {} frames too narrow to draw (or beyond {}) are left out; `report --folded` has "
                              "every stack.",
                              dropped, kMaxFlameRects)
                : "");
}

// ---- host facts ----

void host_table(Page &p, const std::vector<std::string> &names, const std::vector<const HostFacts *> &hosts)
{
    std::vector<std::vector<std::pair<std::string, std::string>>> rows;
    for (auto *h : hosts)
        rows.push_back(hostfacts_rows(*h));
    // Rows by label, in the order of the first host (same renderer, so the same labels).
    p.add("<div class=\"scroll\"><table class=\"host\">\n");
    if (hosts.size() > 1) {
        p.add("<tr><th></th>");
        for (auto &n : names)
            p.f("<th>{}</th>", html(n));
        p.add("</tr>\n");
    }
    size_t nrows = 0;
    for (auto &r : rows)
        nrows = std::max(nrows, r.size());
    for (size_t i = 0; i < nrows; i++) {
        std::string label = i < rows[0].size() ? rows[0][i].first : "";
        p.f("<tr><th>{}</th>", html(label));
        for (auto &r : rows)
            p.f("<td>{}</td>", i < r.size() ? html(r[i].second) : "");
        p.add("</tr>\n");
    }
    // Groups: a count per type, devices on demand would need script; list the non-trivial ones.
    p.add("</table></div>\n");
    for (size_t h = 0; h < hosts.size(); h++) {
        std::vector<std::string> odd;
        for (auto &g : hosts[h]->groups)
            if (g.mixed || g.has_vfio || g.vfio_shared)
                odd.push_back(fmt::format("group {} ({}): {}{}{}", g.id, g.type.empty() ? "?" : g.type,
                                          g.mixed ? "unrelated devices share it; " : "",
                                          g.has_vfio ? "assigned through VFIO; " : "",
                                          g.vfio_shared ? "VFIO next to host-owned devices" : ""));
        if (!odd.empty()) {
            p.f("<p class=\"sub\">{}: groups that matter for isolation</p>", html(names[h]));
            list(p, "groups", odd);
        }
    }
}

// ---- network devices: per packet ----

void net_table(Page &p, const Snapshot &s)
{
    auto net = net_by_device(s);
    std::erase_if(net, [](const NetDeviceTraffic &t) { return t.packets() == 0 && t.maps == 0; });
    if (net.empty())
        return;
    p.add("<section id=\"network\"><h2>Network traffic per device</h2>\n<div class=\"scroll\"><table class=\"net\">\n"
          "<tr><th>device</th><th>interfaces</th><th>packets/s</th><th>received/s</th><th>DMA maps per packet</th>"
          "<th>CPU per packet</th></tr>\n");
    double dur = s.duration_s > 0 ? s.duration_s : 1;
    for (auto &t : net)
        p.f("<tr data-device=\"{}\" data-packets=\"{}\" data-maps-per-packet=\"{}\" data-cpu-ns-per-packet=\"{}\">"
            "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            html(t.device), t.packets(), num(t.maps_per_packet), num(t.cpu_ns_per_packet), html(t.device),
            html(join(t.ifaces, ", ")), units::count(t.packets_per_s), units::count(t.rx_packets / dur),
            units::ratio(t.maps_per_packet), units::ns(t.cpu_ns_per_packet));
    p.add("</table></div>\n<p class=\"sub\">Packets received and sent by the interfaces on each device over the "
          "profile; per packet, the DMA-API map calls made for the device and the CPU time in its IOMMU/DMA "
          "paths.</p>\n</section>\n");
}

void net_compare_table(Page &p, const Comparison &c)
{
    if (c.net.empty())
        return;
    p.add("<section id=\"network\"><h2>Network traffic per device, before and after</h2>\n<div class=\"scroll\">"
          "<table class=\"net\">\n<tr><th>device</th><th>packets/s before</th><th>after</th><th>maps per packet "
          "before</th><th>after</th><th>CPU per packet before</th><th>after</th><th>change</th></tr>\n");
    auto cell = [](const NetCompareSide &s, const std::string &v) { return s.present && s.packets ? v : "-"; };
    for (auto &r : c.net)
        p.f("<tr data-device=\"{}\" data-cpu-ns-per-packet-before=\"{}\" data-cpu-ns-per-packet-after=\"{}\">"
            "<td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            html(r.device), num(r.before.cpu_ns_per_packet), num(r.after.cpu_ns_per_packet), html(r.device),
            html(join(r.ifaces, ", ")), cell(r.before, units::count(r.before.packets_per_s)),
            cell(r.after, units::count(r.after.packets_per_s)), cell(r.before, units::ratio(r.before.maps_per_packet)),
            cell(r.after, units::ratio(r.after.maps_per_packet)), cell(r.before, units::ns(r.before.cpu_ns_per_packet)),
            cell(r.after, units::ns(r.after.cpu_ns_per_packet)),
            std::isfinite(r.cpu_per_packet_change) ? units::change(r.cpu_per_packet_change) : "");
    p.add("</table></div>\n</section>\n");
}

void head(Page &p, const std::string &title)
{
    p.add("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<meta name=\"referrer\" content=\"no-referrer\">\n");
    p.f("<title>{}</title>\n<style>{}</style></head>\n<body>\n", html(title), kCss);
}

std::string profile_line(const Profile &pr, const std::string &file)
{
    return fmt::format("{}{} · kernel {} · mode {} · {} on {} CPUs · recorded {} by iommuprof {}", html(file),
                       pr.label.empty() ? "" : " “" + html(pr.label) + "”",
                       html(pr.host.kernel.release.empty() ? "unknown" : pr.host.kernel.release),
                       html(iommu_mode(pr.host)), units::seconds(pr.snap.duration_s), pr.snap.ncpus,
                       html(pr.created.empty() ? "?" : pr.created), html(pr.tool_version.empty() ? "?" : pr.tool_version));
}

double share_of(double ns, const Snapshot &s)
{
    double d = s.duration_s * 1e9 * std::max(1, s.ncpus);
    return d > 0 ? clamp_share(ns / d) : 0;
}

// CPU rows of one profile: from the verdict's numbers when it measured, else the snapshot.
std::vector<BarRow> cpu_rows(const Verdict *v, const Snapshot &s)
{
    std::vector<BarRow> rows;
    CpuShare all = cpu_share(s);
    rows.push_back({"all profiled DMA paths (all CPUs)", {all.all_cpus}});
    if (all.hottest >= 0)
        rows.push_back({fmt::format("on the busiest CPU (CPU {})", all.hottest), {all.hottest_cpu}});
    if (v && v->numbers.measured && v->numbers.timed) {
        const auto &n = v->numbers;
        rows.push_back({"translation-only: saved under pt (all CPUs)", {n.saving_share_all}});
        if (n.dma_api_timed)
            rows.push_back({"DMA API: remains under pt (all CPUs)", {share_of(n.residual_ns, s)}});
        if (n.vfio_ns > 0)
            rows.push_back({"VFIO: stays translated (all CPUs)", {share_of(n.vfio_ns, s)}});
        if (n.sampled)
            rows.push_back({"translation-only, sampled (all CPUs)", {n.sampled_share_all}});
    }
    return rows;
}

void footer(Page &p, const std::string &what)
{
    p.f("<footer>Written by iommuprof {} ({}). This page is one file: no script, no request; it prints and reads "
        "on a phone. Times exclude the profiler's own probe cost where the profile was calibrated.</footer>\n"
        "</body></html>\n",
        html(tool_version()), html(what));
}

void one_profile_sections(Page &p, const Profile &pr, const Verdict *v, const std::string &file)
{
    p.add("<section id=\"cpu\"><h2>CPU time in the DMA paths</h2>\n");
    bars(p, "cpu-bars", {file}, cpu_rows(v, pr.snap),
         "Share of all CPUs' time (and of the busiest CPU) over the profile.");
    p.add("</section>\n");
    net_table(p, pr.snap);
    p.add("<section id=\"latency\"><h2>Latency per point and device</h2>\n");
    histograms(p, {file}, {&pr.snap});
    p.add("</section>\n<section id=\"host\"><h2>Host facts</h2>\n");
    host_table(p, {file}, {&pr.host});
    p.add("</section>\n<section id=\"stacks\"><h2>Sampled stacks</h2>\n");
    if (pr.snap.samples)
        flame(p, *pr.snap.samples, file);
    else
        p.add("<p class=\"sub\">No stack samples in this profile (recorded with --no-sample, or by an iommuprof "
              "without sampling).</p>\n");
    p.add("</section>\n");
}

}  // namespace

std::string render_html(const Document &d)
{
    Page p;
    if (d.kind == Document::Kind::Compare && d.comparison && d.profile && d.after) {
        const Comparison &c = *d.comparison;
        head(p, "iommuprof compare: " + c.before.mode + " → " + c.after.mode);
        p.f("<header><h1>iommuprof compare: {} → {}</h1>\n<p class=\"sub\">before: {}</p><p class=\"sub\">after: "
            "{}</p></header>\n",
            html(c.before.mode), html(c.after.mode), profile_line(*d.profile, d.name),
            profile_line(*d.after, d.after_name));
        p.add("<section id=\"conclusion\"><h2>Conclusion</h2>\n<div class=\"verdict compare\" id=\"verdict\" "
              "data-verdict=\"compare\">");
        p.f("<p class=\"summary\">{}</p>", html(c.conclusion));
        std::vector<std::string> loud(c.warnings.begin(), c.warnings.begin() + long(c.loud_warnings));
        std::vector<std::string> rest(c.warnings.begin() + long(c.loud_warnings), c.warnings.end());
        list(p, "warnings", loud);
        list(p, "notes", rest);
        p.add("</div>\n");
        p.add("</section>\n");
        std::vector<std::string> names = {"before: " + c.before.mode, "after: " + c.after.mode};
        std::vector<BarRow> rows;
        rows.push_back({"all profiled DMA paths (all CPUs)", {c.before.cpu.all_cpus, c.after.cpu.all_cpus}});
        rows.push_back({"the busiest CPU", {c.before.cpu.hottest_cpu, c.after.cpu.hottest_cpu}});
        for (auto &cat : c.categories)
            if (cat.category != Category::Total && (cat.before_cpu_share > 0 || cat.after_cpu_share > 0))
                rows.push_back({std::string(to_string(cat.category)) + (cat.translation_only ? " (translation-only)" : ""),
                            {cat.before_cpu_share, cat.after_cpu_share}});
        p.add("<section id=\"cpu\"><h2>CPU time before and after</h2>\n");
        bars(p, "cpu-bars", names, rows,
             "Share of all CPUs' time in each category, before and after (the categories nest: the DMA API "
             "includes the layers below it).");
        p.f("<p class=\"sub\">Workload: {} {}/s before, {}/s after{}.</p>\n", html(c.before.workload_measure),
            units::count(c.before.dma_calls_per_s), units::count(c.after.dma_calls_per_s),
            std::isnan(c.workload_ratio) ? "" : " (" + units::factor(c.workload_ratio) + ")");
        p.add("</section>\n");
        net_compare_table(p, c);
        p.add("<section id=\"latency\"><h2>Latency per point and device, before and after</h2>\n");
        histograms(p, names, {&d.profile->snap, &d.after->snap});
        p.add("</section>\n");
        if (d.verdict) {
            p.add("<section id=\"verdict-before\"><h2>The verdict on the BEFORE profile</h2>\n");
            verdict_box(p, *d.verdict, "Verdict before the change", "verdict-before-box");
            p.add("</section>\n");
        }
        p.add("<section id=\"host\"><h2>Host facts</h2>\n");
        host_table(p, names, {&d.profile->host, &d.after->host});
        p.add("</section>\n<section id=\"stacks\"><h2>Sampled stacks</h2>\n");
        for (auto [name, pr] : {std::pair{names[0], d.profile}, std::pair{names[1], d.after}}) {
            if (pr->snap.samples)
                flame(p, *pr->snap.samples, name);
            else
                p.f("<p class=\"sub\">{}: no stack samples in this profile.</p>\n", html(name));
        }
        p.add("</section>\n");
        footer(p, "compare " + d.name + " " + d.after_name);
        return p.out;
    }
    const bool is_verdict = d.kind == Document::Kind::Verdict;
    std::string title = is_verdict ? "iommuprof verdict" : "iommuprof report";
    head(p, title + (d.profile ? ": " + d.name : ""));
    p.f("<header><h1>{}</h1>\n", title);
    if (d.profile)
        p.f("<p class=\"sub\">{}</p>", profile_line(*d.profile, d.name));
    else if (!d.name.empty())
        p.f("<p class=\"sub\">{}</p>", html(d.name));
    p.add("</header>\n");
    if (d.verdict) {
        p.add("<section id=\"verdict-section\"><h2>Is iommu=pt worth trying here?</h2>\n");
        verdict_box(p, *d.verdict, "Verdict");
        p.add("</section>\n");
    }
    if (d.profile)
        one_profile_sections(p, *d.profile, d.verdict, d.name);
    else if (d.host) {
        p.add("<section id=\"host\"><h2>Host facts</h2>\n");
        host_table(p, {"this host"}, {d.host});
        p.add("</section>\n");
    }
    footer(p, std::string(is_verdict ? "verdict" : "report") + (d.name.empty() ? "" : " " + d.name));
    return p.out;
}

}  // namespace iommuprof
