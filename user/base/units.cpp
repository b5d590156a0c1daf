// Numbers and units in human text (include/iommuprof/units.hpp).
#include "iommuprof/units.hpp"

#include <cmath>
#include <iterator>

#include <fmt/core.h>

namespace iommuprof::units {

namespace {

struct Unit {
    double scale;
    const char *suffix;
};

// Three significant digits in the largest unit the value reaches after rounding:
// 999.7 ns is "1.00 µs", never "1000 ns"; the smallest unit prints whole numbers
// when `whole_smallest` (nanoseconds, bytes).
template <size_t N>
std::string scaled(double v, const Unit (&u)[N], bool whole_smallest)
{
    if (!std::isfinite(v))
        return "-";
    if (v == 0)
        v = 0.0;  // -0.0 too
    if (v < 0) {
        std::string pos = scaled(-v, u, whole_smallest);
        // What rounds to zero has no sign ("-0 ns" would be a wrong number).
        return pos.find_first_of("123456789") == std::string::npos ? pos : "-" + pos;
    }
    size_t i = 0;
    while (i + 1 < N && v >= u[i + 1].scale)
        i++;
    for (;;) {
        double x = v / u[i].scale;
        int dec = (i == 0 && whole_smallest) ? 0 : x < 9.995 ? 2 : x < 99.95 ? 1 : 0;
        if (i == 0 && !whole_smallest && x < 10)
            dec = x == 0 ? 0 : 1;
        double shown = std::round(x * std::pow(10, dec)) / std::pow(10, dec);
        if (shown >= 1000 && i + 1 < N && v * 1.0 >= u[i + 1].scale * 0.999) {
            i++;
            continue;
        }
        if (x >= 1e5)  // beyond the largest unit: no endless row of digits
            return fmt::format("{:.3g}{}", x, u[i].suffix);
        return fmt::format("{:.{}f}{}", x, dec, u[i].suffix);
    }
}

constexpr Unit kTime[] = {{1, " ns"}, {1e3, " µs"}, {1e6, " ms"}, {1e9, " s"}};
constexpr Unit kCount[] = {{1, ""}, {1e3, "k"}, {1e6, "M"}, {1e9, "G"}, {1e12, "T"}};
constexpr Unit kBytes[] = {{1, " B"}, {1024.0, " KiB"}, {1048576.0, " MiB"}, {1073741824.0, " GiB"},
                           {1099511627776.0, " TiB"}};

}  // namespace

std::string ns(double v) { return scaled(v, kTime, true); }

std::string seconds(double s) { return ns(s * 1e9); }

std::string count(double v)
{
    // Below 1000: one decimal under 100 ("5.0", "31.2"), none from 100 ("950").
    if (std::isfinite(v) && std::fabs(v) >= 99.95 && std::fabs(v) < 999.5)
        return fmt::format("{:.0f}", v);
    if (std::isfinite(v) && std::fabs(v) >= 9.995 && std::fabs(v) < 99.95)
        return fmt::format("{:.1f}", v);
    return scaled(v, kCount, false);
}

std::string ratio(double v)
{
    if (!std::isfinite(v))
        return "-";
    if (std::fabs(v) >= 999.5)
        return count(v);
    if (v == 0 || fmt::format("{:.3g}", std::fabs(v)) == "0")
        return "0";
    if (std::fabs(v) < 0.0005)
        return v < 0 ? "-<0.001" : "<0.001";
    return fmt::format("{:.3g}", v);
}

std::string bytes(double v) { return scaled(v, kBytes, true); }

std::string pct(double f)
{
    if (!std::isfinite(f))
        return "-";
    if (f < 0) {
        std::string pos = pct(-f);
        return pos == "0%" || pos[0] == '<' ? pos : "-" + pos;
    }
    double p = f * 100;
    if (p == 0)
        return "0%";
    if (p < 0.0005)
        return "<0.001%";
    if (p < 0.0995)
        return fmt::format("{:.3f}%", p);
    if (p < 9.995)
        return fmt::format("{:.2f}%", p);
    if (p < 99.95)
        return fmt::format("{:.1f}%", p);
    return fmt::format("{:.0f}%", p);
}

std::string change(double rel)
{
    if (std::isnan(rel))
        return "new";
    if (!std::isfinite(rel))
        return "-";
    if (rel == 0)
        return "0%";
    double p = rel * 100;
    if (std::fabs(p) < 0.05)
        return "0%";
    if (std::fabs(p) < 0.95)
        return fmt::format("{:+.1f}%", p);
    return fmt::format("{:+.0f}%", p);
}

std::string pct_ci(double f, double half) { return pct(f) + " ± " + pct(half); }

std::string factor(double x)
{
    if (!std::isfinite(x))
        return "-";
    return fmt::format("{:.2f}×", x);
}

}  // namespace iommuprof::units
