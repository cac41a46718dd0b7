// Hugging Face safetensors checkpoints: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then raw little-endian tensors.
// Files are memory-mapped (nothing is copied until a tensor is converted); sharded checkpoints
// come with model.safetensors.index.json ({"weight_map": {name: file}}).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "longctx/core/dtype.hpp"

namespace longctx::model {

struct SafeTensor {
  std::string name;
  std::string dtype_name;  // as stored: "F32", "BF16", "F16", "I64", ...
  std::vector<int64_t> shape;
  const std::byte* data = nullptr;  // inside the mapping, valid while the Checkpoint lives
  size_t nbytes = 0;
  std::filesystem::path file;
};

class MappedFile;  // RAII mmap of one file

class Checkpoint {
 public:
  // DIR with model.safetensors.index.json (shards) or model.safetensors, or one .safetensors
  // file. Validates every header (offsets inside the file, sizes matching dtype × shape, no
  // overlaps); errors name the file and the tensor.
  static Checkpoint open(const std::filesystem::path& path);

  Checkpoint();
  Checkpoint(Checkpoint&&) noexcept;
  Checkpoint& operator=(Checkpoint&&) noexcept;
  ~Checkpoint();

  bool contains(std::string_view name) const;
  // ArgumentError naming the tensor (and the checkpoint) when absent.
  const SafeTensor& get(std::string_view name) const;
  std::vector<std::string> names() const;  // sorted
  // The tensor converted to float32 (from F32, BF16 or F16), checking its shape; ArgumentError
  // "tensor NAME: expected shape [a, b], got [c, d]" or naming an unsupported dtype.
  std::vector<float> load_f32(std::string_view name, std::span<const int64_t> expected_shape) const;

 private:
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::map<std::string, SafeTensor, std::less<>> tensors_;
  std::filesystem::path path_;
};

// One tensor to write: float32 data converted to `dtype` (f32, bf16 or f16) on the way out.
struct TensorToSave {
  std::string name;
  std::vector<int64_t> shape;
  const float* data = nullptr;  // [prod(shape)]
  DType dtype = DType::f32;
};
// Writes one .safetensors file (header keys sorted, 8-byte aligned data as HF does), with
// "__metadata__" {"format": "pt"} plus `metadata`.
void save_safetensors(const std::filesystem::path& file, const std::vector<TensorToSave>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace longctx::model
