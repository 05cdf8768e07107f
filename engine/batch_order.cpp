// Batch orders: length-sorted groups, seeded shuffles, epochs, skipping ahead.
#include "engine/batch_order.h"

#include <algorithm>
#include <numeric>
#include <sstream>

#include "engine/error.h"

namespace lorafarm::engine {

std::vector<std::vector<std::size_t>> length_sorted_groups(std::span<const std::size_t> lengths, int batch_size,
                                                           bool keep_partial) {
  std::vector<std::size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return lengths[a] < lengths[b]; });
  std::vector<std::vector<std::size_t>> groups;
  const auto size = static_cast<std::size_t>(batch_size);
  for (std::size_t first = 0; first < order.size(); first += size) {
    if (first + size > order.size() && !keep_partial) break;
    groups.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(first),
                        order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), first + size)));
  }
  return groups;
}

void seeded_shuffle(std::vector<std::size_t>& items, std::mt19937_64& rng) {
  for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[rng() % i]);
}

BatchOrder::BatchOrder(std::span<const std::size_t> lengths, int batch_size, uint64_t seed, Kind kind,
                       std::string_view items_name)
    : items_(lengths.size()), batch_size_(batch_size), kind_(kind), rng_(seed) {
  if (batch_size < 1) throw InvalidInput("batch_size must be at least 1");
  if (static_cast<int64_t>(items_) < batch_size) {
    throw InvalidInput("the training set has " + std::to_string(items_) + " " + std::string(items_name) +
                       ", fewer than batch_size " + std::to_string(batch_size));
  }
  if (kind_ == Kind::kSortedGroups) batches_ = length_sorted_groups(lengths, batch_size, false);
}

void BatchOrder::new_epoch() {
  ++epoch_;
  position_ = 0;
  if (kind_ == Kind::kShuffled) {
    std::vector<std::size_t> permutation(items_);
    std::iota(permutation.begin(), permutation.end(), 0);
    seeded_shuffle(permutation, rng_);
    batches_.clear();
    const auto size = static_cast<std::size_t>(batch_size_);
    for (std::size_t first = 0; first + size <= permutation.size(); first += size) {
      batches_.emplace_back(permutation.begin() + static_cast<std::ptrdiff_t>(first),
                            permutation.begin() + static_cast<std::ptrdiff_t>(first + size));
    }
  }
  order_of_batches_.resize(batches_.size());
  std::iota(order_of_batches_.begin(), order_of_batches_.end(), 0);
  // Sorted groups keep their members and change their order; a shuffle already regrouped.
  if (kind_ == Kind::kSortedGroups) seeded_shuffle(order_of_batches_, rng_);
}

void BatchOrder::advance() {
  if (epoch_ < 0 || position_ >= order_of_batches_.size()) new_epoch();
  ++taken_;
}

const std::vector<std::size_t>& BatchOrder::next() {
  advance();
  return batches_[order_of_batches_[position_++]];
}

void BatchOrder::skip(int64_t batches) {
  for (int64_t i = 0; i < batches; ++i) {
    advance();
    ++position_;
  }
}

std::string BatchOrder::rng_state() const {
  std::ostringstream out;
  out << rng_;
  return out.str();
}

}  // namespace lorafarm::engine
