// libFuzzer target for the profile reader: any input must either parse or be
// rejected with iommuprof::Error(kExitUsage). Anything else (another
// exception, a crash, a sanitizer report) is a bug.
//
// Each input is tried twice: as the file bytes (gzip layer), and gzip'd first
// so that mutations reach the JSON and schema layers, which the fuzzer could
// hardly reach through deflate. What parses is then pushed through the
// writers and the analyses that consume profiles.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "iommuprof/compare.hpp"
#include "iommuprof/error.hpp"
#include "iommuprof/openmetrics.hpp"
#include "iommuprof/profile.hpp"

using namespace iommuprof;

static void exercise(const Profile &p)
{
    // The reader accepted it: writing it back must read back equal.
    std::string text = profile_to_json(p).dump();
    Profile again = parse_profile(gzip_compress(text), "round-trip");
    if (!(again == p))
        abort();
    Comparison c = compare_profiles(p, again);
    (void)render_compare_text(c);
    (void)compare_to_json(c).dump();
    (void)render_openmetrics(p.snap, p.host, {true, p.label, &p.plan});
}

static void try_parse(std::string_view bytes)
{
    Profile p;
    try {
        p = parse_profile(bytes, "fuzz");
    } catch (const Error &e) {
        if (e.code != kExitUsage)
            abort();
        return;
    }
    exercise(p);  // any exception from here on is a bug
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string_view in(reinterpret_cast<const char *>(data), size);
    try_parse(in);
    if (size < (1u << 20))
        try_parse(gzip_compress(in));
    return 0;
}
