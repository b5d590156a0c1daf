// Profile files: gzip'd JSON, written atomically, read defensively.
// Schema: docs/profile-format.md.
#include "iommuprof/profile.hpp"

#include <cerrno>
#include <functional>
#include <cmath>
#include <cstring>
#include <ctime>
#include <map>
#include <set>
#include <tuple>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "iommuprof/error.hpp"
#include "iommuprof/json.hpp"

namespace iommuprof {

using nlohmann::json;
using namespace json_detail;

// The project VERSION in CMakeLists.txt: --version, profiles, the man page and the package agree.
#ifndef IOMMUPROF_VERSION
#error "IOMMUPROF_VERSION comes from CMakeLists.txt (project VERSION)"
#endif

const char *tool_version() { return IOMMUPROF_VERSION; }

std::string now_iso8601_utc()
{
    time_t t = time(nullptr);
    struct tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

namespace {
// A profile nests 6 levels deep; refuse pathological nesting early.
constexpr int kMaxDepth = 64;
// No string in a real profile comes near this (labels, command lines, log
// lines of at most a few KiB, folded stacks of ~127 frames).
constexpr size_t kMaxJsonString = 1u << 20;
// Values (separators) in the document: a profile of 200k cells has ~12M. A
// parsed value costs the parser ~16-50 bytes, whatever its text costs: an
// array of 100M zeros is 200 MB of text and several GB parsed.
// (Per-CPU cells: a many-CPU host with busy devices may reach a few million.)
constexpr size_t kMaxJsonValues = 64u << 20;

// Checks the shape of the JSON text as it is decompressed, before the parser
// builds anything, in one linear pass (brackets inside strings do not count):
// nesting depth, the longest string, the number of values. Throws JsonError
// naming the limit, at the first byte beyond it: a 500 MB label is refused
// after 1 MiB of it. (nlohmann's parser with a callback, the former depth
// check, rescans the enclosing array at every object's end, which made reading
// a profile quadratic in its cells.)
class JsonShape {
public:
    void feed(std::string_view text)
    {
        for (size_t i = 0; i < text.size(); i++, pos_++) {
            char c = text[i];
            if (in_string_) {
                if (escaped_)
                    escaped_ = false;
                else if (c == '\\')
                    escaped_ = true;
                else if (c == '"')
                    in_string_ = false;
                if (pos_ - string_start_ > kMaxJsonString)
                    throw JsonError("", fmt::format("a JSON string longer than {} MiB at byte {}: not a plausible "
                                                    "profile",
                                                    kMaxJsonString >> 20, string_start_));
                continue;
            }
            if (c == '"') {
                in_string_ = true;
                string_start_ = pos_;
            } else if (c == '[' || c == '{') {
                if (++depth_ > kMaxDepth)
                    throw JsonError("", fmt::format("JSON nested deeper than {} levels", kMaxDepth));
            } else if (c == ']' || c == '}') {
                if (depth_ > 0)
                    depth_--;
            } else if (c == ',' && ++values_ > kMaxJsonValues) {
                throw JsonError("", fmt::format("more than {} million JSON values: not a plausible profile",
                                                kMaxJsonValues >> 20));
            }
        }
    }

private:
    int depth_ = 0;
    bool in_string_ = false, escaped_ = false;
    size_t pos_ = 0, string_start_ = 0, values_ = 0;
};

}  // namespace

// ---------------------------------------------------------------- gzip ----

std::string gzip_compress(std::string_view data)
{
    z_stream zs{};
    // 15 window bits + 16: gzip wrapper (header with CRC-32 and length).
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw Error(kExitRuntime, "zlib: deflateInit2 failed");
    std::string out;
    out.resize(deflateBound(&zs, data.size()) + 64);
    zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    zs.next_out = reinterpret_cast<Bytef *>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    int r = deflate(&zs, Z_FINISH);
    size_t n = zs.total_out;
    deflateEnd(&zs);
    if (r != Z_STREAM_END)
        throw Error(kExitRuntime, fmt::format("zlib: deflate failed ({})", r));
    out.resize(n);
    return out;
}

std::string gzip_decompress(std::string_view gz, size_t max_out, const std::function<void(std::string_view)> &on_chunk)
{
    if (gz.empty())
        throw Error(kExitUsage, "empty file, not an iommuprof profile");
    if (gz.size() < 2 || static_cast<unsigned char>(gz[0]) != 0x1f || static_cast<unsigned char>(gz[1]) != 0x8b) {
        if (gz[0] == '{' || gz[0] == '[')
            throw Error(kExitUsage, "plain JSON, not gzip'd JSON: not an iommuprof profile file");
        throw Error(kExitUsage, "not a gzip file, so not an iommuprof profile");
    }
    if (gz.size() > UINT32_MAX)
        throw Error(kExitUsage, "file too large");
    z_stream zs{};
    if (inflateInit2(&zs, 15 + 16) != Z_OK)  // gzip only
        throw Error(kExitRuntime, "zlib: inflateInit2 failed");
    struct End {
        z_stream *z;
        ~End() { inflateEnd(z); }
    } end{&zs};
    zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(gz.data()));
    zs.avail_in = static_cast<uInt>(gz.size());
    std::string out;
    // The gzip trailer's ISIZE (length mod 2^32) sizes the buffer once, so that
    // growing it does not double the peak; a lying ISIZE only costs doubling.
    if (gz.size() >= 18) {
        const auto *t = reinterpret_cast<const unsigned char *>(gz.data() + gz.size() - 4);
        size_t isize = size_t(t[0]) | size_t(t[1]) << 8 | size_t(t[2]) << 16 | size_t(t[3]) << 24;
        // deflate expands at most ~1032:1: a larger ISIZE is a lie.
        if (isize <= max_out && isize / 1032 <= gz.size())
            out.reserve(isize);
    }
    bool looked = false;
    char buf[1 << 16];
    for (;;) {
        zs.next_out = reinterpret_cast<Bytef *>(buf);
        zs.avail_out = sizeof buf;
        int r = inflate(&zs, Z_NO_FLUSH);
        out.append(buf, sizeof buf - zs.avail_out);
        if (on_chunk)
            on_chunk(std::string_view(buf, sizeof buf - zs.avail_out));
        if (!looked) {
            // A profile is a JSON object: anything else (a gzip of zeros) is
            // refused at its first byte, not after a GiB of it.
            size_t k = out.find_first_not_of(" \t\r\n");
            if (k != std::string::npos) {
                looked = true;
                if (out[k] != '{')
                    throw Error(kExitUsage, "the gzip data is not a JSON object: not an iommuprof profile");
            } else if (out.size() > (1u << 20)) {
                throw Error(kExitUsage, "the gzip data starts with 1 MiB of white space: not an iommuprof profile");
            }
        }
        if (out.size() > max_out)
            throw Error(kExitUsage, fmt::format("decompresses to more than {} MiB: not a plausible profile", max_out >> 20));
        if (r == Z_STREAM_END)
            break;
        if (r == Z_OK)
            continue;
        if (r == Z_BUF_ERROR && zs.avail_in == 0)
            throw Error(kExitUsage, "truncated gzip data (the file was cut short)");
        if (r == Z_DATA_ERROR || r == Z_NEED_DICT || r == Z_BUF_ERROR)
            throw Error(kExitUsage,
                        fmt::format("corrupted gzip data ({})", zs.msg ? zs.msg : "invalid compressed data"));
        throw Error(kExitRuntime, fmt::format("zlib: inflate failed ({})", r));
    }
    if (zs.avail_in != 0)
        throw Error(kExitUsage, fmt::format("{} bytes of trailing data after the gzip stream", zs.avail_in));
    return out;
}

// ------------------------------------------------------------- JSON doc ----

json profile_to_json(const Profile &p)
{
    json j;
    j["format"] = kProfileFormat;
    j["version"] = p.version;
    j["tool_version"] = p.tool_version;
    j["created"] = p.created;
    j["label"] = p.label;
    j["host"] = p.host;
    j["plan"] = p.plan;
    j["snapshot"] = p.snap;
    return j;
}

namespace {

// The invariants the kernel side guarantees for one cell (bpf/iommuprof.bpf.c,
// hist_add): every call increments count; a timed call also adds its time to
// sum_ns and one bucket; a count-only event (tracepoint) touches count, bytes
// and errors only. `path` is the cell's "snapshot.cells[i].hist".
void validate_hist(const std::string &path, const Hist &h, const PointInfo &pi)
{
    auto bad = [&](const char *field, const std::string &what) { fail(path + "." + field, what); };
    uint64_t n = h.bucket_total();
    if (h.count == 0) {
        // The writer leaves out cells without calls: nothing may be counted in one.
        if (n)
            bad("buckets", fmt::format("sum of buckets {} != count 0", n));
        const std::pair<const char *, uint64_t> fields[] = {
            {"sum_ns", h.sum_ns},   {"bytes", h.bytes},   {"errors", h.errors},         {"max_ns", h.max_ns},
            {"comp_ns", h.comp_ns}, {"nested", h.nested}, {"intr_count", h.intr_count}, {"intr_sum_ns", h.intr_sum_ns},
            {"entries", h.entries}};
        for (auto &[field, v] : fields)
            if (v)
                bad(field, fmt::format("{} in a cell with a count of 0", v));
        return;
    }
    uint64_t slack = profile_race_slack(h.count);
    if (pi.timed) {
        // |count - sum of buckets| <= slack, without overflowing.
        if ((n > h.count ? n - h.count : h.count - n) > slack)
            bad("buckets", fmt::format("sum of buckets {} != count {}", n, h.count));
    } else {
        const std::pair<const char *, uint64_t> fields[] = {
            {"buckets", n},         {"sum_ns", h.sum_ns}, {"max_ns", h.max_ns},         {"comp_ns", h.comp_ns},
            {"nested", h.nested},   {"intr_count", h.intr_count}, {"intr_sum_ns", h.intr_sum_ns}};
        for (auto &[field, v] : fields)
            if (v)
                bad(field, fmt::format("{} in a cell of the count-only point '{}' (it has no latency)", v, pi.name));
    }
    if (h.errors > h.count && h.errors - h.count > slack)
        bad("errors", fmt::format("{} errors in {} calls", h.errors, h.count));
    if (h.comp_ns > UINT64_MAX - h.sum_ns)
        bad("comp_ns", fmt::format("sum_ns {} + comp_ns {} overflows 64 bits", h.sum_ns, h.comp_ns));
}

void validate_snapshot(const Snapshot &s)
{
    bool has_data = !s.cells.empty() || (s.samples && (s.samples->sum().total > 0 || !s.samples->folded.empty()));
    if (!std::isfinite(s.duration_s) || !(s.duration_s >= 0) || s.duration_s > kMaxProfileDuration)
        fail("snapshot.duration_s", fmt::format("{} s is not a plausible profile duration", s.duration_s));
    if (has_data && s.duration_s < kMinProfileDuration)
        fail("snapshot.duration_s", fmt::format("{} s is not a plausible profile duration (a profile with data "
                                                "covers at least {} s)",
                                                s.duration_s, kMinProfileDuration));
    if (s.ncpus < 1 || s.ncpus > kMaxProfileCpus)
        fail("snapshot.ncpus", fmt::format("{} is not a plausible CPU count", s.ncpus));
    std::map<std::string, const PointInfo *, std::less<>> points;
    for (size_t i = 0; i < s.points.size(); i++) {
        const auto &name = s.points[i].name;
        if (name.empty())
            fail(fmt::format("snapshot.points[{}].name", i), "empty point name");
        if (!points.emplace(name, &s.points[i]).second)
            fail(fmt::format("snapshot.points[{}].name", i), fmt::format("point '{}' listed twice", name));
    }
    std::set<std::tuple<std::string_view, std::string_view, int>> seen;
    for (size_t i = 0; i < s.cells.size(); i++) {
        const Cell &c = s.cells[i];
        auto pit = points.find(c.point);
        if (pit == points.end())
            fail(fmt::format("snapshot.cells[{}].point", i),
                 fmt::format("'{}' is not one of the profile's points", c.point));
        if (c.cpu < 0 || c.cpu >= kMaxProfileCpus)
            fail(fmt::format("snapshot.cells[{}].cpu", i), fmt::format("CPU number {} out of range", c.cpu));
        if (!seen.insert({c.point, c.device, c.cpu}).second)
            fail(fmt::format("snapshot.cells[{}]", i),
                 fmt::format("duplicate cell ({}, {}, CPU {})", c.point, c.device, c.cpu));
        validate_hist(fmt::format("snapshot.cells[{}].hist", i), c.hist, *pit->second);
    }
}

}  // namespace

Profile profile_from_json(const json &j)
{
    if (!j.is_object())
        throw Error(kExitUsage, fmt::format("not an iommuprof profile (the JSON document is {} {}, not an object)",
                                            j.is_array() ? "an" : "a", j.type_name()));
    auto fmt_it = j.find("format");
    if (fmt_it == j.end() || !fmt_it->is_string() || fmt_it->get<std::string>() != kProfileFormat)
        throw Error(kExitUsage,
                    fmt::format("not an iommuprof profile (no \"format\": \"{}\" field)", kProfileFormat));
    Profile p;
    int64_t version = get_i64(j, "version");
    if (version < 1)
        fail("version", fmt::format("format version {} is invalid", version));
    if (version > kProfileVersion)
        throw Error(kExitUsage, fmt::format("profile format version {} is newer than this iommuprof ({}) can read "
                                            "(up to version {}); use a newer iommuprof",
                                            version, tool_version(), kProfileVersion));
    p.version = static_cast<int>(version);
    p.tool_version = get_string(j, "tool_version");
    p.created = get_string(j, "created");
    p.label = get_string(j, "label");
    const json &host = get_object(j, "host");
    with_path("host", [&] { from_json(host, p.host); });
    const json &plan = get_array(j, "plan");
    p.plan.reserve(plan.size());
    for (size_t i = 0; i < plan.size(); i++)
        with_path(fmt::format("plan[{}]", i), [&] { p.plan.push_back(plan[i].get<Attachment>()); });
    const json &snap = get_object(j, "snapshot");
    with_path("snapshot", [&] { p.snap = snap.get<Snapshot>(); });
    validate_snapshot(p.snap);
    return p;
}

// ------------------------------------------------------------ file I/O ----

void write_profile(const Profile &p, const std::string &path)
{
    // Host strings (cmdline, log lines, label) may hold invalid UTF-8:
    // replace rather than fail after a long recording.
    std::string text = profile_to_json(p).dump(-1, ' ', false, json::error_handler_t::replace);
    text += '\n';
    write_file_or_rescue(path, gzip_compress(text));
}

Profile parse_profile(std::string_view bytes, const std::string &name)
{
    try {
        JsonShape shape;
        std::string text = gzip_decompress(bytes, kMaxProfileJsonBytes, [&](std::string_view c) { shape.feed(c); });
        json j;
        try {
            j = json::parse(text);
        } catch (const json::parse_error &e) {
            // e.what(): "[json.exception.parse_error.101] parse error at line 1, column 5: ..."
            std::string what = e.what();
            auto pos = what.find("] ");
            throw Error(kExitUsage, fmt::format("not valid JSON inside the gzip data: {}",
                                                pos == std::string::npos ? what : what.substr(pos + 2)));
        }
        return profile_from_json(j);
    } catch (const Error &e) {
        throw Error(kExitUsage, fmt::format("{}: {}", name, e.what()));
    } catch (const std::bad_alloc &) {
        throw Error(kExitUsage, fmt::format("{}: too large to load", name));
    } catch (const std::exception &e) {
        // A reader below (host facts, nlohmann) threw something else.
        throw Error(kExitUsage, fmt::format("{}: invalid profile: {}", name, e.what()));
    }
}

Profile read_profile(const std::string &path)
{
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw Error(kExitUsage, fmt::format("{}: cannot open: {}", path, strerror(errno)));
    struct Closer {
        int fd;
        ~Closer() { close(fd); }
    } closer{fd};
    struct stat st{};
    if (fstat(fd, &st) != 0)
        throw Error(kExitUsage, fmt::format("{}: cannot stat: {}", path, strerror(errno)));
    if (S_ISDIR(st.st_mode))
        throw Error(kExitUsage, fmt::format("{}: is a directory, not a profile file", path));
    std::string bytes;
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw Error(kExitUsage, fmt::format("{}: cannot read: {}", path, strerror(errno)));
        }
        if (n == 0)
            break;
        bytes.append(buf, static_cast<size_t>(n));
        if (bytes.size() > kMaxProfileFileBytes)
            throw Error(kExitUsage, fmt::format("{}: larger than {} MiB, not a plausible profile", path,
                                                kMaxProfileFileBytes >> 20));
    }
    return parse_profile(bytes, path);
}

}  // namespace iommuprof
