// A read-only memory mapping of one whole file (POSIX mmap), owned RAII-style: the mapping lives
// exactly as long as the object. Checkpoint tensors point into it, so weights are paged in from
// the page cache on first touch instead of being copied at load time.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>

namespace longctx::model {

class MappedFile {
 public:
  // Maps `path` read-only. RuntimeError naming the file (and the failing call, with strerror)
  // when it cannot be opened, stat'ed or mapped; an empty file maps to an empty span.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  size_t size() const { return size_; }

 private:
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace longctx::model
