// The memory breakdown a sweep records per engine trial and the report shows.
// The oracle is arithmetic on the bundled model's config.json (hidden 64,
// intermediate 172, 5 layers, 8 heads of 8, 4 KV heads, vocabulary 512, tied
// embeddings): parameter counts, 4 bytes per float, AdamW's two moments, and
// a 4-bit affine format with one fp32 scale and bias per group of 64.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "test_support.h"

namespace lorafarm::testing {
namespace {

using nlohmann::json;

constexpr double kMiB = 1024.0 * 1024.0;
// Per layer: q 64x64, k 64x32, v 64x32, o 64x64, gate/up 64x172, down 172x64.
constexpr double kLinearParams = 5 * (4096 + 2048 + 2048 + 4096 + 3 * 11008);
constexpr double kOtherParams = 512 * 64 + 5 * 2 * 64 + 64;  // embedding, norms
constexpr double kLoraRank4Params = 5 * 4 * ((64 + 64) + (64 + 32) + (64 + 32) + (64 + 64) + 3 * (64 + 172));

json breakdown_sweep() {
  return {{"name", "memory"},
          {"seed", 3},
          {"model", bundled_model().string()},
          {"data", bundled_data("fortunes").string()},
          {"objective", {{"metric", "val_loss"}, {"direction", "minimize"}}},
          {"budget", {{"trials", 3}}},
          {"search", {{"algorithm", "grid"}, {"shuffle", false}}},
          {"search_space", {{"method", {{"type", "categorical"}, {"values", {"lora", "qlora", "full"}}}}}},
          {"fixed",
           {{"rank", 4}, {"learning_rate", 0.001}, {"iters", 4}, {"batch_size", 2}, {"max_seq_length", 64}, {"steps_per_eval", 100},
            {"quantization", {{"bits", 4}, {"group_size", 64}, {"mode", "affine"}}}, {"test", false}, {"threads", 1}}},
          {"trial", {{"kind", "engine"}, {"timeout_seconds", 300}}}};
}

TEST(MemoryBreakdown, EngineTrialsRecordTheirCategoriesAndTheReportStacksThem) {
  ScratchDir dir;
  write_file(dir / "spec.json", breakdown_sweep().dump());
  const auto db = (dir / "m.db").string();
  const auto sweep = run_lorafarm({"sweep", (dir / "spec.json").string(), "--db", db, "--workers", "2"});
  ASSERT_EQ(sweep.exit_code, 0) << sweep.err;
  const auto report = run_lorafarm({"report", "memory", "--db", db, "--format", "json"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  std::map<std::string, json> rows;
  const json parsed = json::parse(report.out);
  for (const auto& row : parsed.at("memory_breakdown")) rows[row["method"].get<std::string>()] = row;
  ASSERT_EQ(rows.size(), 3u) << report.out;

  const auto mb = [&](const std::string& method, const char* key) { return rows[method]["categories_mb"][key].get<double>(); };
  const double all_floats = (kLinearParams + kOtherParams) * 4 / kMiB;
  EXPECT_DOUBLE_EQ(mb("lora", "base_weights"), all_floats);
  EXPECT_DOUBLE_EQ(mb("lora", "adapter"), kLoraRank4Params * 4 / kMiB);
  EXPECT_DOUBLE_EQ(mb("lora", "gradients"), kLoraRank4Params * 4 / kMiB);
  EXPECT_DOUBLE_EQ(mb("lora", "optimizer_state"), 2 * kLoraRank4Params * 4 / kMiB);
  EXPECT_DOUBLE_EQ(mb("lora", "quantized_weights"), 0);
  EXPECT_DOUBLE_EQ(mb("full", "adapter"), 0);
  EXPECT_DOUBLE_EQ(mb("full", "gradients"), all_floats);
  EXPECT_DOUBLE_EQ(mb("full", "optimizer_state"), 2 * all_floats);
  // QLoRA keeps the embedding, the norms and down_proj (input width 172 is
  // not a multiple of the group size 64) as floats. Each other linear weight
  // is half a byte plus a 4-byte scale and bias per 64 weights, and each of
  // the 30 quantized matrices keeps one more float.
  constexpr double kDownParams = 5 * 11008;
  EXPECT_DOUBLE_EQ(mb("qlora", "base_weights"), (kOtherParams + kDownParams) * 4 / kMiB);
  EXPECT_DOUBLE_EQ(mb("qlora", "quantized_weights"), ((kLinearParams - kDownParams) * (0.5 + 8.0 / 64) + 30 * 4) / kMiB);
  for (const auto& [method, row] : rows) {
    EXPECT_DOUBLE_EQ(mb(method, "reference_model"), 0) << method;
    EXPECT_GT(mb(method, "activations"), 0) << method;
    EXPECT_NEAR(row["other_mb"].get<double>(), row["peak_rss_mb"].get<double>() - row["held_mb"].get<double>(), 1e-9) << method;
    EXPECT_GT(row["other_mb"].get<double>(), 0) << method << ": the process holds more than the engine's categories";
  }

  const auto markdown = run_lorafarm({"report", "memory", "--db", db, "--format", "md"});
  EXPECT_NE(markdown.out.find("#### Memory by category, best trial per method"), std::string::npos) << markdown.out;
  const auto html = run_lorafarm({"report", "memory", "--db", db, "--format", "html"});
  const auto figure = html.out.find("<figure id=\"memory-breakdown\" class=\"plot-figure\">");
  ASSERT_NE(figure, std::string::npos);
  const std::string svg = html.out.substr(figure, html.out.find("</figure>", figure) - figure);
  // One rect per non-zero category per method: lora 5, qlora 6, full 4.
  const std::regex mark("<rect[^>]*class=\"mark\"");
  EXPECT_EQ(std::distance(std::sregex_iterator(svg.begin(), svg.end(), mark), std::sregex_iterator()), 15) << svg;
}

}  // namespace
}  // namespace lorafarm::testing
