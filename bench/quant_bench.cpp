// Quantization benchmark: memory of the `medium` preset's linear weights in
// float32 vs 4-bit/8-bit affine and NF4 (computed bytes, and the measured peak
// RSS of a child process that builds the model), and the throughput of the
// fused dequantize-and-multiply products against the dense Eigen GEMM.
// Prints one JSON object.
//
//   quant_bench [--threads N] [--rows R] [--repeats K] [--no-rss]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/quantized_model_io.h"

using namespace lorafarm::engine;
using nlohmann::json;

namespace {

struct Args {
  int threads = 0;
  int rows = 1024;  // batch 4 × 256 tokens
  int repeats = 5;
  bool rss = true;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "quant_bench: " << why << "\nusage: quant_bench [--threads N] [--rows R] [--repeats K] [--no-rss]\n";
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&] {
      if (i + 1 >= argc) usage(arg + " needs a value");
      return std::atoi(argv[++i]);
    };
    if (arg == "--threads") a.threads = value();
    else if (arg == "--rows") a.rows = value();
    else if (arg == "--repeats") a.repeats = value();
    else if (arg == "--no-rss") a.rss = false;
    else usage("unknown option " + arg);
  }
  if (a.rows <= 0 || a.repeats <= 0) usage("--rows and --repeats must be positive");
  return a;
}

struct Format {
  std::string name;
  QuantizationConfig config;
};

const std::vector<Format>& formats() {
  static const std::vector<Format> f = {
      {"affine4_g64", {QuantizationConfig::Mode::kAffine, 4, 64}},
      {"affine8_g64", {QuantizationConfig::Mode::kAffine, 8, 64}},
      {"nf4_b64", {QuantizationConfig::Mode::kNf4, 4, 64}},
  };
  return f;
}

// Peak RSS (bytes) of a child that builds the medium model in `format`
// ("float32" or a quantized format) and keeps it alive.
int64_t child_peak_rss(const std::string& format) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    // ru_maxrss is the high-water mark, so it still counts the model after it is freed.
    const ModelConfig config = preset_config("medium");
    if (format == "float32") {
      Model::random(config, 1);
    } else {
      for (const auto& f : formats()) {
        if (f.name == format) random_quantized_model(config, 1, f.config);
      }
    }
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const int64_t peak = static_cast<int64_t>(usage.ru_maxrss) * 1024;
    if (write(fds[1], &peak, sizeof peak) != sizeof peak) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  int64_t peak = -1;
  if (read(fds[0], &peak, sizeof peak) != sizeof peak) peak = -1;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return peak;
}

Matrix random_matrix(int64_t rows, int64_t cols, float stddev, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, stddev);
  Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
  return m;
}

template <typename F>
double best_seconds(int repeats, F&& f) {
  f();  // warm-up
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

json memory_report() {
  const ModelConfig config = preset_config("medium");
  const int64_t h = config.hidden_size, q = int64_t{config.num_heads} * config.head_dim;
  const int64_t kv = int64_t{config.num_kv_heads} * config.head_dim, ff = config.intermediate_size;
  const int64_t float_bytes = (h * q + 2 * h * kv + q * h + 3 * h * ff) * config.num_layers * 4;
  json out = {{"model", "medium"}, {"linear_bytes", {{"float32", float_bytes}}}};
  for (const auto& f : formats()) {
    const QuantizedModel qm = random_quantized_model(config, 1, f.config);
    out["linear_bytes"][f.name] = qm.quantized_bytes();
    out["bits_per_weight"][f.name] = 32.0 * static_cast<double>(qm.quantized_bytes()) / static_cast<double>(float_bytes);
  }
  return out;
}

json throughput_report(const Args& args) {
  const ModelConfig config = preset_config("medium");
  struct Shape {
    const char* name;
    int64_t out, in;
  };
  const std::vector<Shape> shapes = {{"q_proj", config.hidden_size, config.hidden_size},
                                     {"gate_proj", config.intermediate_size, config.hidden_size},
                                     {"down_proj", config.hidden_size, config.intermediate_size}};
  json out = json::array();
  for (const auto& s : shapes) {
    const Matrix w = random_matrix(s.out, s.in, 0.02f, 1);
    const Matrix x = random_matrix(args.rows, s.in, 1.0f, 2);
    const Matrix dy = random_matrix(args.rows, s.out, 1.0f, 3);
    const double flops = 2.0 * args.rows * s.out * s.in;
    Matrix y, dx;
    json row = {{"layer", s.name}, {"out", s.out}, {"in", s.in}, {"rows", args.rows}};
    row["dense_forward_gflops"] = flops / best_seconds(args.repeats, [&] { y.noalias() = x * w.transpose(); }) / 1e9;
    row["dense_backward_gflops"] = flops / best_seconds(args.repeats, [&] { dx.noalias() = dy * w; }) / 1e9;
    for (const auto& f : formats()) {
      const QuantizedMatrix q = QuantizedMatrix::quantize(w, f.config);
      row[f.name + "_forward_gflops"] = flops / best_seconds(args.repeats, [&] { q.multiply_transposed(x, y); }) / 1e9;
      row[f.name + "_backward_gflops"] = flops / best_seconds(args.repeats, [&] { q.multiply(dy, dx); }) / 1e9;
    }
    // One token (generation): dequantization dominates.
    const Matrix x1 = x.topRows(1);
    const QuantizedMatrix q4 = QuantizedMatrix::quantize(w, formats()[0].config);
    row["single_row_dense_us"] = 1e6 * best_seconds(args.repeats * 4, [&] { y.noalias() = x1 * w.transpose(); });
    row["single_row_affine4_us"] = 1e6 * best_seconds(args.repeats * 4, [&] { q4.multiply_transposed(x1, y); });
    out.push_back(row);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  json report = {{"benchmark", "quant_bench"}};
  // Children first, while this process is still small.
  if (args.rss) {
    json rss = {{"float32", child_peak_rss("float32")}};
    for (const auto& f : formats()) rss[f.name] = child_peak_rss(f.name);
    report["peak_rss_bytes_building_medium"] = rss;
  }
  set_num_threads(args.threads);
  report["threads"] = num_threads();
  report["memory"] = memory_report();
  report["throughput"] = throughput_report(args);
  std::cout << report.dump(2) << "\n";
  return 0;
}
