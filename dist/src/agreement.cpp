// Collective argument checks (see agreement.hpp).
#include "longctx/dist/agreement.hpp"

#include <algorithm>
#include <cstring>

#include "longctx/core/error.hpp"

namespace longctx::dist {
namespace {

// One rank's verdict as a fixed-size record: argument name, expected, got (empty: no error).
constexpr size_t kField = 256;
struct Verdict {
  char argument[kField] = {0};
  char expected[kField] = {0};
  char got[kField] = {0};
};

void put(char* dst, const std::string& s) {
  std::strncpy(dst, s.c_str(), kField - 1);
  dst[kField - 1] = 0;
}

// Splits "argument 'X': expected E, got G" (ArgumentError::what()) into E and G.
void split_message(const std::string& what, std::string& expected, std::string& got) {
  const size_t e = what.find(": expected ");
  const size_t g = what.rfind(", got ");
  if (e == std::string::npos || g == std::string::npos || g < e) {
    expected = what;
    got = "";
    return;
  }
  expected = what.substr(e + 11, g - (e + 11));
  got = what.substr(g + 6);
}

}  // namespace

void agree_or_throw(Communicator& comm, const std::function<void()>& local_checks) {
  Verdict mine;
  try {
    if (local_checks) local_checks();
  } catch (const ArgumentError& err) {
    std::string expected, got;
    split_message(err.what(), expected, got);
    put(mine.argument, err.argument());
    put(mine.expected, expected);
    put(mine.got, got);
  } catch (const std::exception& err) {
    put(mine.argument, "input");
    put(mine.expected, "valid input");
    put(mine.got, err.what());
  }
  const int p = comm.size();
  std::vector<Verdict> all(static_cast<size_t>(p));
  std::vector<int64_t> sizes(size_t(p), int64_t(sizeof(Verdict))), offsets(static_cast<size_t>(p));
  for (int j = 0; j < p; ++j) offsets[size_t(j)] = j * int64_t(sizeof(Verdict));
  // Host buffers: through the host side of a device communicator.
  comm.control().allgatherv(&mine, sizeof(Verdict), all.data(), sizes, offsets);
  for (int j = 0; j < p; ++j) {
    const Verdict& v = all[size_t(j)];
    if (v.argument[0] == 0) continue;
    std::string got = v.got;
    if (p > 1) got += " (on rank " + std::to_string(j) + " of " + std::to_string(p) + ")";
    throw ArgumentError(v.argument, v.expected, got);
  }
}

void agree_on(Communicator& comm, const Signature& mine,
              const std::function<void()>& local_checks) {
  std::vector<int64_t> root(mine.size());
  for (size_t i = 0; i < mine.size(); ++i) root[i] = mine[i].second;
  comm.broadcast(root.data(), int64_t(root.size() * sizeof(int64_t)), 0);
  agree_or_throw(comm, [&] {
    for (size_t i = 0; i < mine.size(); ++i)
      LONGCTX_CHECK_ARG(mine[i].second == root[i], mine[i].first,
                        "the same value on every rank (rank 0 has " << root[i] << ")",
                        mine[i].second);
    if (local_checks) local_checks();
  });
}

}  // namespace longctx::dist
