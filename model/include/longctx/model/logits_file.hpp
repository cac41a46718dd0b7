// Logits exchanged with other runtimes as raw float32 little-endian [rows, vocab] files
// (`longctx run --logits`, the transformers fixtures), and the error measure used to compare them.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace longctx::model {

// ArgumentError naming `argument` when the file cannot be written in full.
void write_logits_f32(const std::filesystem::path& file, const std::vector<float>& logits,
                      const std::string& argument = "--logits");
// ArgumentError naming the file when it cannot be read or its size is not a multiple of 4.
std::vector<float> read_logits_f32(const std::filesystem::path& file);
// max |a − b| / max |b| (infinity when the sizes differ): the relative error of the bound.
double logits_relative_error(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace longctx::model
