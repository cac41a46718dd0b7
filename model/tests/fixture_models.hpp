// Access to the transformers-made fixtures (model/fixtures, see make_fixtures.py) for the model
// tests: the manifest, each model's directory, its reference logits.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace longctx::model::testing {

inline std::filesystem::path fixtures_dir() {
  return LONGCTX_MODEL_FIXTURES;
}

inline nlohmann::json manifest() {
  std::ifstream in(fixtures_dir() / "manifest.json");
  return nlohmann::json::parse(in);
}

// float32 little-endian file → values (the fixtures' [rows, vocab] logits).
inline std::vector<float> read_f32(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  const auto bytes = int64_t(in.tellg());
  std::vector<float> v(static_cast<size_t>(bytes / 4));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), bytes);
  return v;
}

// max |a − b| / max |b|: the relative error the issue bounds (1e-4 for float32).
inline double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    diff = std::max(diff, double(std::abs(a[i] - b[i])));
    scale = std::max(scale, double(std::abs(b[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

}  // namespace longctx::model::testing
