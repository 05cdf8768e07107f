// Resources: the worker's --memory/--gpus syntax, HELLO and ASSIGN resource
// fields on the wire, and the spec's trial.resources.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "schema/messages.h"
#include "schema/sweep_spec.h"
#include "schema/trial_resources.h"
#include "schema/worker_resources.h"

namespace lorafarm::schema {
namespace {

using nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(WorkerResources, MemorySizesReadAsMegabytes) {
  EXPECT_EQ(parse_memory_size("512M"), 512);
  EXPECT_EQ(parse_memory_size("16G"), 16 * 1024);
  EXPECT_EQ(parse_memory_size("16gb"), 16 * 1024);
  EXPECT_EQ(parse_memory_size("1.5G"), 1536);
  EXPECT_EQ(parse_memory_size("2T"), 2 * 1024 * 1024);
  EXPECT_EQ(parse_memory_size("4000"), 4000);
  for (const char* bad : {"", "G", "-1G", "0", "12Q", "1e400G", "16 G x"}) {
    try {
      parse_memory_size(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), AllOf(HasSubstr("memory size"), HasSubstr("16G")));
    }
  }
}

TEST(WorkerResources, DeviceListsAreDistinctNonEmptyIds) {
  EXPECT_EQ(parse_device_list("0,1,2,3"), (std::vector<std::string>{"0", "1", "2", "3"}));
  EXPECT_EQ(parse_device_list(" 2, GPU-8f3a "), (std::vector<std::string>{"2", "GPU-8f3a"}));
  EXPECT_THROW(parse_device_list("0,,1"), std::invalid_argument);
  EXPECT_THROW(parse_device_list(""), std::invalid_argument);
  try {
    parse_device_list("0,1,0");
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("device 0 twice"));
  }
}

json hello_with(const json& resources) {
  return {{"worker_id", "w"}, {"host", "h"}, {"slots", 2}, {"version", "1"}, {"resources", resources}};
}

std::string hello_error(const json& resources) {
  const auto body = hello_with(resources).dump();
  std::array<std::string_view, 3> frames{kProtocolVersion, "HELLO", body};
  try {
    decode(frames);
  } catch (const ProtocolError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(WorkerResources, HelloCarriesAnOfferAndOldHellosStillParse) {
  const WorkerOffer offer{{"0", "1"}, 16384, 8};
  EXPECT_EQ(hello_error(offer.to_json()), "(no error)");
  const auto back = WorkerOffer::from_json(offer.to_json());
  EXPECT_EQ(back.gpus, offer.gpus);
  EXPECT_EQ(back.memory_mb, offer.memory_mb);
  EXPECT_EQ(back.cpus, offer.cpus);
  // A HELLO without resources (an older worker) is still valid; so is a field we do not know.
  json old = hello_with({});
  old.erase("resources");
  std::string text = old.dump();
  std::array<std::string_view, 3> frames{kProtocolVersion, "HELLO", text};
  EXPECT_NO_THROW(decode(frames));
  EXPECT_EQ(hello_error({{"tpus", 4}}), "(no error)");
}

TEST(WorkerResources, MalformedOffersAreRejectedNamingTheField) {
  EXPECT_THAT(hello_error({{"gpus", "0,1"}}), AllOf(HasSubstr("HELLO.resources"), HasSubstr("gpus")));
  EXPECT_THAT(hello_error({{"gpus", {"0", "0"}}}), HasSubstr("distinct"));
  EXPECT_THAT(hello_error({{"memory_mb", -5}}), AllOf(HasSubstr("HELLO.resources"), HasSubstr("memory_mb")));
  EXPECT_THAT(hello_error({{"memory_mb", 1.5}}), HasSubstr("memory_mb: must be an integer"));
  EXPECT_THAT(hello_error({{"cpus", "8"}}), HasSubstr("cpus"));
  EXPECT_THAT(hello_error(json::array()), HasSubstr("HELLO.resources"));
}

TEST(WorkerResources, AnAssignCarriesTheAllocation) {
  const Allocation held{std::vector<std::string>{"1"}, 3000.5, 2};
  json body{{"trial", 0}, {"attempt", 1}, {"experiment", "e"}, {"seed", 1}, {"params", json::object()}, {"kind", "command"},
            {"command", {"true"}}, {"objective", "val_loss"}, {"resources", held.to_json()}};
  std::string text = body.dump();
  std::array<std::string_view, 3> frames{kProtocolVersion, "ASSIGN", text};
  const auto back = Allocation::from_json(decode(frames).body["resources"]);
  EXPECT_EQ(back.gpus, held.gpus);
  EXPECT_EQ(back.memory_mb, 3000.5);
  EXPECT_EQ(back.cpus, 2);
  body["resources"] = {{"gpus", 1}};
  text = body.dump();
  std::array<std::string_view, 3> bad{kProtocolVersion, "ASSIGN", text};
  try {
    decode(bad);
    ADD_FAILURE() << "accepted gpus: 1";
  } catch (const ProtocolError& e) {
    EXPECT_THAT(e.what(), HasSubstr("ASSIGN.resources: gpus"));
  }
}

SweepSpec spec_with_resources(const json& resources) {
  const json doc{{"name", "r"},
                 {"budget", {{"trials", 1}}},
                 {"search_space", {{"mem", {{"type", "int"}, {"low", 100}, {"high", 900}}},
                                   {"opt", {{"type", "categorical"}, {"values", {"a", "b"}}}}}},
                 {"trial", {{"kind", "command"}, {"command", "true"}, {"resources", resources}}}};
  return parse_sweep_spec(doc.dump(), "/tmp", "spec.json");
}

std::string spec_error(const json& resources) {
  try {
    spec_with_resources(resources);
  } catch (const SpecError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TrialResources, FixedAmountsAndParameterReferencesResolvePerTrial) {
  const auto spec = spec_with_resources({{"gpus", 1}, {"memory_mb", "mem"}, {"cpus", 2}});
  const auto need = resolve_resources(spec.trial.resources, {{"mem", 300}, {"opt", "a"}});
  EXPECT_EQ(need.gpus, 1);
  EXPECT_EQ(need.memory_mb, 300);
  EXPECT_EQ(need.cpus, 2);
  EXPECT_THROW(resolve_resources(spec.trial.resources, {{"opt", "a"}}), std::invalid_argument);  // mem absent
  const auto none = resolve_resources(spec_with_resources(json::object()).trial.resources, json::object());
  EXPECT_FALSE(none.gpus);
  EXPECT_EQ(none.memory_mb, 0);
}

TEST(TrialResources, MistakesNameTheField) {
  EXPECT_THAT(spec_error({{"gpu", 1}}), AllOf(HasSubstr("trial.resources.gpu"), HasSubstr("unknown field"), HasSubstr("memory_mb")));
  EXPECT_THAT(spec_error({{"gpus", 1.5}}), AllOf(HasSubstr("trial.resources.gpus"), HasSubstr("integer")));
  EXPECT_THAT(spec_error({{"memory_mb", -1}}), HasSubstr("trial.resources.memory_mb"));
  EXPECT_THAT(spec_error({{"cpus", "threads"}}), AllOf(HasSubstr("trial.resources.cpus"), HasSubstr("'threads' is not a search_space parameter")));
  EXPECT_THAT(spec_error({{"cpus", "opt"}}), HasSubstr("'opt' is not numeric"));
  EXPECT_THAT(spec_error(4), HasSubstr("trial.resources: must be an object"));
}

}  // namespace
}  // namespace lorafarm::schema
