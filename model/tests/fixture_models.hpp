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

#include "longctx/model/logits_file.hpp"

namespace longctx::model::testing {

inline std::filesystem::path fixtures_dir() {
  return LONGCTX_MODEL_FIXTURES;
}

inline nlohmann::json manifest() {
  std::ifstream in(fixtures_dir() / "manifest.json");
  return nlohmann::json::parse(in);
}

// The fixtures' [rows, vocab] logits and the error measure (longctx/model/logits_file.hpp).
inline std::vector<float> read_f32(const std::filesystem::path& file) {
  return read_logits_f32(file);
}
inline double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  return logits_relative_error(a, b);
}

}  // namespace longctx::model::testing
