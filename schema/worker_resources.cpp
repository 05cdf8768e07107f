// Worker offers, allocations and the size/device-list syntax of `lorafarm worker`.
#include "schema/worker_resources.h"

#include <cctype>
#include <cmath>
#include <set>
#include <stdexcept>

namespace lorafarm::schema {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxDevices = 1024;
constexpr std::size_t kMaxDeviceIdBytes = 128;

bool is_device_list(const json& v) {
  if (!v.is_array() || v.size() > kMaxDevices) return false;
  std::set<std::string> seen;
  for (const auto& d : v) {
    if (!d.is_string() || d.get_ref<const std::string&>().empty() || d.get_ref<const std::string&>().size() > kMaxDeviceIdBytes) return false;
    if (!seen.insert(d.get<std::string>()).second) return false;
  }
  return true;
}

bool is_count(const json& v) { return v.is_number_integer() && v.get<std::int64_t>() >= 0 && v.get<std::int64_t>() <= (1LL << 40); }

// Checks the fields of a resources object; `allowed` are its keys.
std::optional<std::string> resources_problem(const json& r, bool fractional_memory) {
  if (!r.is_object()) return "must be an object {\"gpus\": [...], \"memory_mb\": N, \"cpus\": N}";
  for (const auto& [key, value] : r.items()) {
    if (key == "gpus") {
      if (!is_device_list(value)) return "gpus: must be an array of distinct non-empty device ids (strings, at most 1024)";
    } else if (key == "memory_mb") {
      const bool ok = fractional_memory ? value.is_number() && std::isfinite(value.get<double>()) && value.get<double>() >= 0 : is_count(value);
      if (!ok) return std::string("memory_mb: must be ") + (fractional_memory ? "a number >= 0" : "an integer >= 0");
    } else if (key == "cpus") {
      if (!is_count(value)) return "cpus: must be an integer >= 0";
    }  // other fields are ignored: newer peers may add some
  }
  return std::nullopt;
}

}  // namespace

json WorkerOffer::to_json() const {
  json r = json::object();
  if (!gpus.empty()) r["gpus"] = gpus;
  if (memory_mb) r["memory_mb"] = *memory_mb;
  if (cpus) r["cpus"] = *cpus;
  return r;
}

WorkerOffer WorkerOffer::from_json(const json& r) {
  WorkerOffer offer;
  if (r.contains("gpus")) offer.gpus = r["gpus"].get<std::vector<std::string>>();
  if (r.contains("memory_mb")) offer.memory_mb = r["memory_mb"].get<std::int64_t>();
  if (r.contains("cpus")) offer.cpus = r["cpus"].get<int>();
  return offer;
}

std::optional<std::string> offer_problem(const json& resources) { return resources_problem(resources, false); }
std::optional<std::string> allocation_problem(const json& resources) { return resources_problem(resources, true); }

json Allocation::to_json() const {
  json r{{"memory_mb", memory_mb}, {"cpus", cpus}};
  if (gpus) r["gpus"] = *gpus;
  return r;
}

Allocation Allocation::from_json(const json& r) {
  Allocation a;
  if (!r.is_object()) return a;
  if (r.contains("gpus")) a.gpus = r["gpus"].get<std::vector<std::string>>();
  a.memory_mb = r.value("memory_mb", 0.0);
  a.cpus = r.value("cpus", 0);
  return a;
}

std::int64_t parse_memory_size(std::string_view text) {
  const auto bad = [&] {
    return std::invalid_argument("memory size '" + std::string(text) + "' is not valid; use a number with a unit, e.g. 512M, 16G, 1.5T (plain numbers are MB)");
  };
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(std::string(text), &used);
  } catch (const std::exception&) {
    throw bad();
  }
  std::string unit(text.substr(used));
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit.size() == 2 && unit[1] == 'B') unit.pop_back();  // "16GB" reads as "16G"
  double scale = 0;
  if (unit.empty() || unit == "M") scale = 1;
  else if (unit == "G") scale = 1024;
  else if (unit == "T") scale = 1024.0 * 1024;
  if (scale == 0 || !std::isfinite(value) || value <= 0 || value * scale > double(1LL << 40)) throw bad();
  return static_cast<std::int64_t>(std::floor(value * scale));
}

std::vector<std::string> parse_device_list(std::string_view text) {
  std::vector<std::string> ids;
  std::set<std::string> seen;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    std::string id(text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    while (!id.empty() && std::isspace(static_cast<unsigned char>(id.back()))) id.pop_back();
    while (!id.empty() && std::isspace(static_cast<unsigned char>(id.front()))) id.erase(id.begin());
    if (id.empty()) throw std::invalid_argument("device list '" + std::string(text) + "' has an empty entry; use e.g. 0,1,2,3");
    if (id.size() > kMaxDeviceIdBytes) throw std::invalid_argument("device id '" + id.substr(0, 40) + "...' is longer than 128 bytes");
    if (!seen.insert(id).second) throw std::invalid_argument("device list '" + std::string(text) + "' names device " + id + " twice");
    ids.push_back(id);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return ids;
}

}  // namespace lorafarm::schema
