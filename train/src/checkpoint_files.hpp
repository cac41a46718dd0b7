// Crash-safe writing of a checkpoint's files: each file is first written as "<name>.tmp" in the
// checkpoint directory, flushed to disk, then renamed over its final name (rename is atomic
// within a file system), so readers see either the previous file or the complete new one.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "longctx/model/weights.hpp"

namespace longctx::train::detail {

class StagedFiles {
 public:
  explicit StagedFiles(std::filesystem::path dir);  // creates `dir` and its parents
  StagedFiles(const StagedFiles&) = delete;
  StagedFiles& operator=(const StagedFiles&) = delete;
  // Removes the temporaries not yet renamed (a save that threw half-way leaves nothing behind).
  ~StagedFiles();

  // The temporary path to write `name` to; files are renamed in the order they were staged.
  std::filesystem::path stage(const std::string& name);
  void write_text(const std::string& name, std::string_view text);
  // Flushes every staged file and renames it into place; RuntimeError naming the path on failure.
  void commit();

 private:
  std::filesystem::path dir_;
  std::vector<std::string> names_;
  size_t committed_ = 0;  // names_[0, committed_) are in place
};

}  // namespace longctx::train::detail
