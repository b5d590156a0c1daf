// Small string helpers shared by the stages (header-only, no dependencies).
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (fmt 11 moved it here)

namespace iommuprof {

// The non-empty pieces of `s` between characters for which is_sep is true
// ("a,,b" split on ',' is {"a", "b"}).
template <class Container = std::vector<std::string>, class Pred>
Container split_nonempty(std::string_view s, Pred is_sep)
{
    Container out;
    std::string cur;
    for (char c : s) {
        if (is_sep(c)) {
            if (!cur.empty())
                out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty())
        out.push_back(cur);
    return out;
}

// Levenshtein distance (insertions, deletions, substitutions), for "did you
// mean" hints.
inline size_t edit_distance(std::string_view a, std::string_view b)
{
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); j++)
        row[j] = j;
    for (size_t i = 1; i <= a.size(); i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); j++) {
            size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

// The items of a range joined by sep (fmt::join).
template <class Range>
std::string join(const Range &v, std::string_view sep = ", ")
{
    return fmt::format("{}", fmt::join(v, sep));
}

// At most `max` items, then " and N more": the one way a long list is cut in text.
template <class Range>
std::string join_some(const Range &v, size_t max = 8, std::string_view sep = ", ")
{
    size_t n = std::size(v);
    if (n <= max)
        return join(v, sep);
    auto first = std::begin(v);
    auto last = std::next(first, static_cast<std::ptrdiff_t>(max));
    return fmt::format("{} and {} more", fmt::join(first, last, sep), n - max);
}

}  // namespace iommuprof
