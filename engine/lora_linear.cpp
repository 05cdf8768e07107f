// LoRA / DoRA / trainable linear layers: forward with a cache, analytic backward.
#include "engine/lora_linear.h"

#include <cmath>

#include "engine/error.h"
#include "engine/gemm.h"
#include "engine/quantized_base.h"

namespace lorafarm::engine {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

Matrix dropout_mask(Eigen::Index rows, Eigen::Index cols, float p, uint64_t seed) {
  Matrix mask(rows, cols);
  const float keep = 1.0f / (1.0f - p);
  const auto threshold = static_cast<uint64_t>(static_cast<double>(p) * 18446744073709551616.0);
  const uint64_t base = splitmix64(seed);
  for (Eigen::Index i = 0; i < mask.size(); ++i) {
    mask.data()[i] = splitmix64(base ^ static_cast<uint64_t>(i)) < threshold ? 0.0f : keep;
  }
  return mask;
}

void AdaptedLinear::set_quantized_base(std::shared_ptr<const QuantizedMatrix> quantized) {
  if (train_base_) throw InvalidInput("a quantized base cannot be fine-tuned in full");
  quantized_ = std::move(quantized);
}

Eigen::Index AdaptedLinear::in_features() const {
  return quantized_ ? quantized_base_cols(*quantized_) : base_->in_features();
}

Eigen::Index AdaptedLinear::out_features() const {
  return quantized_ ? quantized_base_rows(*quantized_) : base_->out_features();
}

void AdaptedLinear::add_adapter(const LoraSettings& settings, std::mt19937_64& rng) {
  const Eigen::Index in = in_features(), out = out_features();
  if (settings.rank <= 0 || settings.rank > std::min(in, out)) {
    throw InvalidInput("lora rank " + std::to_string(settings.rank) + " must be between 1 and " +
                       std::to_string(std::min(in, out)) + " for a layer of " + std::to_string(in) + " -> " +
                       std::to_string(out));
  }
  if (settings.dropout < 0 || settings.dropout >= 1) {
    throw InvalidInput("lora dropout " + std::to_string(settings.dropout) + " must be in [0, 1)");
  }
  settings_ = settings;
  const float bound = 1.0f / std::sqrt(static_cast<float>(in));
  std::uniform_real_distribution<float> uniform(-bound, bound);
  lora_a_.resize(in, settings.rank);
  for (Eigen::Index i = 0; i < lora_a_.size(); ++i) lora_a_.data()[i] = uniform(rng);
  lora_b_ = Matrix::Zero(settings.rank, out);
  lora_a_grad_ = Matrix::Zero(in, settings.rank);
  lora_b_grad_ = Matrix::Zero(settings.rank, out);
  if (settings.dora) {
    magnitude_ = base_weight().rowwise().norm();
    magnitude_grad_ = Vector::Zero(out);
  }
  active_rank_ = settings.rank;
  active_scale_ = settings.scale;
}

void AdaptedLinear::set_active_rank(int rank, float scale) {
  if (!has_adapter()) throw InvalidInput("a rank prefix needs a LoRA or DoRA adapter on the layer");
  if (rank < 1 || rank > settings_.rank) {
    throw InvalidInput("rank prefix " + std::to_string(rank) + " must be between 1 and the adapter's rank " +
                       std::to_string(settings_.rank));
  }
  active_rank_ = rank;
  active_scale_ = scale;
}

void AdaptedLinear::make_trainable() {
  if (quantized_) throw InvalidInput("a quantized base cannot be fine-tuned in full");
  train_base_ = true;
  base_->widen();  // full fine-tuning trains (and keeps) float32 weights
  weight_grad_ = Matrix::Zero(base_->weight.rows(), base_->weight.cols());
  if (base_->has_bias()) bias_grad_ = Vector::Zero(base_->bias.size());
}

Matrix AdaptedLinear::base_weight() const {
  return quantized_ ? quantized_base_dense(*quantized_) : base_->dense_weight();
}

void AdaptedLinear::base_product(const Matrix& x, Matrix& y) const {
  if (quantized_) {
    quantized_base_product(*quantized_, x, y);
  } else {
    weight_matmul(x, false, base_->weight_ref(), true, y);
  }
}

void AdaptedLinear::base_transposed_product(const Matrix& g, Matrix& dx) const {
  if (quantized_) {
    quantized_base_input_grad(*quantized_, g, dx);  // dequantized on the fly, a tile at a time
  } else {
    weight_gemm(g, false, base_->weight_ref(), false, dx, 1.0f, 1.0f);
  }
}

Vector AdaptedLinear::adapted_row_norms() const {
  Matrix adapted = base_weight();
  adapted.noalias() += active_scale_ * (lora_a_.leftCols(active_rank_) * lora_b_.topRows(active_rank_)).transpose();
  return adapted.rowwise().norm();
}

void AdaptedLinear::forward(const Matrix& x, Matrix& y, Cache* cache, std::optional<uint64_t> dropout_seed) const {
  base_product(x, y);
  if (has_adapter() && adapter_enabled_) {
    Cache local;
    Cache& c = cache ? *cache : local;
    // Views of the rank prefix in use (the whole adapter unless nested-rank training): no copies.
    const auto a = lora_a_.leftCols(active_rank_);
    const auto b = lora_b_.topRows(active_rank_);
    if (settings_.dropout > 0 && dropout_seed) {  // dropout only while training
      c.dropout_seed = dropout_seed;
      matmul(x.cwiseProduct(dropout_mask(x.rows(), x.cols(), settings_.dropout, *dropout_seed)), false, a, false, c.xa);
    } else {
      c.dropout_seed.reset();
      matmul(x, false, a, false, c.xa);
    }
    gemm(c.xa, false, b, false, y, active_scale_, 1.0f);
    if (is_dora()) {
      c.dora_norm = adapted_row_norms();
      c.dora_scale = magnitude_.cwiseQuotient(c.dora_norm);
      if (cache) c.z = y;
      y.array().rowwise() *= c.dora_scale.transpose().array();
    }
  }
  if (base_->has_bias()) y.rowwise() += base_->bias.transpose();
}

void AdaptedLinear::backward(const Matrix& x, const Cache& cache, const Matrix& dy, Matrix* dx) {
  if (train_base_) {
    gemm(dy, true, x, false, weight_grad_, 1.0f, 1.0f);
    if (base_->has_bias()) bias_grad_ += dy.colwise().sum().transpose();
  }
  if (!has_adapter()) {
    if (dx) base_transposed_product(dy, *dx);
    return;
  }
  // g = dL/dz: the gradient before DoRA's (constant-norm) magnitude scaling.
  Matrix scaled;
  const Matrix* g = &dy;
  if (is_dora()) {
    magnitude_grad_ += (dy.cwiseProduct(cache.z)).colwise().sum().transpose().cwiseQuotient(cache.dora_norm);
    scaled = dy;
    scaled.array().rowwise() *= cache.dora_scale.transpose().array();
    g = &scaled;
  }
  // Only the rank prefix in use takes part, so only it receives gradient.
  const float s = active_scale_;
  const Eigen::Index r = active_rank_;
  const auto a = lora_a_.leftCols(r);
  const auto b = lora_b_.topRows(r);
  auto a_grad = lora_a_grad_.leftCols(r);
  auto b_grad = lora_b_grad_.topRows(r);
  gemm(cache.xa, true, *g, false, b_grad, s, 1.0f);
  Matrix dxa;  // (rows, r)
  matmul(*g, false, b, true, dxa, s);
  Matrix mask;  // the forward's dropout mask, regenerated
  if (cache.dropout_seed) mask = dropout_mask(x.rows(), x.cols(), settings_.dropout, *cache.dropout_seed);
  if (mask.size() > 0) {
    gemm(x.cwiseProduct(mask), true, dxa, false, a_grad, 1.0f, 1.0f);
  } else {
    gemm(x, true, dxa, false, a_grad, 1.0f, 1.0f);
  }
  if (!dx) return;
  base_transposed_product(*g, *dx);
  if (mask.size() > 0) {
    Matrix through_a;
    matmul(dxa, false, a, true, through_a);
    dx->noalias() += through_a.cwiseProduct(mask);
  } else {
    gemm(dxa, false, a, true, *dx, 1.0f, 1.0f);
  }
}

void AdaptedLinear::collect_parameters(const std::string& prefix, std::vector<ParamRef>& out) {
  auto add = [&](const std::string& suffix, std::vector<int64_t> shape, float* value, float* grad, int64_t size) {
    out.push_back({prefix + suffix, std::move(shape), value, grad, size});
  };
  if (train_base_) {
    Matrix& w = base_->weight;
    add(".weight", {w.rows(), w.cols()}, w.data(), weight_grad_.data(), w.size());
    if (base_->has_bias()) add(".bias", {base_->bias.size()}, base_->bias.data(), bias_grad_.data(), base_->bias.size());
  }
  if (has_adapter()) {
    add(".lora_a", {lora_a_.rows(), lora_a_.cols()}, lora_a_.data(), lora_a_grad_.data(), lora_a_.size());
    add(".lora_b", {lora_b_.rows(), lora_b_.cols()}, lora_b_.data(), lora_b_grad_.data(), lora_b_.size());
    if (is_dora()) add(".m", {magnitude_.size()}, magnitude_.data(), magnitude_grad_.data(), magnitude_.size());
  }
}

void AdaptedLinear::zero_grad() {
  weight_grad_.setZero();
  bias_grad_.setZero();
  lora_a_grad_.setZero();
  lora_b_grad_.setZero();
  magnitude_grad_.setZero();
}

Matrix AdaptedLinear::merged_weight() const {
  Matrix w = base_weight();
  if (!has_adapter()) return w;
  w.noalias() += active_scale_ * (lora_a_.leftCols(active_rank_) * lora_b_.topRows(active_rank_)).transpose();
  if (is_dora()) {
    const Vector scale = magnitude_.cwiseQuotient(w.rowwise().norm());
    w.array().colwise() *= scale.array();
  }
  return w;
}

}  // namespace lorafarm::engine
