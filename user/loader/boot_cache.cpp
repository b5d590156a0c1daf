#include "boot_cache.hpp"

#include <fmt/core.h>

#include <functional>

#include "iommuprof/json.hpp"
#include "iommuprof/profile.hpp"  // (tool_version)
#include "view_cache.hpp"

namespace iommuprof {

namespace {
constexpr const char *kFile = "boot.json";
}

std::string boot_cache_key()
{
    std::string boot = boot_id();
    return boot.empty() ? "" : fmt::format("v1 {} {}", tool_version(), boot);
}

std::map<std::string, nlohmann::json> read_boot_cache(const std::string &dir, const std::string &key)
{
    std::map<std::string, nlohmann::json> out;
    if (key.empty())
        return out;
    auto text = read_private_file(dir, kFile);
    if (!text)
        return out;
    try {
        auto j = nlohmann::json::parse(*text);
        if (j.at("key").get<std::string>() != key)
            return out;
        for (auto &[name, v] : j.at("entries").items())
            out[name] = v;
    } catch (const std::exception &) {
        out.clear();
    }
    return out;
}

bool write_boot_cache(const std::string &dir, const std::string &key, const std::string &name,
                      const nlohmann::json &value)
{
    if (dir.empty() || key.empty())
        return false;
    nlohmann::json all = nlohmann::json::object();
    for (auto &[n, v] : read_boot_cache(dir, key))
        all[n] = v;
    all[name] = value;
    return write_private_file(dir, kFile, nlohmann::json{{"key", key}, {"entries", all}}.dump());
}

std::string bpf_object_id(std::string_view bpf_object)
{
    return fmt::format("{:x}/{}", std::hash<std::string_view>{}(bpf_object), bpf_object.size());
}

std::string calibration_entry(const std::string &variant, const std::string &object_id)
{
    return fmt::format("calibration {} object {}", variant, object_id);
}

std::optional<Calibration> cached_calibration(const std::map<std::string, nlohmann::json> &entries,
                                              const std::string &name)
{
    auto it = entries.find(name);
    if (it == entries.end())
        return std::nullopt;
    try {
        Calibration c = it->second.get<Calibration>();  // (the profile reader's range checks)
        c.reused = true;
        return c;
    } catch (const std::exception &) {
        return std::nullopt;
    }
}

std::optional<std::pair<bool, std::string>> cached_probe(const std::map<std::string, nlohmann::json> &entries,
                                                         const std::string &name)
{
    auto it = entries.find(name);
    if (it == entries.end() || !it->second.is_object())
        return std::nullopt;
    auto ok = it->second.find("ok"), why = it->second.find("why");
    if (ok == it->second.end() || !ok->is_boolean() || why == it->second.end() || !why->is_string())
        return std::nullopt;
    return std::pair{ok->get<bool>(), why->get<std::string>()};
}

nlohmann::json probe_entry(bool ok, const std::string &why)
{
    return {{"ok", ok}, {"why", why}};
}

}  // namespace iommuprof
