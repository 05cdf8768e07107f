// Test-function definitions (formulas and constants from sfu.ca/~ssurjano).
#include "search/test_functions.h"

#include <cmath>
#include <nlopt.hpp>
#include <numbers>
#include <vector>
#include <stdexcept>

namespace lorafarm::search {
namespace {

constexpr double kPi = std::numbers::pi;

Eigen::VectorXd vec(std::initializer_list<double> v) {
  Eigen::VectorXd x(static_cast<Eigen::Index>(v.size()));
  Eigen::Index i = 0;
  for (double a : v) x(i++) = a;
  return x;
}

double branin_value(const Eigen::VectorXd& x) {
  const double b = 5.1 / (4.0 * kPi * kPi), c = 5.0 / kPi, t = 1.0 / (8.0 * kPi);
  const double u = x(1) - b * x(0) * x(0) + c * x(0) - 6.0;
  return u * u + 10.0 * (1.0 - t) * std::cos(x(0)) + 10.0;
}

// f(x) = -Σ_i α_i exp(-Σ_j A_ij (x_j - P_ij)²)
double hartmann(const Eigen::VectorXd& x, const Eigen::MatrixXd& a, const Eigen::MatrixXd& p) {
  const double alpha[4] = {1.0, 1.2, 3.0, 3.2};
  double sum = 0.0;
  for (int i = 0; i < 4; ++i)
    sum += alpha[i] * std::exp(-(a.row(i).transpose().array() * (x - p.row(i).transpose()).array().square()).sum());
  return -sum;
}

TestFunction make(std::string name, Eigen::VectorXd lower, Eigen::VectorXd upper,
                  std::function<double(const Eigen::VectorXd&)> f, Eigen::VectorXd argmin, int budget) {
  TestFunction t{std::move(name), std::move(lower), std::move(upper), std::move(f), std::move(argmin), 0.0, budget};
  // Published minimisers have ~6 digits; polish so no run can beat "the optimum".
  const auto n = static_cast<unsigned>(t.lower.size());
  nlopt::opt opt(nlopt::LN_BOBYQA, n);
  opt.set_lower_bounds(std::vector<double>(t.lower.data(), t.lower.data() + n));
  opt.set_upper_bounds(std::vector<double>(t.upper.data(), t.upper.data() + n));
  opt.set_min_objective(
      [](const std::vector<double>& v, std::vector<double>&, void* data) {
        const auto* fn = static_cast<const TestFunction*>(data);
        return fn->f(Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(v.size())));
      },
      &t);
  opt.set_initial_step(std::vector<double>(n, 1e-4));
  opt.set_xtol_abs(1e-13);
  opt.set_maxeval(5000);
  std::vector<double> v(t.argmin.data(), t.argmin.data() + n);
  double value = t.f(t.argmin);
  try {
    opt.optimize(v, value);
  } catch (const std::exception&) {
  }
  const Eigen::VectorXd polished = Eigen::Map<const Eigen::VectorXd>(v.data(), n);
  if (t.f(polished) < t.f(t.argmin)) t.argmin = polished;
  t.minimum = t.f(t.argmin);
  return t;
}

}  // namespace

Eigen::VectorXd TestFunction::from_unit(const Eigen::VectorXd& u) const {
  return lower.array() + u.array() * (upper - lower).array();
}

TestFunction branin() {
  return make("branin", vec({-5.0, 0.0}), vec({10.0, 15.0}), branin_value, vec({kPi, 2.275}), 50);
}

TestFunction hartmann3() {
  Eigen::MatrixXd a(4, 3), p(4, 3);
  a << 3.0, 10, 30, 0.1, 10, 35, 3.0, 10, 30, 0.1, 10, 35;
  p << 3689, 1170, 2673, 4699, 4387, 7470, 1091, 8732, 5547, 381, 5743, 8828;
  p *= 1e-4;
  return make("hartmann3", Eigen::VectorXd::Zero(3), Eigen::VectorXd::Ones(3),
              [a, p](const Eigen::VectorXd& x) { return hartmann(x, a, p); }, vec({0.114614, 0.555649, 0.852547}), 50);
}

TestFunction hartmann6() {
  Eigen::MatrixXd a(4, 6), p(4, 6);
  a << 10, 3, 17, 3.5, 1.7, 8, 0.05, 10, 17, 0.1, 8, 14, 3, 3.5, 1.7, 10, 17, 8, 17, 8, 0.05, 10, 0.1, 14;
  p << 1312, 1696, 5569, 124, 8283, 5886, 2329, 4135, 8307, 3736, 1004, 9991, 2348, 1451, 3522, 2883, 3047, 6650,
      4047, 8828, 8732, 5743, 1091, 381;
  p *= 1e-4;
  return make("hartmann6", Eigen::VectorXd::Zero(6), Eigen::VectorXd::Ones(6),
              [a, p](const Eigen::VectorXd& x) { return hartmann(x, a, p); },
              vec({0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573}), 100);
}

TestFunction rosenbrock4() {
  const auto f = [](const Eigen::VectorXd& x) {
    double s = 0.0;
    for (Eigen::Index i = 0; i + 1 < x.size(); ++i)
      s += 100.0 * std::pow(x(i + 1) - x(i) * x(i), 2) + std::pow(x(i) - 1.0, 2);
    return s;
  };
  return make("rosenbrock4", Eigen::VectorXd::Constant(4, -5.0), Eigen::VectorXd::Constant(4, 10.0), f,
              Eigen::VectorXd::Ones(4), 50);
}

// a = 20, b = 0.2, c = 2π.
TestFunction ackley5() {
  const auto f = [](const Eigen::VectorXd& x) {
    const double d = static_cast<double>(x.size());
    const double s1 = x.squaredNorm() / d;
    const double s2 = (2.0 * kPi * x.array()).cos().sum() / d;
    return -20.0 * std::exp(-0.2 * std::sqrt(s1)) - std::exp(s2) + 20.0 + std::numbers::e;
  };
  return make("ackley5", Eigen::VectorXd::Constant(5, -32.768), Eigen::VectorXd::Constant(5, 32.768), f,
              Eigen::VectorXd::Zero(5), 50);
}

// w_i = 1 + (x_i - 1)/4;  f = sin²(πw_1) + Σ_{i<d} (w_i-1)²(1+10 sin²(πw_i+1)) + (w_d-1)²(1+sin²(2πw_d)).
TestFunction levy4() {
  const auto f = [](const Eigen::VectorXd& x) {
    const Eigen::ArrayXd w = 1.0 + (x.array() - 1.0) / 4.0;
    const Eigen::Index d = x.size();
    double s = std::pow(std::sin(kPi * w(0)), 2);
    for (Eigen::Index i = 0; i + 1 < d; ++i)
      s += std::pow(w(i) - 1.0, 2) * (1.0 + 10.0 * std::pow(std::sin(kPi * w(i) + 1.0), 2));
    s += std::pow(w(d - 1) - 1.0, 2) * (1.0 + std::pow(std::sin(2.0 * kPi * w(d - 1)), 2));
    return s;
  };
  return make("levy4", Eigen::VectorXd::Constant(4, -10.0), Eigen::VectorXd::Constant(4, 10.0), f,
              Eigen::VectorXd::Ones(4), 50);
}

std::vector<TestFunction> benchmark_functions() {
  return {branin(), hartmann3(), hartmann6(), rosenbrock4(), ackley5(), levy4()};
}

TestFunction test_function(std::string_view name) {
  for (auto& t : benchmark_functions())
    if (t.name == name) return t;
  throw std::invalid_argument("unknown test function '" + std::string(name) +
                              "' (choices: branin, hartmann3, hartmann6, rosenbrock4, ackley5, levy4)");
}

// Branin rescaled to [0,1]² and the Currin exponential function, both
// minimised (as BoTorch's BraninCurrin with its reference point (18, 6)).
Eigen::Vector2d branin_currin(const Eigen::Vector2d& x) {
  const double f1 = branin_value(vec({15.0 * x(0) - 5.0, 15.0 * x(1)}));
  const double x0 = x(0), x1 = x(1);
  const double factor = 1.0 - std::exp(-1.0 / (2.0 * std::max(x1, 1e-12)));
  const double num = 2300.0 * x0 * x0 * x0 + 1900.0 * x0 * x0 + 2092.0 * x0 + 60.0;
  const double den = 100.0 * x0 * x0 * x0 + 500.0 * x0 * x0 + 4.0 * x0 + 20.0;
  return {f1, factor * num / den};
}

Eigen::Vector2d branin_currin_reference() { return {18.0, 6.0}; }

}  // namespace lorafarm::search

namespace lorafarm::search {
namespace {

struct MixedKind {
  const char* name;
  double offset;      // the kind's best value
  double log10_lr;    // its best log10(learning rate) at its best width
  double log2_width;  // its best log2(width)
  double layers;      // its best layer count
};
// Kind "b" is the best; "d" is a near miss whose optimum sits elsewhere.
constexpr MixedKind kMixedKinds[] = {
    {"a", 0.35, -2.5, 5.0, 4.0}, {"b", 0.0, -3.2, 3.0, 6.0}, {"c", 0.6, -1.8, 6.0, 2.0}, {"d", 0.1, -4.0, 7.0, 7.0}};

double mixed_value(const Params& p) {
  const std::string kind = p.at("kind").get<std::string>();
  const MixedKind* k = &kMixedKinds[0];
  for (const auto& c : kMixedKinds)
    if (kind == c.name) k = &c;
  const double u = std::log2(p.at("width").get<double>());
  const double layers = p.at("layers").get<double>();
  const double x = std::log10(p.at("lr").get<double>());
  const double m = p.at("mix").get<double>();
  // The best learning rate falls as the width grows (a coupling TPE's independent model misses).
  const double lr_term = x - k->log10_lr + 0.25 * (u - k->log2_width);
  const double basins = 0.25 * (1.0 - std::cos(4.0 * kPi * (m - 0.3))) + 0.3 * (m - 0.3) * (m - 0.3);
  return k->offset + 0.6 * lr_term * lr_term + 0.06 * (u - k->log2_width) * (u - k->log2_width) +
         0.04 * (layers - k->layers) * (layers - k->layers) + basins;
}

SearchSpace mixed_space() {
  std::vector<Parameter> ps(5);
  ps[0].name = "kind";
  ps[0].type = ParamType::Categorical;
  ps[0].choices = {"a", "b", "c", "d"};
  ps[1] = {.name = "width", .type = ParamType::Int, .low = 2, .high = 256, .log = true};
  ps[2] = {.name = "layers", .type = ParamType::Int, .low = 1, .high = 8};
  ps[3] = {.name = "lr", .type = ParamType::Float, .low = 1e-5, .high = 1e-1, .log = true};
  ps[4] = {.name = "mix", .type = ParamType::Float, .low = 0.0, .high = 1.0};
  return SearchSpace(std::move(ps));
}

}  // namespace

MixedTestFunction mixed_lora_like() {
  // Every term is ≥ 0 and 0 at kind b, width 2^3, 6 layers, lr 10^-3.2, mix 0.3.
  const Params argmin = {{"kind", "b"}, {"width", 8}, {"layers", 6}, {"lr", std::pow(10.0, -3.2)}, {"mix", 0.3}};
  return {"mixed_lora_like", mixed_space(), mixed_value, argmin, 0.0, 60};
}

}  // namespace lorafarm::search
