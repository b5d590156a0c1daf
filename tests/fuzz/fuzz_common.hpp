// Checks shared by the libFuzzer targets (header only: each target is one
// translation unit plus this).
//
// Two levels of checking:
//  - always: crashes, sanitizer reports, unexpected exceptions, outputs out of
//    proportion to the input (check_size), documents the CLI prints that are
//    not safe for a terminal (check_terminal_text on terminal_safe() output)
//    or JSON that is not valid UTF-8 / does not parse back (check_json_text);
//  - with FUZZ_STRICT=1 in the environment, also what the CLI would paper
//    over: a renderer's own text that is not terminal-safe before
//    terminal_safe(), JSON built from valid UTF-8 that needs the invalid-UTF-8
//    replacement of render_json(). Findings of that kind are cosmetic (the CLI output is
//    still safe) but usually point at a string cut in the middle of a UTF-8
//    sequence or an escape that was forgotten.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "iommuprof/render.hpp"

namespace fuzz {

// Every rendered document must stay within factor * input + slack bytes.
struct Budget {
    size_t input = 0;
    size_t limit = 0;
    void set(size_t input_bytes, size_t factor = 64, size_t slack = 1u << 20)
    {
        input = input_bytes;
        limit = factor * input_bytes + slack;
    }
};
inline Budget budget;

inline bool strict()
{
    static const bool on = [] {
        const char *e = getenv("FUZZ_STRICT");
        return e && *e && *e != '0';
    }();
    return on;
}

[[noreturn]] inline void fail(const char *kind, const char *what, const std::string &detail)
{
    fprintf(stderr, "==%s== %s: %s\n", kind, what, detail.c_str());
    abort();
}

inline void check_size(const char *what, size_t n)
{
    if (n > budget.limit)
        fail("AMPLIFICATION", what,
             std::to_string(n) + " bytes from " + std::to_string(budget.input) + " input bytes (limit " +
                 std::to_string(budget.limit) + ")");
}

// Offset of the first byte that breaks UTF-8, or npos.
inline size_t invalid_utf8_at(std::string_view s)
{
    for (size_t i = 0; i < s.size();) {
        size_t n = iommuprof::utf8_seq_len(s, i);
        if (n == 0)
            return i;
        i += n;
    }
    return std::string_view::npos;
}

inline std::string around(std::string_view s, size_t at)
{
    size_t b = at > 40 ? at - 40 : 0;
    std::string out;
    for (unsigned char c : s.substr(b, 80)) {
        if (c >= 0x20 && c < 0x7f && c != '\\')
            out += char(c);
        else {
            char buf[8];
            snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    return "at byte " + std::to_string(at) + ": ..." + out + "...";
}

// A document as it reaches a terminal: valid UTF-8, no C0 controls but
// newline and tab, no C1 controls, no bidirectional overrides or isolates.
inline void check_terminal_text(const char *what, std::string_view s)
{
    for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7f) {
            if (c != '\n' && c != '\t')
                fail("TERMINAL", what, "control character " + around(s, i));
            i++;
            continue;
        }
        size_t n = iommuprof::utf8_seq_len(s, i);
        if (n == 0)
            fail("TERMINAL", what, "invalid UTF-8 " + around(s, i));
        if (n == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0)
            fail("TERMINAL", what, "C1 control " + around(s, i));
        if (n == 3) {
            uint32_t cp = (uint32_t(c & 0x0f) << 12) | (uint32_t(s[i + 1] & 0x3f) << 6) | (s[i + 2] & 0x3f);
            if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
                fail("TERMINAL", what, "bidirectional override " + around(s, i));
        }
        i += n;
    }
}

// Text a renderer returns: its size, and what the CLI prints of it
// (print_text: terminal_safe()).
inline void check_text(const char *what, const std::string &s)
{
    check_size(what, s.size());
    check_terminal_text(what, iommuprof::terminal_safe(s));
    if (strict())
        check_terminal_text(what, s);
}

// OpenMetrics / Prometheus text (printed as is, read by node_exporter): valid
// UTF-8, one sample or comment per line (a label value's newline must have
// been escaped), "# EOF" at the end.
inline void check_openmetrics(const char *what, const std::string &s)
{
    check_size(what, s.size());
    if (size_t at = invalid_utf8_at(s); at != std::string_view::npos)
        fail("OPENMETRICS", what, "invalid UTF-8 " + around(s, at));
    if (s.size() < 6 || s.compare(s.size() - 6, 6, "# EOF\n") != 0)
        fail("OPENMETRICS", what, "does not end with # EOF");
    for (size_t b = 0; b < s.size();) {
        size_t e = s.find('\n', b);
        std::string_view line(s.data() + b, e - b);
        if (line.substr(0, 2) != "# " && line.substr(0, 10) != "iommuprof_")
            fail("OPENMETRICS", what, "line is neither a comment nor a sample " + around(s, b));
        if (line.substr(0, 2) != "# ") {
            // name{labels} value: the last '}' closes the labels, the value follows a space.
            size_t close = line.rfind('}');
            size_t sp = line.rfind(' ');
            if (sp == std::string_view::npos || (close != std::string_view::npos && sp < close))
                fail("OPENMETRICS", what, "sample without a value " + around(s, b));
        }
        b = e + 1;
    }
}

// A JSON document: what the CLI prints (render_json) must be valid UTF-8 and
// parse back. In strict mode, when every string that went in was valid UTF-8
// (input_utf8: a profile, which the reader checks), the plain dump() must not
// need render_json's replacement either. Host facts read from files hold
// whatever bytes sysfs and the log had: there the replacement is by design.
inline void check_json(const char *what, const nlohmann::json &j, bool input_utf8 = true)
{
    std::string out = iommuprof::render_json(j);
    check_size(what, out.size());
    if (size_t at = invalid_utf8_at(out); at != std::string_view::npos)
        fail("JSON", what, "render_json output is not UTF-8 " + around(out, at));
    try {
        (void)nlohmann::json::parse(out);
    } catch (const nlohmann::json::exception &e) {
        fail("JSON", what, std::string("render_json output does not parse back: ") + e.what());
    }
    if (strict() && input_utf8) {
        try {
            (void)j.dump();
        } catch (const nlohmann::json::type_error &e) {
            fail("JSON", what, std::string("dump() throws (invalid UTF-8 inside the document): ") + e.what());
        }
    }
}

}  // namespace fuzz
