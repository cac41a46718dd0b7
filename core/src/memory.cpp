// Resident-set readings from /proc/self/status and the library's workspace counters.
#include "longctx/core/memory.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace longctx {
namespace {

int64_t read_status_kib(const char* key) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  int64_t value = -1;
  size_t key_len = std::strlen(key);
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, key, key_len) == 0 && line[key_len] == ':') {
      value = std::strtoll(line + key_len + 1, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return value;
}

std::atomic<int64_t> g_workspace_current{0};
std::atomic<int64_t> g_workspace_peak{0};

}  // namespace

int64_t current_rss_bytes() {
  int64_t kib = read_status_kib("VmRSS");
  return kib < 0 ? -1 : kib * 1024;
}

int64_t peak_rss_bytes() {
  int64_t kib = read_status_kib("VmHWM");
  return kib < 0 ? -1 : kib * 1024;
}

bool reset_peak_rss() {
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (!f) return false;
  bool ok = std::fputs("5", f) >= 0;
  ok = (std::fclose(f) == 0) && ok;
  return ok;
}

int64_t workspace_bytes_current() {
  return g_workspace_current.load();
}
int64_t workspace_bytes_peak() {
  return g_workspace_peak.load();
}
void workspace_reset_peak() {
  g_workspace_peak.store(g_workspace_current.load());
}

void* workspace_alloc(size_t bytes) {
  size_t padded = ((bytes + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, padded ? padded : 64);
  if (!p) throw std::bad_alloc();
  int64_t now = g_workspace_current.fetch_add(int64_t(bytes)) + int64_t(bytes);
  int64_t peak = g_workspace_peak.load();
  while (now > peak && !g_workspace_peak.compare_exchange_weak(peak, now)) {
  }
  return p;
}

void workspace_free(void* p, size_t bytes) {
  if (!p) return;
  std::free(p);
  g_workspace_current.fetch_sub(int64_t(bytes));
}

}  // namespace longctx
