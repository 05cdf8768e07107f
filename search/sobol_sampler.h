// Quasi-random search with a Sobol sequence (Joe & Kuo 2008 direction numbers),
// randomised by a digital shift (XOR with a seed-derived vector) so different
// seeds give different but equally uniform designs. Up to kMaxDimensions.
#pragma once

#include <array>
#include <cstdint>

#include "search/sampler.h"

namespace lorafarm::search {

class SobolSequence {
 public:
  static constexpr std::size_t kMaxDimensions = 37;
  static constexpr int kBits = 52;
  explicit SobolSequence(std::size_t dimensions);
  // The index-th point (index 0 is the origin), unshifted, in [0, 1)^dimensions.
  std::vector<double> point(std::uint64_t index) const;
  // The same point as kBits-bit integers.
  std::vector<std::uint64_t> integer_point(std::uint64_t index) const;

 private:
  std::size_t dimensions_;
  std::vector<std::array<std::uint64_t, kBits>> directions_;  // v_k scaled to kBits bits
};

class SobolSampler : public Sampler {
 public:
  SobolSampler(SearchSpace space, std::uint64_t seed);
  std::vector<Params> suggest(int n, std::span<const Observation> history) override;
  std::string name() const override { return "sobol"; }
  Params point(std::uint64_t index) const;

 private:
  SearchSpace space_;
  SobolSequence sequence_;
  std::vector<std::uint64_t> shift_;
};

}  // namespace lorafarm::search
