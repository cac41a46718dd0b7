// float32 logits files and their comparison (see logits_file.hpp).
#include "longctx/model/logits_file.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>

#include "longctx/core/error.hpp"

namespace longctx::model {

void write_logits_f32(const std::filesystem::path& file, const std::vector<float>& logits,
                      const std::string& argument) {
  std::ofstream out(file, std::ios::binary);
  LONGCTX_CHECK_ARG(bool(out), argument, "a writable file", "'" << file.string() << "'");
  // float32 little-endian: the in-memory layout on the little-endian hosts we build for.
  out.write(reinterpret_cast<const char*>(logits.data()), std::streamsize(logits.size() * 4));
  LONGCTX_CHECK_ARG(bool(out), argument, "a file that can take " << logits.size() * 4 << " bytes",
                    "'" << file.string() << "'");
}

std::vector<float> read_logits_f32(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  LONGCTX_CHECK_ARG(bool(in), "logits file", "a readable file", "'" << file.string() << "'");
  const auto bytes = int64_t(in.tellg());
  LONGCTX_CHECK_ARG(bytes % 4 == 0, "logits file", "a size that is a multiple of 4 bytes",
                    bytes << " bytes in '" << file.string() << "'");
  std::vector<float> v(static_cast<size_t>(bytes / 4));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), bytes);
  return v;
}

double logits_relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, double(std::abs(a[i] - b[i])));
    scale = std::max(scale, double(std::abs(b[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

}  // namespace longctx::model
