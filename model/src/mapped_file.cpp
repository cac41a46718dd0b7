// POSIX implementation of MappedFile: open, fstat, mmap, close; munmap on destruction. Every
// system call is checked and a failure names the file, the call and errno's text.
#include "mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "longctx/core/error.hpp"

namespace longctx::model {
namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const char* call, int err) {
  throw RuntimeError("cannot map " + path.string() + ": " + call + " failed (" +
                     std::strerror(err) + ")");
}

// Closes the descriptor on every path out of the constructor; the mapping stays valid after.
struct FileDescriptor {
  int fd = -1;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
  FileDescriptor file;
  file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file.fd < 0) fail(path, "open", errno);
  struct stat info {};
  if (::fstat(file.fd, &info) != 0) fail(path, "fstat", errno);
  if (!S_ISREG(info.st_mode)) {
    throw RuntimeError("cannot map " + path.string() + ": not a regular file");
  }
  size_ = size_t(info.st_size);
  if (size_ == 0) return;  // mmap rejects length 0; an empty span is the honest answer
  void* mapping = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, file.fd, 0);
  if (mapping == MAP_FAILED) fail(path, "mmap", errno);
  data_ = static_cast<const std::byte*>(mapping);
}

MappedFile::~MappedFile() {
  // munmap can only fail for arguments we did not produce; nothing useful to report from a
  // destructor, so the result is deliberately ignored.
  if (data_ != nullptr) (void)::munmap(const_cast<std::byte*>(data_), size_);
}

}  // namespace longctx::model
