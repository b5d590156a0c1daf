// Profile files: gzip'd JSON, written atomically, read defensively.
// Schema: docs/profile-format.md.
#include "iommuprof/profile.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
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

#ifndef IOMMUPROF_VERSION
#define IOMMUPROF_VERSION "0.1.0"
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

std::string gzip_decompress(std::string_view gz, size_t max_out)
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
    char buf[1 << 16];
    for (;;) {
        zs.next_out = reinterpret_cast<Bytef *>(buf);
        zs.avail_out = sizeof buf;
        int r = inflate(&zs, Z_NO_FLUSH);
        out.append(buf, sizeof buf - zs.avail_out);
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

// --------------------------------------------------------- atomic write ----

namespace {

std::string dir_of(const std::string &path)
{
    auto slash = path.rfind('/');
    if (slash == std::string::npos)
        return ".";
    if (slash == 0)
        return "/";
    return path.substr(0, slash);
}

std::string base_of(const std::string &path)
{
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

[[noreturn]] void io_fail(const std::string &path, const std::string &what, int err)
{
    throw Error(kExitRuntime, fmt::format("{}: {}: {}", path, what, strerror(err)));
}

// Creates the temp file next to `path`; returns fd, fills `tmp`.
int make_temp(const std::string &path, std::string &tmp)
{
    if (path.empty() || path.back() == '/')
        throw Error(kExitUsage, fmt::format("'{}': not a file name", path));
    struct stat st{};
    if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        throw Error(kExitUsage, fmt::format("{}: is a directory", path));
    tmp = dir_of(path) + "/." + base_of(path) + ".tmp.XXXXXX";
    int fd = mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0)
        io_fail(path, fmt::format("cannot create a file in {}", dir_of(path)), errno);
    return fd;
}

}  // namespace

void write_file_atomic(const std::string &path, std::string_view data)
{
    std::string tmp;
    int fd = make_temp(path, tmp);
    auto fail = [&](const char *what, int err) {
        if (fd >= 0)
            close(fd);
        unlink(tmp.c_str());
        io_fail(path, what, err);
    };
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0)
        fail("chmod", errno);
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail("write", errno);
        }
        off += static_cast<size_t>(n);
    }
    if (fsync(fd) != 0)
        fail("fsync", errno);
    int c = close(fd);
    fd = -1;
    if (c != 0)
        fail("close", errno);
    if (rename(tmp.c_str(), path.c_str()) != 0)
        fail("rename", errno);
    // Make the rename itself durable; failure here does not undo the write.
    int dfd = open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

void check_writable(const std::string &path)
{
    std::string tmp;
    int fd = make_temp(path, tmp);
    close(fd);
    unlink(tmp.c_str());
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

void validate_snapshot(const Snapshot &s)
{
    if (!(s.duration_s >= 0) || s.duration_s > kMaxProfileDuration)
        fail("snapshot.duration_s", fmt::format("{} s is not a plausible profile duration", s.duration_s));
    if (s.ncpus < 1 || s.ncpus > kMaxProfileCpus)
        fail("snapshot.ncpus", fmt::format("{} is not a plausible CPU count", s.ncpus));
    std::set<std::string> names;
    for (size_t i = 0; i < s.points.size(); i++) {
        const auto &name = s.points[i].name;
        if (name.empty())
            fail(fmt::format("snapshot.points[{}].name", i), "empty point name");
        if (!names.insert(name).second)
            fail(fmt::format("snapshot.points[{}].name", i), fmt::format("point '{}' listed twice", name));
    }
    std::set<std::tuple<std::string, std::string, int>> seen;
    for (size_t i = 0; i < s.cells.size(); i++) {
        const Cell &c = s.cells[i];
        if (!names.count(c.point))
            fail(fmt::format("snapshot.cells[{}].point", i),
                 fmt::format("'{}' is not one of the profile's points", c.point));
        if (c.cpu >= kMaxProfileCpus)
            fail(fmt::format("snapshot.cells[{}].cpu", i), fmt::format("CPU number {} out of range", c.cpu));
        if (!seen.insert({c.point, c.device, c.cpu}).second)
            fail(fmt::format("snapshot.cells[{}]", i),
                 fmt::format("duplicate cell ({}, {}, CPU {})", c.point, c.device, c.cpu));
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

namespace {
// A profile nests 6 levels deep; refuse pathological nesting early.
constexpr int kMaxDepth = 64;
}  // namespace

void write_profile(const Profile &p, const std::string &path)
{
    // Host strings (cmdline, log lines, label) may hold invalid UTF-8:
    // replace rather than fail after a long recording.
    std::string text = profile_to_json(p).dump(-1, ' ', false, json::error_handler_t::replace);
    text += '\n';
    write_file_atomic(path, gzip_compress(text));
}

Profile parse_profile(std::string_view bytes, const std::string &name)
{
    try {
        std::string text = gzip_decompress(bytes);
        json j;
        try {
            j = json::parse(text, [](int depth, json::parse_event_t, json &) {
                if (depth > kMaxDepth)
                    throw JsonError("", fmt::format("JSON nested deeper than {} levels", kMaxDepth));
                return true;
            });
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
