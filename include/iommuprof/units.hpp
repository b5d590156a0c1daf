// Numbers and units in human text: the one place that decides how a duration, a
// share, a rate or a size looks, so that a quantity reads the same in `top`,
// `report`, `verdict`, `compare`, `inspect` and the HTML report. Up to three
// significant digits (whole nanoseconds and bytes), a space before the unit (none
// before %), "-" for a number that is not finite, no sign on what rounds to zero.
// JSON and OpenMetrics print plain numbers and do not use this.
#pragma once

#include <string>

namespace iommuprof::units {

// Nanoseconds: "0 ns", "850 ns", "3.25 µs", "47.1 µs", "274 ms", "1.25 s", "-12.0 µs".
std::string ns(double v);
// Seconds, the same style: "10.0 s", "250 ms".
std::string seconds(double s);
// A count or a rate without unit, SI prefixes: "0", "0.5", "31.2", "950", "12.3k", "1.50M", "2.00G".
std::string count(double v);
// A ratio of counts, three significant digits: "0", "<0.001", "0.958", "1.05", "12.3", "250";
// from 1000 as count(): "1.50k".
std::string ratio(double v);
// A size in bytes, IEC prefixes: "512 B", "4.00 KiB", "128 KiB", "1.50 MiB".
std::string bytes(double v);
// A fraction as a percentage: "0%", "<0.001%", "0.031%", "4.20%", "11.6%", "100%".
std::string pct(double fraction);
// A relative change: "+8%", "-97%", "+0.5%", "0%", "new" (NaN: nothing before).
std::string change(double rel);
// A share and its 95 % interval: "11.6% ± 0.40%".
std::string pct_ci(double fraction, double half_width);
// A ratio: "1.25×".
std::string factor(double x);

}  // namespace iommuprof::units
