// Sobol points by the direct (non-Gray-code) construction:
//   x_i = XOR over set bits k of i of v_k, with v_k = m_k / 2^k,
//   m_k = 2 a_1 m_{k-1} ^ 4 a_2 m_{k-2} ^ ... ^ 2^s m_{k-s} ^ m_{k-s}
// for the primitive polynomial x^s + a_1 x^{s-1} + ... + a_{s-1} x + 1.
// Initial m_1..m_s and the coefficients a (as an integer, a_1 the high bit) are
// the first rows of S. Joe and F. Y. Kuo, "Constructing Sobol sequences with
// better two-dimensional projections", SIAM J. Sci. Comput. 30 (2008), file
// new-joe-kuo-6.21201; dimension 1 is the van der Corput sequence (all m = 1).
#include "search/sobol_sampler.h"

#include <stdexcept>

namespace lorafarm::search {
namespace {

struct DirectionRow {
  int s;
  unsigned a;
  std::array<unsigned, 8> m;
};

// Dimensions 2..37 of new-joe-kuo-6.21201: s, a, m_1..m_s.
constexpr DirectionRow kJoeKuo[] = {
    {1, 0, {1}},
    {2, 1, {1, 3}},
    {3, 1, {1, 3, 1}},
    {3, 2, {1, 1, 1}},
    {4, 1, {1, 1, 3, 3}},
    {4, 4, {1, 3, 5, 13}},
    {5, 2, {1, 1, 5, 5, 17}},
    {5, 4, {1, 1, 5, 5, 5}},
    {5, 7, {1, 1, 7, 11, 19}},
    {5, 11, {1, 1, 5, 1, 1}},
    {5, 13, {1, 1, 1, 3, 11}},
    {5, 14, {1, 3, 5, 5, 31}},
    {6, 1, {1, 3, 3, 9, 7, 49}},
    {6, 13, {1, 1, 1, 15, 21, 21}},
    {6, 16, {1, 3, 1, 13, 27, 49}},
    {6, 19, {1, 1, 1, 15, 7, 5}},
    {6, 22, {1, 3, 1, 15, 13, 25}},
    {6, 25, {1, 1, 5, 5, 19, 61}},
    {7, 1, {1, 3, 7, 11, 23, 15, 103}},
    {7, 4, {1, 3, 7, 13, 13, 15, 69}},
    {7, 7, {1, 1, 3, 13, 7, 35, 63}},
    {7, 8, {1, 3, 5, 9, 1, 25, 53}},
    {7, 14, {1, 3, 1, 13, 9, 35, 107}},
    {7, 19, {1, 3, 1, 5, 27, 61, 31}},
    {7, 21, {1, 1, 5, 11, 19, 41, 61}},
    {7, 28, {1, 3, 5, 3, 3, 13, 69}},
    {7, 31, {1, 1, 7, 13, 1, 19, 1}},
    {7, 32, {1, 3, 7, 5, 13, 19, 59}},
    {7, 37, {1, 1, 3, 9, 25, 29, 41}},
    {7, 41, {1, 3, 5, 13, 23, 1, 55}},
    {7, 42, {1, 3, 7, 3, 13, 59, 17}},
    {7, 50, {1, 3, 1, 3, 5, 53, 69}},
    {7, 55, {1, 1, 5, 5, 23, 33, 13}},
    {7, 56, {1, 1, 7, 7, 1, 61, 123}},
    {7, 59, {1, 1, 7, 9, 13, 61, 49}},
    {7, 62, {1, 3, 3, 5, 3, 55, 33}},
};
static_assert(std::size(kJoeKuo) + 1 == SobolSequence::kMaxDimensions);

}  // namespace

SobolSequence::SobolSequence(std::size_t dimensions) : dimensions_(dimensions), directions_(dimensions) {
  if (dimensions > kMaxDimensions) {
    throw std::invalid_argument("sobol: the search space has " + std::to_string(dimensions) + " parameters; at most " +
                                std::to_string(kMaxDimensions) + " are supported (use the random sampler)");
  }
  for (std::size_t d = 0; d < dimensions; ++d) {
    std::array<std::uint64_t, kBits> m{};
    if (d == 0) {
      m.fill(1);
    } else {
      const auto& row = kJoeKuo[d - 1];
      for (int k = 0; k < row.s; ++k) m[k] = row.m[k];
      for (int k = row.s; k < kBits; ++k) {
        std::uint64_t value = m[k - row.s] ^ (m[k - row.s] << row.s);
        for (int j = 1; j < row.s; ++j) {
          const unsigned a_j = (row.a >> (row.s - 1 - j)) & 1u;
          if (a_j) value ^= m[k - j] << j;
        }
        m[k] = value;
      }
    }
    // v_k = m_k / 2^(k+1) (k from 0), stored as an integer over 2^kBits.
    for (int k = 0; k < kBits; ++k) directions_[d][k] = m[k] << (kBits - 1 - k);
  }
}

std::vector<std::uint64_t> SobolSequence::integer_point(std::uint64_t index) const {
  std::vector<std::uint64_t> x(dimensions_, 0);
  for (int k = 0; index != 0 && k < kBits; ++k, index >>= 1) {
    if (!(index & 1u)) continue;
    for (std::size_t d = 0; d < dimensions_; ++d) x[d] ^= directions_[d][k];
  }
  return x;
}

std::vector<double> SobolSequence::point(std::uint64_t index) const {
  const auto x = integer_point(index);
  std::vector<double> u(x.size());
  for (std::size_t d = 0; d < x.size(); ++d) u[d] = static_cast<double>(x[d]) * 0x1.0p-52;
  return u;
}

SobolSampler::SobolSampler(SearchSpace space, std::uint64_t seed)
    : space_(std::move(space)), sequence_(space_.dimensions()) {
  for (std::size_t d = 0; d < space_.dimensions(); ++d) shift_.push_back(mix_seed(seed, d) >> (64 - SobolSequence::kBits));
}

Params SobolSampler::point(std::uint64_t index) const {
  auto x = sequence_.integer_point(index);
  std::vector<double> u(x.size());
  for (std::size_t d = 0; d < x.size(); ++d) u[d] = static_cast<double>(x[d] ^ shift_[d]) * 0x1.0p-52;
  return space_.decode(u);
}

std::vector<Params> SobolSampler::suggest(int n, std::span<const Observation> history) {
  std::vector<Params> out;
  for (int i = 0; i < n; ++i) out.push_back(point(history.size() + static_cast<std::uint64_t>(i)));
  return out;
}

}  // namespace lorafarm::search
