// Reading and writing the safetensors format
// (https://github.com/huggingface/safetensors: an 8-byte little-endian header
// length, a JSON header mapping names to {dtype, shape, data_offsets}, then the
// raw little-endian tensor bytes). Files are memory-mapped and every header
// field is validated before any byte is trusted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace lorafarm::engine {

enum class DType { kF32, kF16, kBF16, kU32, kU8, kI32 };

// "F32" -> kF32 ...; throws InvalidInput naming the tensor for anything else.
DType parse_dtype(const std::string& name, const std::string& tensor);
const char* dtype_name(DType dtype);
std::size_t dtype_size(DType dtype);

struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::span<const std::byte> bytes;

  int64_t num_elements() const;
  // The values widened to float32 (F32, F16, BF16 only).
  std::vector<float> to_float() const;
  // Drops the mapped pages wholly inside the tensor from the process's memory
  // (they are read from the file again if touched), so a copy made on load
  // does not count twice in the peak RSS.
  void release_pages() const;
};

// A read-only, memory-mapped safetensors file.
class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::filesystem::path& path);

  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  ~SafetensorsFile();

  bool contains(const std::string& name) const;
  // Throws InvalidInput naming the tensor and the file when it is absent.
  const TensorView& tensor(const std::string& name) const;
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  SafetensorsFile() = default;

  std::filesystem::path path_;
  void* mapping_ = nullptr;
  std::size_t mapping_size_ = 0;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A tensor to be written: its bytes are copied into the file as they are.
struct TensorData {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<std::byte> bytes;

  static TensorData from_floats(std::vector<int64_t> shape, std::span<const float> values);
};

// Writes tensors (sorted by name, 8-byte aligned header) atomically: a
// temporary file is renamed into place.
void write_safetensors(const std::filesystem::path& path,
                       const std::map<std::string, TensorData>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// All tensors of a checkpoint folder: `model.safetensors`, or the shards that
// `model.safetensors.index.json` lists.
class Checkpoint {
 public:
  static Checkpoint open(const std::filesystem::path& folder);

  bool contains(const std::string& name) const;
  const TensorView& tensor(const std::string& name) const;
  // The tensor, checked to have `shape` (the config's expectation); a
  // missing tensor or another shape is an InvalidInput naming both.
  const TensorView& tensor(const std::string& name, const std::vector<int64_t>& shape) const;
  std::vector<std::string> names() const;
  // Metadata of the first shard (e.g. transformers' tied-weight aliases).
  const std::map<std::string, std::string>& metadata() const;

 private:
  std::vector<SafetensorsFile> shards_;
  std::map<std::string, const TensorView*> index_;
};

}  // namespace lorafarm::engine
