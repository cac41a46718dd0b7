// Small formatting helpers shared by the CLI's human-readable reports.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>

namespace longctx::app {

// 1536 -> "1.5 KiB", 8.6e9 -> "8.0 GiB".
inline std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 4) {
    bytes /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} {}", bytes, units[u])
                : fmt::format("{:.1f} {}", bytes, units[u]);
}

// 65536 -> "64K", 1000 -> "1000".
inline std::string format_tokens(int64_t n) {
  if (n >= 1024 && n % 1024 == 0) return fmt::format("{}K", n / 1024);
  return fmt::format("{}", n);
}

// Error values in reports: scientific with two digits, "inf" / "nan" spelled out.
inline std::string format_error(double e) {
  return fmt::format("{:.2e}", e);
}

}  // namespace longctx::app
