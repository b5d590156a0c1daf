// The one number/unit formatter (include/iommuprof/units.hpp) every text renderer uses.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "iommuprof/units.hpp"

using namespace iommuprof;

TEST(Units, DurationsHaveThreeSignificantDigitsAndASpace)
{
    EXPECT_EQ(units::ns(0), "0 ns");
    EXPECT_EQ(units::ns(850), "850 ns");
    EXPECT_EQ(units::ns(3200), "3.20 µs");
    EXPECT_EQ(units::ns(47100), "47.1 µs");
    EXPECT_EQ(units::ns(54700), "54.7 µs");
    EXPECT_EQ(units::ns(273.5e6), "274 ms");
    EXPECT_EQ(units::ns(1.25e6), "1.25 ms");
    EXPECT_EQ(units::ns(2.5e9), "2.50 s");
    EXPECT_EQ(units::ns(1234e9), "1234 s");
    EXPECT_EQ(units::seconds(10), "10.0 s");
    EXPECT_EQ(units::seconds(0.5), "500 ms");
}

TEST(Units, RoundingNeverPrintsAThousandOfAUnit)
{
    EXPECT_EQ(units::ns(999.4), "999 ns");
    EXPECT_EQ(units::ns(999.6), "1.00 µs");
    EXPECT_EQ(units::ns(9999), "10.0 µs");
    EXPECT_EQ(units::ns(999'999), "1.00 ms");
    EXPECT_EQ(units::count(999.6), "1.00k");
    EXPECT_EQ(units::bytes(1023.7), "1.00 KiB");
    EXPECT_EQ(units::pct(0.09996), "10.0%");
    EXPECT_EQ(units::pct(0.99996), "100%");
}

TEST(Units, NegativeAndNonFinite)
{
    EXPECT_EQ(units::ns(-12000), "-12.0 µs");
    EXPECT_EQ(units::ns(NAN), "-");
    EXPECT_EQ(units::ns(INFINITY), "-");
    EXPECT_EQ(units::pct(-0.02), "-2.00%");
    EXPECT_EQ(units::pct(NAN), "-");
    EXPECT_EQ(units::count(NAN), "-");
    EXPECT_EQ(units::change(NAN), "new");
    EXPECT_EQ(units::change(INFINITY), "-");
    EXPECT_EQ(units::factor(NAN), "-");
}

TEST(Units, CountsAndSizes)
{
    EXPECT_EQ(units::count(0), "0");
    EXPECT_EQ(units::count(0.5), "0.5");
    EXPECT_EQ(units::count(950), "950");
    EXPECT_EQ(units::count(12345), "12.3k");
    EXPECT_EQ(units::count(1.5e6), "1.50M");
    EXPECT_EQ(units::count(2e9), "2.00G");
    EXPECT_EQ(units::bytes(512), "512 B");
    EXPECT_EQ(units::bytes(4096), "4.00 KiB");
    EXPECT_EQ(units::bytes(131072), "128 KiB");
    EXPECT_EQ(units::bytes(1.5 * 1048576), "1.50 MiB");
}

TEST(Units, NothingRoundsToANegativeZeroOrAnEndlessNumber)
{
    EXPECT_EQ(units::ns(-0.0), "0 ns");
    EXPECT_EQ(units::ns(-0.3), "0 ns");
    EXPECT_EQ(units::count(-0.0), "0");
    EXPECT_EQ(units::count(-0.04), "0.0");
    EXPECT_EQ(units::pct(-1e-9), "<0.001%");
    EXPECT_EQ(units::change(1e-6), "0%");
    EXPECT_EQ(units::change(-1e-6), "0%");
    EXPECT_EQ(units::count(5), "5.0");
    EXPECT_EQ(units::count(31.25), "31.2");
    EXPECT_EQ(units::count(10), "10.0");
    EXPECT_EQ(units::count(100), "100");
    EXPECT_EQ(units::bytes(1000), "1000 B");
    EXPECT_EQ(units::ns(1e300), "1e+291 s");
    EXPECT_EQ(units::count(1e20), "1e+08T");
}

TEST(Units, SharesAndChanges)
{
    EXPECT_EQ(units::pct(0), "0%");
    EXPECT_EQ(units::pct(0.000001), "<0.001%");
    EXPECT_EQ(units::pct(0.00031), "0.031%");
    EXPECT_EQ(units::pct(0.042), "4.20%");
    EXPECT_EQ(units::pct(0.1163), "11.6%");
    EXPECT_EQ(units::pct(1), "100%");
    EXPECT_EQ(units::pct_ci(0.1163, 0.004), "11.6% ± 0.40%");
    EXPECT_EQ(units::change(-1), "-100%");
    EXPECT_EQ(units::change(0.08), "+8%");
    EXPECT_EQ(units::change(0.005), "+0.5%");
    EXPECT_EQ(units::change(0), "0%");
    EXPECT_EQ(units::factor(1.254), "1.25×");
}

TEST(Units, Ratios)
{
    EXPECT_EQ(units::ratio(0), "0");
    EXPECT_EQ(units::ratio(1150.0 / 1200), "0.958");
    EXPECT_EQ(units::ratio(0.5), "0.5");
    EXPECT_EQ(units::ratio(1.0), "1");
    EXPECT_EQ(units::ratio(1.049), "1.05");
    EXPECT_EQ(units::ratio(12.34), "12.3");
    EXPECT_EQ(units::ratio(250), "250");
    EXPECT_EQ(units::ratio(999.4), "999");
    EXPECT_EQ(units::ratio(1500), "1.50k");
    EXPECT_EQ(units::ratio(0.0001), "<0.001");
    EXPECT_EQ(units::ratio(0.00051), "0.00051");
    EXPECT_EQ(units::ratio(-0.25), "-0.25");
    EXPECT_EQ(units::ratio(std::nan("")), "-");
}
