// Escaping for text output (fields and whole documents) and JSON output that
// survives invalid UTF-8. Strings in profiles, sysfs and kernel logs are not
// trusted: a device name with ESC ] 0 ; must not retitle the user's terminal,
// a label with a newline must not split a table row, and a log line with an
// invalid byte must not abort --json.
#include <fmt/core.h>

#include "iommuprof/render.hpp"

namespace iommuprof {

size_t utf8_seq_len(std::string_view s, size_t i)
{
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = b(i);
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (i + n > s.size())
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((b(i + k) & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (b(i + k) & 0x3f);
    }
    // Overlong forms, surrogates, beyond U+10FFFF.
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

namespace {

uint32_t code_point(std::string_view s, size_t i, size_t n)
{
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    if (n == 2)
        return (uint32_t(b(i) & 0x1f) << 6) | (b(i + 1) & 0x3f);
    if (n == 3)
        return (uint32_t(b(i) & 0x0f) << 12) | (uint32_t(b(i + 1) & 0x3f) << 6) | (b(i + 2) & 0x3f);
    return (uint32_t(b(i) & 0x07) << 18) | (uint32_t(b(i + 1) & 0x3f) << 12) | (uint32_t(b(i + 2) & 0x3f) << 6) |
           (b(i + 3) & 0x3f);
}

// C1 controls, and the bidirectional overrides and isolates that reorder what
// a terminal shows ("Trojan Source").
bool invisible_control(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
           cp == 0x200e || cp == 0x200f || cp == 0x061c;
}

std::string escape(std::string_view s, bool keep_layout)
{
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f) {
            out += char(c);
            i++;
            continue;
        }
        if (c < 0x80) {
            if (keep_layout && (c == '\n' || c == '\t'))
                out += char(c);
            else if (c == '\n')
                out += "\\n";
            else if (c == '\t')
                out += "\\t";
            else if (c == '\r')
                out += "\\r";
            else
                out += fmt::format("\\x{:02x}", c);
            i++;
            continue;
        }
        size_t n = utf8_seq_len(s, i);
        if (n == 0) {
            out += fmt::format("\\x{:02x}", c);
            i++;
            continue;
        }
        uint32_t cp = code_point(s, i, n);
        if (invisible_control(cp))
            out += fmt::format("\\u{:04x}", cp);
        else
            out.append(s.substr(i, n));
        i += n;
    }
    return out;
}

}  // namespace

std::string esc(std::string_view s) { return escape(s, false); }

std::string terminal_safe(std::string_view doc) { return escape(doc, true); }

std::string render_json(const nlohmann::json &j)
{
    // Invalid UTF-8 (a log line, a sysfs value, a hostile profile) becomes
    // U+FFFD instead of ending the command with an internal error.
    return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace iommuprof
