// Which training items each batch takes, epoch after epoch: the order shared
// by plain samples (engine/dataset.h) and preference pairs
// (engine/preference_data.h), and saved by training checkpoints.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lorafarm::engine {

// Groups of `batch_size` item indices in order of `lengths` (stable, as
// mlx-lm sorts); the last incomplete group is kept only when keep_partial.
std::vector<std::vector<std::size_t>> length_sorted_groups(std::span<const std::size_t> lengths, int batch_size,
                                                           bool keep_partial);

// Seeded Fisher–Yates with rng() % n: the same order on every platform.
void seeded_shuffle(std::vector<std::size_t>& items, std::mt19937_64& rng);

// An endless sequence of batches of item indices: every epoch visits the
// length-sorted groups in a fresh seeded order ("sorted", as mlx-lm), or
// regroups a seeded permutation of the items ("shuffle", as the fortunes
// reference runs).
class BatchOrder {
 public:
  enum class Kind { kSortedGroups, kShuffled };
  // The config's batch_order: "shuffle" is kShuffled, anything else ("sorted") kSortedGroups.
  static Kind kind_named(std::string_view name) { return name == "shuffle" ? Kind::kShuffled : Kind::kSortedGroups; }

  // `lengths`: one per item (the sort key of kSortedGroups). Fewer items than
  // batch_size is an InvalidInput naming `items_name` ("samples", ...).
  BatchOrder(std::span<const std::size_t> lengths, int batch_size, uint64_t seed, Kind kind,
             std::string_view items_name);

  // The item indices of the next batch.
  const std::vector<std::size_t>& next();
  int64_t epoch() const { return epoch_; }

  // Checkpoints: batches handed out so far, the generator's state
  // (std::mt19937_64's text form), and skipping ahead to a saved position
  // (the same order as taking the batches).
  int64_t taken() const { return taken_; }
  std::string rng_state() const;
  void skip(int64_t batches);

 private:
  void advance();
  void new_epoch();

  std::size_t items_;
  int batch_size_;
  Kind kind_;
  std::mt19937_64 rng_;
  std::vector<std::vector<std::size_t>> batches_;
  std::vector<std::size_t> order_of_batches_;
  std::size_t position_ = 0;
  int64_t epoch_ = -1;
  int64_t taken_ = 0;
};

}  // namespace lorafarm::engine
