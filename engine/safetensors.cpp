// safetensors reader (mmap + header validation) and writer.
#include "engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/half_matrix.h"

namespace lorafarm::engine {
namespace {

using nlohmann::json;

// The header may not be larger than this (the reference implementation uses 100 MB).
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

std::string where(const std::filesystem::path& path) { return path.string() + ": "; }

}  // namespace

DType parse_dtype(const std::string& name, const std::string& tensor) {
  if (name == "F32") return DType::kF32;
  if (name == "F16") return DType::kF16;
  if (name == "BF16") return DType::kBF16;
  if (name == "U32") return DType::kU32;
  if (name == "U8") return DType::kU8;
  if (name == "I32") return DType::kI32;
  throw InvalidInput("tensor '" + tensor + "' has unsupported dtype '" + name +
                     "' (supported: F32, F16, BF16, U32, U8, I32)");
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kU32: return "U32";
    case DType::kU8: return "U8";
    case DType::kI32: return "I32";
  }
  return "?";
}

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kF32: case DType::kU32: case DType::kI32: return 4;
    case DType::kF16: case DType::kBF16: return 2;
    case DType::kU8: return 1;
  }
  return 0;
}

int64_t TensorView::num_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void TensorView::release_pages() const {
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<uintptr_t>(bytes.data()) + page - 1) / page * page;
  const auto end = (reinterpret_cast<uintptr_t>(bytes.data()) + bytes.size()) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

std::vector<float> TensorView::to_float() const {
  const auto n = static_cast<std::size_t>(num_elements());
  std::vector<float> out(n);
  switch (dtype) {
    case DType::kF32:
      if (n != 0) std::memcpy(out.data(), bytes.data(), n * 4);  // an empty vector's data() may be null
      break;
    case DType::kF16:
      for (std::size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes.data() + 2 * i, 2);
        out[i] = half_to_float(h, HalfType::kF16);
      }
      break;
    case DType::kBF16:
      for (std::size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes.data() + 2 * i, 2);
        out[i] = std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
      }
      break;
    default:
      throw InvalidInput("tensor '" + name + "' has dtype " + dtype_name(dtype) +
                         ", expected a floating-point dtype (F32, F16, BF16)");
  }
  return out;
}

namespace {

// mmaps the whole file read-only; it must hold at least the 8-byte header length.
std::pair<void*, uint64_t> map_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InvalidInput(where(path) + "cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw InvalidInput(where(path) + "cannot stat: " + std::strerror(errno));
  }
  const auto file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    throw InvalidInput(where(path) + "truncated: " + std::to_string(file_size) +
                       " bytes, too short for the 8-byte header length");
  }
  void* mapping = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapping == MAP_FAILED) throw InvalidInput(where(path) + "cannot mmap: " + std::strerror(errno));
  return {mapping, file_size};
}

// The JSON header after the 8-byte length (stored in `header_length`).
json read_header(const std::filesystem::path& path, const std::byte* base, uint64_t file_size, uint64_t& header_length) {
  std::memcpy(&header_length, base, 8);  // little-endian on every supported host
  if (header_length > kMaxHeaderBytes) {
    throw InvalidInput(where(path) + "header length " + std::to_string(header_length) +
                       " exceeds the 100 MB limit (not a safetensors file?)");
  }
  if (8 + header_length > file_size) {
    throw InvalidInput(where(path) + "truncated: header says " + std::to_string(header_length) +
                       " header bytes but the file has " + std::to_string(file_size) + " bytes");
  }
  json header;
  try {
    header = json::parse(reinterpret_cast<const char*>(base + 8),
                         reinterpret_cast<const char*>(base + 8 + header_length));
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
    throw InvalidInput(where(path) + "header is not valid JSON: " + e.what());
  }
  if (!header.is_object()) throw InvalidInput(where(path) + "header is not a JSON object");
  return header;
}

void read_metadata(const std::filesystem::path& path, const json& entry, std::map<std::string, std::string>& metadata) {
  if (!entry.is_object()) throw InvalidInput(where(path) + "__metadata__ is not an object");
  for (const auto& [key, value] : entry.items()) {
    if (!value.is_string()) {
      throw InvalidInput(where(path) + "__metadata__ value for '" + key + "' is not a string");
    }
    metadata[key] = value.get<std::string>();
  }
}

// One tensor's header entry, checked against the data section's size; its
// bytes view `data`. `range` gets its [begin, end) offsets.
TensorView read_tensor_entry(const std::filesystem::path& path, const std::string& name, const json& entry,
                             const std::byte* data, uint64_t data_size, std::pair<uint64_t, uint64_t>& range) {
  const std::string prefix = where(path) + "tensor '" + name + "': ";
  if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets")) {
    throw InvalidInput(prefix + "entry needs dtype, shape and data_offsets");
  }
  if (!entry["dtype"].is_string()) throw InvalidInput(prefix + "dtype is not a string");
  TensorView view;
  view.name = name;
  try {
    view.dtype = parse_dtype(entry["dtype"].get<std::string>(), name);
  } catch (const InvalidInput& e) {
    throw InvalidInput(where(path) + e.what());
  }
  const json& shape = entry["shape"];
  const json& offsets = entry["data_offsets"];
  if (!shape.is_array()) throw InvalidInput(prefix + "shape is not an array");
  uint64_t elements = 1;
  for (const json& d : shape) {
    if (!d.is_number_unsigned()) throw InvalidInput(prefix + "shape has a non-integer or negative dimension");
    const uint64_t dim = d.get<uint64_t>();
    if (dim != 0 && elements > (uint64_t{1} << 48) / dim) throw InvalidInput(prefix + "shape is too large");
    elements *= dim;
    view.shape.push_back(static_cast<int64_t>(dim));
  }
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    throw InvalidInput(prefix + "data_offsets must be two non-negative integers");
  }
  const uint64_t begin = offsets[0].get<uint64_t>();
  const uint64_t end = offsets[1].get<uint64_t>();
  if (begin > end) throw InvalidInput(prefix + "data_offsets begin after they end");
  if (end > data_size) {
    throw InvalidInput(prefix + "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                       ") run past the end of the data (" + std::to_string(data_size) + " bytes; file truncated?)");
  }
  const uint64_t expected = elements * dtype_size(view.dtype);
  if (end - begin != expected) {
    throw InvalidInput(prefix + "shape and dtype need " + std::to_string(expected) +
                       " bytes but data_offsets give " + std::to_string(end - begin));
  }
  view.bytes = std::span<const std::byte>(data + begin, end - begin);
  range = {begin, end};
  return view;
}

void check_disjoint(const std::filesystem::path& path, std::vector<std::pair<uint64_t, uint64_t>> ranges) {
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second) {
      throw InvalidInput(where(path) + "tensor data ranges overlap at byte " + std::to_string(ranges[i].first));
    }
  }
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  SafetensorsFile file;
  file.path_ = path;
  const auto [mapping, file_size] = map_file(path);
  file.mapping_ = mapping;  // unmapped by the destructor if a check below throws
  file.mapping_size_ = file_size;
  const auto* base = static_cast<const std::byte*>(mapping);
  uint64_t header_length = 0;
  const json header = read_header(path, base, file_size, header_length);

  const uint64_t data_size = file_size - 8 - header_length;
  const std::byte* data = base + 8 + header_length;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      read_metadata(path, entry, file.metadata_);
      continue;
    }
    std::pair<uint64_t, uint64_t> range;
    TensorView view = read_tensor_entry(path, name, entry, data, data_size, range);
    ranges.push_back(range);
    file.tensors_.emplace(name, std::move(view));
  }
  check_disjoint(path, std::move(ranges));
  return file;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept { *this = std::move(other); }

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
    path_ = std::move(other.path_);
    mapping_ = std::exchange(other.mapping_, nullptr);
    mapping_size_ = std::exchange(other.mapping_size_, 0);
    tensors_ = std::move(other.tensors_);
    metadata_ = std::move(other.metadata_);
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
}

bool SafetensorsFile::contains(const std::string& name) const { return tensors_.count(name) != 0; }

const TensorView& SafetensorsFile::tensor(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw InvalidInput(where(path_) + "missing tensor '" + name + "'");
  return it->second;
}

TensorData TensorData::from_floats(std::vector<int64_t> shape, std::span<const float> values) {
  TensorData t;
  t.dtype = DType::kF32;
  t.shape = std::move(shape);
  t.bytes.resize(values.size_bytes());
  std::memcpy(t.bytes.data(), values.data(), values.size_bytes());
  return t;
}

void write_safetensors(const std::filesystem::path& path, const std::map<std::string, TensorData>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    uint64_t elements = 1;
    for (int64_t d : t.shape) elements *= static_cast<uint64_t>(d);
    if (elements * dtype_size(t.dtype) != t.bytes.size()) {
      throw InvalidInput("write_safetensors: tensor '" + name + "' has " + std::to_string(t.bytes.size()) +
                         " bytes, its shape and dtype need " + std::to_string(elements * dtype_size(t.dtype)));
    }
    header[name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape},
                    {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');  // pad so tensor data is 8-byte aligned
  const uint64_t length = text.size();

  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw InvalidInput("cannot write " + tmp.string());
    out.write(reinterpret_cast<const char*>(&length), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& [name, t] : tensors) {
      out.write(reinterpret_cast<const char*>(t.bytes.data()), static_cast<std::streamsize>(t.bytes.size()));
    }
    if (!out.flush()) throw InvalidInput("cannot write " + tmp.string());
  }
  std::filesystem::rename(tmp, path);
}

Checkpoint Checkpoint::open(const std::filesystem::path& folder) {
  Checkpoint checkpoint;
  const auto index_path = folder / "model.safetensors.index.json";
  std::vector<std::filesystem::path> files;
  if (std::filesystem::exists(index_path)) {
    std::ifstream in(index_path);
    json index;
    try {
      index = json::parse(in);
    } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
      throw InvalidInput(index_path.string() + ": not valid JSON: " + e.what());
    }
    if (!index.contains("weight_map") || !index["weight_map"].is_object()) {
      throw InvalidInput(index_path.string() + ": missing object field 'weight_map'");
    }
    std::vector<std::string> names;
    for (const auto& [tensor, file] : index["weight_map"].items()) {
      if (!file.is_string()) throw InvalidInput(index_path.string() + ": weight_map['" + tensor + "'] is not a string");
      names.push_back(file.get<std::string>());
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    for (const auto& name : names) files.push_back(folder / name);
  } else if (std::filesystem::exists(folder / "model.safetensors")) {
    files.push_back(folder / "model.safetensors");
  } else {
    throw InvalidInput(folder.string() + ": no model.safetensors or model.safetensors.index.json");
  }
  checkpoint.shards_.reserve(files.size());
  for (const auto& file : files) checkpoint.shards_.push_back(SafetensorsFile::open(file));
  for (const auto& shard : checkpoint.shards_) {
    for (const auto& [name, view] : shard.tensors()) {
      if (!checkpoint.index_.emplace(name, &view).second) {
        throw InvalidInput(folder.string() + ": tensor '" + name + "' appears in more than one shard");
      }
    }
  }
  return checkpoint;
}

bool Checkpoint::contains(const std::string& name) const { return index_.count(name) != 0; }

const TensorView& Checkpoint::tensor(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw InvalidInput("model is missing tensor '" + name + "'");
  return *it->second;
}

const TensorView& Checkpoint::tensor(const std::string& name, const std::vector<int64_t>& shape) const {
  const TensorView& view = tensor(name);
  if (view.shape != shape) {
    auto text = [](const std::vector<int64_t>& dims) {
      std::string s = "[";
      for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
      return s + "]";
    };
    throw InvalidInput("tensor '" + name + "' has shape " + text(view.shape) + ", the config needs " + text(shape));
  }
  return view;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [name, view] : index_) out.push_back(name);
  return out;
}

const std::map<std::string, std::string>& Checkpoint::metadata() const {
  static const std::map<std::string, std::string> empty;
  return shards_.empty() ? empty : shards_.front().metadata();
}

}  // namespace lorafarm::engine
