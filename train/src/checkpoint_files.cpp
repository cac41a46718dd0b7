// Temporary-then-rename file writing for checkpoints (see checkpoint_files.hpp).
#include "checkpoint_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "longctx/core/error.hpp"

namespace longctx::train::detail {
namespace {

std::filesystem::path temporary(const std::filesystem::path& dir, const std::string& name) {
  return dir / (name + ".tmp");
}

// fsync through a read-only descriptor (Linux flushes the file's dirty pages either way), so
// the rename never publishes a name whose data is still only in the page cache.
void sync_path(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw RuntimeError("cannot open " + path.string() + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some file systems (e.g. certain FUSE mounts) cannot sync a directory; the data files are.
  if (rc != 0 && err != EINVAL && err != EROFS)
    throw RuntimeError("cannot flush " + path.string() + ": " + std::strerror(err));
}

}  // namespace

StagedFiles::StagedFiles(std::filesystem::path dir) : dir_(std::move(dir)) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec || !std::filesystem::is_directory(dir_))
    throw RuntimeError("cannot create checkpoint directory " + dir_.string() + ": " +
                       (ec ? ec.message() : "not a directory"));
}

StagedFiles::~StagedFiles() {
  for (size_t i = committed_; i < names_.size(); ++i) {
    std::error_code ec;
    std::filesystem::remove(temporary(dir_, names_[i]), ec);
  }
}

std::filesystem::path StagedFiles::stage(const std::string& name) {
  names_.push_back(name);
  return temporary(dir_, name);
}

void StagedFiles::write_text(const std::string& name, std::string_view text) {
  const std::filesystem::path path = stage(name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw RuntimeError("cannot create " + path.string() + ": " + std::strerror(errno));
  out.write(text.data(), std::streamsize(text.size()));
  out.close();
  if (!out) throw RuntimeError("cannot write " + path.string());
}

void StagedFiles::commit() {
  for (const std::string& name : names_) sync_path(temporary(dir_, name));
  for (; committed_ < names_.size(); ++committed_) {
    const std::string& name = names_[committed_];
    std::error_code ec;
    std::filesystem::rename(temporary(dir_, name), dir_ / name, ec);
    if (ec)
      throw RuntimeError("cannot rename " + temporary(dir_, name).string() + " to " +
                         (dir_ / name).string() + ": " + ec.message());
  }
  sync_path(dir_);  // makes the renames themselves durable
}

}  // namespace longctx::train::detail
