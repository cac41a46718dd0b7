// Safetensors reading (memory-mapped, every header validated before any tensor is exposed),
// sharded checkpoints through model.safetensors.index.json, conversion to float32, and writing.
//
// File layout: u64 little-endian N, N bytes of JSON header (HF pads it with spaces to a multiple
// of 8 so the data start stays 8-byte aligned), then the data region; a tensor's
// "data_offsets" [begin, end) are relative to the data region's start.
#include "longctx/model/safetensors.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <set>
#include <utility>

#include "json_util.hpp"
#include "longctx/core/error.hpp"
#include "mapped_file.hpp"

namespace longctx::model {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host would need byte swaps");

namespace {

using json_util::Json;

constexpr const char* kMetadataKey = "__metadata__";

// Bytes per element of a stored dtype name, 0 for a name safetensors does not define.
int stored_dtype_size(std::string_view name) {
  static const std::pair<std::string_view, int> kSizes[] = {
      {"F64", 8},  {"F32", 4},     {"F16", 2},     {"BF16", 2},   {"I64", 8}, {"I32", 4},
      {"I16", 2},  {"I8", 1},      {"U64", 8},     {"U32", 4},    {"U16", 2}, {"U8", 1},
      {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"F8_E8M0", 1}};
  for (const auto& [n, size] : kSizes) {
    if (n == name) return size;
  }
  return 0;
}

std::string shape_text(std::span<const int64_t> shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

std::string file_argument(const std::filesystem::path& file) {
  return "safetensors file " + file.string();
}

// Reads an integer array member of a tensor entry: non-negative integers only.
std::vector<int64_t> non_negative_ints(const Json& entry, const char* key,
                                       const std::string& tensor,
                                       const std::filesystem::path& file) {
  const auto it = entry.find(key);
  LONGCTX_CHECK_ARG(it != entry.end() && it->is_array(), "tensor " + tensor,
                    "a '" << key << "' array in the header",
                    (it == entry.end() ? std::string("missing") : json_util::brief(*it))
                        << " in " << file.string());
  std::vector<int64_t> values;
  for (const Json& v : *it) {
    LONGCTX_CHECK_ARG(v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0),
                      "tensor " + tensor, "non-negative integers in '" << key << "'",
                      json_util::brief(*it) << " in " << file.string());
    const uint64_t u = v.get<uint64_t>();
    LONGCTX_CHECK_ARG(u <= uint64_t(INT64_MAX), "tensor " + tensor,
                      "'" << key << "' values below 2^63", u << " in " << file.string());
    values.push_back(int64_t(u));
  }
  return values;
}

// Validates one file's header and returns its tensors, pointing into the mapping.
std::vector<SafeTensor> read_header(const MappedFile& mapped) {
  const std::filesystem::path& file = mapped.path();
  const std::span<const std::byte> bytes = mapped.bytes();
  LONGCTX_CHECK_ARG(bytes.size() >= 8, file_argument(file), "at least 8 bytes (the header length)",
                    bytes.size() << " bytes");
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  LONGCTX_CHECK_ARG(header_len <= bytes.size() - 8, file_argument(file),
                    "a header length of at most " << bytes.size() - 8 << " (file size - 8)",
                    header_len << " (truncated file or not safetensors)");
  const std::string_view header_text(reinterpret_cast<const char*>(bytes.data() + 8),
                                     size_t(header_len));
  const Json header = json_util::parse(header_text, file_argument(file), "its JSON header");
  LONGCTX_CHECK_ARG(header.is_object(), file_argument(file), "a JSON object as header",
                    json_util::brief(header));

  const std::byte* data = bytes.data() + 8 + header_len;
  const uint64_t data_size = bytes.size() - 8 - header_len;
  std::vector<SafeTensor> tensors;
  for (const auto& [name, entry] : header.items()) {
    if (name == kMetadataKey) {
      LONGCTX_CHECK_ARG(entry.is_object(), file_argument(file), "'__metadata__' to be an object",
                        json_util::brief(entry));
      continue;
    }
    LONGCTX_CHECK_ARG(entry.is_object(), "tensor " + name,
                      "an object {dtype, shape, data_offsets} in the header",
                      json_util::brief(entry) << " in " << file.string());
    const auto dtype_it = entry.find("dtype");
    LONGCTX_CHECK_ARG(
        dtype_it != entry.end() && dtype_it->is_string() &&
            stored_dtype_size(dtype_it->get<std::string>()) > 0,
        "tensor " + name, "a safetensors dtype (F32, BF16, F16, I64, ...)",
        (dtype_it == entry.end() ? std::string("missing") : json_util::brief(*dtype_it))
            << " in " << file.string());
    SafeTensor t;
    t.name = name;
    t.dtype_name = dtype_it->get<std::string>();
    t.file = file;
    t.shape = non_negative_ints(entry, "shape", name, file);
    const std::vector<int64_t> offsets = non_negative_ints(entry, "data_offsets", name, file);
    LONGCTX_CHECK_ARG(
        offsets.size() == 2 && offsets[0] <= offsets[1] && uint64_t(offsets[1]) <= data_size,
        "tensor " + name,
        "data_offsets [begin, end] with begin <= end <= " << data_size
                                                          << " (the data region's size)",
        shape_text(offsets) << " in " << file.string());
    // numel × element size, refusing to overflow: it must fit the data region anyway.
    uint64_t expected_bytes = uint64_t(stored_dtype_size(t.dtype_name));
    for (const int64_t d : t.shape) {
      if (d != 0 && expected_bytes > data_size / uint64_t(d)) {
        expected_bytes = UINT64_MAX;
        break;
      }
      expected_bytes *= uint64_t(d);
    }
    t.nbytes = size_t(offsets[1] - offsets[0]);
    LONGCTX_CHECK_ARG(
        expected_bytes == t.nbytes, "tensor " + name,
        t.dtype_name << " " << shape_text(t.shape) << " to take "
                     << (expected_bytes == UINT64_MAX ? std::string("more than the file")
                                                      : std::to_string(expected_bytes))
                     << " bytes",
        t.nbytes << " bytes (data_offsets " << shape_text(offsets) << ") in " << file.string());
    t.data = data + offsets[0];
    tensors.push_back(std::move(t));
  }

  // No two tensors may share bytes (empty tensors occupy none).
  std::vector<const SafeTensor*> by_offset;
  for (const SafeTensor& t : tensors) {
    if (t.nbytes > 0) by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const SafeTensor* a, const SafeTensor* b) { return a->data < b->data; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const SafeTensor& prev = *by_offset[i - 1];
    LONGCTX_CHECK_ARG(prev.data + prev.nbytes <= by_offset[i]->data, "tensor " + by_offset[i]->name,
                      "data not overlapping another tensor's",
                      "overlap with " << prev.name << " in " << file.string());
  }
  return tensors;
}

// A shard name from the index must stay inside the checkpoint directory.
bool is_plain_relative(const std::filesystem::path& p) {
  if (p.empty() || p.is_absolute()) return false;
  for (const auto& part : p) {
    if (part == "..") return false;
  }
  return true;
}

const char* stored_name(DType t) {
  switch (t) {
    case DType::f32:
      return "F32";
    case DType::bf16:
      return "BF16";
    case DType::f16:
      return "F16";
    case DType::f64:
      return "F64";
  }
  return "?";
}

}  // namespace

Checkpoint::Checkpoint() = default;
Checkpoint::Checkpoint(Checkpoint&&) noexcept = default;
Checkpoint& Checkpoint::operator=(Checkpoint&&) noexcept = default;
Checkpoint::~Checkpoint() = default;

Checkpoint Checkpoint::open(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool is_dir = fs::is_directory(path, ec);
  const bool is_file = !is_dir && fs::is_regular_file(path, ec);
  LONGCTX_CHECK_ARG(is_dir || is_file, "checkpoint",
                    "a directory holding model.safetensors or model.safetensors.index.json, or a "
                    ".safetensors file",
                    path.string() << " (does not exist)");
  fs::path index_file, single_file;
  if (is_dir) {
    // Transformers prefers the single file when both are present; so do we.
    if (fs::is_regular_file(path / "model.safetensors", ec)) {
      single_file = path / "model.safetensors";
    } else if (fs::is_regular_file(path / "model.safetensors.index.json", ec)) {
      index_file = path / "model.safetensors.index.json";
    } else {
      throw ArgumentError("checkpoint",
                          "a directory holding model.safetensors or model.safetensors.index.json",
                          path.string() + " (neither is there)");
    }
  } else if (path.filename().string().ends_with(".index.json")) {
    index_file = path;
  } else {
    single_file = path;
  }

  Checkpoint ckpt;
  ckpt.path_ = path;
  auto add_file = [&ckpt](const fs::path& file) {
    ckpt.files_.push_back(std::make_unique<MappedFile>(file));
    for (SafeTensor& t : read_header(*ckpt.files_.back())) {
      const auto [it, inserted] = ckpt.tensors_.emplace(t.name, t);
      LONGCTX_CHECK_ARG(inserted, "tensor " + t.name, "to be stored in one shard only",
                        "in " << it->second.file.string() << " and " << file.string());
    }
  };
  if (!single_file.empty()) {
    add_file(single_file);
    return ckpt;
  }

  const std::string index_arg = "index " + index_file.string();
  const Json index = json_util::parse(json_util::read_text_file(index_file, index_arg), index_arg,
                                      index_file.string());
  const auto map_it = index.is_object() ? index.find("weight_map") : index.end();
  LONGCTX_CHECK_ARG(map_it != index.end() && map_it->is_object(), index_arg,
                    "a 'weight_map' object {tensor name: shard file}",
                    (map_it == index.end() ? std::string("none") : json_util::brief(*map_it)));
  const fs::path dir = index_file.parent_path();
  std::set<std::string> shards;
  for (const auto& [name, shard] : map_it->items()) {
    LONGCTX_CHECK_ARG(shard.is_string() && is_plain_relative(shard.get<std::string>()),
                      "weight_map." + name, "a shard file name inside " << dir.string(),
                      json_util::brief(shard));
    shards.insert(shard.get<std::string>());
  }
  for (const std::string& shard : shards) add_file(dir / shard);
  // The index must agree with the shards it names.
  for (const auto& [name, shard] : map_it->items()) {
    const auto it = ckpt.tensors_.find(name);
    const fs::path expected_file = dir / shard.get<std::string>();
    LONGCTX_CHECK_ARG(it != ckpt.tensors_.end() && it->second.file == expected_file,
                      "tensor " + name,
                      "in " << expected_file.string() << " as " << index_arg << " says",
                      (it == ckpt.tensors_.end() ? std::string("in no shard")
                                                 : "in " + it->second.file.string()));
  }
  return ckpt;
}

bool Checkpoint::contains(std::string_view name) const {
  return tensors_.find(name) != tensors_.end();
}

const SafeTensor& Checkpoint::get(std::string_view name) const {
  const auto it = tensors_.find(name);
  LONGCTX_CHECK_ARG(it != tensors_.end(), "tensor " + std::string(name),
                    "a tensor of checkpoint " << path_.string(),
                    "absent (" << tensors_.size() << " tensors there)");
  return it->second;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& entry : tensors_) out.push_back(entry.first);
  return out;
}

std::vector<float> Checkpoint::load_f32(std::string_view name,
                                        std::span<const int64_t> expected_shape) const {
  const SafeTensor& t = get(name);
  LONGCTX_CHECK_ARG(
      std::equal(t.shape.begin(), t.shape.end(), expected_shape.begin(), expected_shape.end()),
      "tensor " + t.name, "shape " << shape_text(expected_shape),
      shape_text(t.shape) << " in " << t.file.string());
  DType dtype;
  if (t.dtype_name == "F32") {
    dtype = DType::f32;
  } else if (t.dtype_name == "BF16") {
    dtype = DType::bf16;
  } else if (t.dtype_name == "F16") {
    dtype = DType::f16;
  } else {
    throw ArgumentError("tensor " + t.name, "dtype F32, BF16 or F16",
                        t.dtype_name + " in " + t.file.string());
  }
  const size_t n = t.nbytes / size_t(dtype_size(dtype));
  std::vector<float> out(n);
  if (dtype == DType::f32) {
    if (n > 0) std::memcpy(out.data(), t.data, t.nbytes);
    return out;
  }
  // Writers other than HF's may leave 16-bit data at odd addresses: realign before converting.
  std::vector<uint16_t> aligned;
  const void* src = t.data;
  if (reinterpret_cast<uintptr_t>(t.data) % alignof(uint16_t) != 0) {
    aligned.resize(n);
    std::memcpy(aligned.data(), t.data, t.nbytes);
    src = aligned.data();
  }
  convert_to_f32(src, dtype, int64_t(n), out.data());
  return out;
}

void save_safetensors(const std::filesystem::path& file, const std::vector<TensorToSave>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::set<std::string_view> seen;
  for (const TensorToSave& t : tensors) {
    LONGCTX_CHECK_ARG(!t.name.empty() && t.name != kMetadataKey, "tensors",
                      "non-empty names other than __metadata__", "'" << t.name << "'");
    LONGCTX_CHECK_ARG(seen.insert(t.name).second, "tensors", "unique names",
                      "'" << t.name << "' twice");
    LONGCTX_CHECK_ARG(t.dtype == DType::f32 || t.dtype == DType::bf16 || t.dtype == DType::f16,
                      "tensor " + t.name, "dtype f32, bf16 or f16", dtype_name(t.dtype));
    int64_t numel = 1;
    for (const int64_t d : t.shape) {
      LONGCTX_CHECK_ARG(d >= 0, "tensor " + t.name, "non-negative dims", shape_text(t.shape));
      numel *= d;
    }
    LONGCTX_CHECK_ARG(numel == 0 || t.data != nullptr, "tensor " + t.name, "data",
                      "a null pointer for shape " << shape_text(t.shape));
  }
  // Data laid out by decreasing element size, then name, as HF does: every tensor stays aligned
  // to its element size because the data region starts 8-byte aligned.
  std::vector<const TensorToSave*> order;
  for (const TensorToSave& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const TensorToSave* a, const TensorToSave* b) {
    const int sa = dtype_size(a->dtype), sb = dtype_size(b->dtype);
    return sa != sb ? sa > sb : a->name < b->name;
  });

  Json header = Json::object();  // std::map-backed: keys come out sorted
  Json meta = Json::object();
  meta["format"] = "pt";
  for (const auto& [key, value] : metadata) meta[key] = value;
  header[kMetadataKey] = meta;
  std::vector<int64_t> numels;
  uint64_t offset = 0;
  for (const TensorToSave* t : order) {
    int64_t numel = 1;
    for (const int64_t d : t->shape) numel *= d;
    numels.push_back(numel);
    const uint64_t nbytes = uint64_t(numel) * uint64_t(dtype_size(t->dtype));
    header[t->name] = {{"dtype", stored_name(t->dtype)},
                       {"shape", t->shape},
                       {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out) throw RuntimeError("cannot create " + file.string() + ": " + std::strerror(errno));
  const uint64_t header_len = header_text.size();
  out.write(reinterpret_cast<const char*>(&header_len), 8);
  out.write(header_text.data(), std::streamsize(header_text.size()));
  std::vector<std::byte> buffer;
  for (size_t i = 0; i < order.size(); ++i) {
    const TensorToSave& t = *order[i];
    buffer.resize(size_t(numels[i]) * size_t(dtype_size(t.dtype)));
    if (numels[i] > 0) convert_from_f32(t.data, numels[i], t.dtype, buffer.data());
    out.write(reinterpret_cast<const char*>(buffer.data()), std::streamsize(buffer.size()));
  }
  out.close();
  if (!out) {
    std::error_code ignored;
    std::filesystem::remove(file, ignored);  // no half-written checkpoint left behind
    throw RuntimeError("cannot write " + file.string() + " (disk full or I/O error)");
  }
}

}  // namespace longctx::model
