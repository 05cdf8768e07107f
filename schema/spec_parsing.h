// What the spec's parsers share for their errors: one message shape,
// "SOURCE: FIELD: what", values shown shortened, and unknown fields named
// with the allowed ones (sweep_spec.cpp, metric_collectors.cpp,
// trial_preset_spec.cpp).
#pragma once

#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <string_view>

namespace lorafarm::schema::spec_parsing {

// Throws SpecError("SOURCE: FIELD: what").
[[noreturn]] void fail(std::string_view source, std::string_view field, const std::string& what);

// `value` as JSON, cut to 80 characters for messages.
std::string shown(const nlohmann::json& value);

// Fails on the first key of `object` not in `allowed`, naming it as
// `where.key` (or `key` when `where` is empty) and listing the allowed ones.
void check_keys(std::string_view source, std::string_view where, const nlohmann::json& object, const std::set<std::string>& allowed);

}  // namespace lorafarm::schema::spec_parsing
