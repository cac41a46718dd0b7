// Shared test helpers (see test_util.hpp).
#include "test_util.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace longctx::test {

bool small_sizes() {
#if defined(LONGCTX_TEST_SMALL)
  return true;
#else
  const char* env = std::getenv("LONGCTX_TEST_SMALL");
  return env != nullptr && std::strcmp(env, "0") != 0;
#endif
}

int64_t sized(int64_t n) {
  // 157: odd and not a multiple of any block size, so partial blocks are still exercised.
  return small_sizes() ? std::min<int64_t>(n, 157) : n;
}

double tolerance(DType t) {
  switch (t) {
    case DType::f32:
      return 1e-5;
    case DType::bf16:
      return 1e-2;
    case DType::f16:
      return 1e-2;
    case DType::f64:
      return 1e-12;
  }
  return 0.0;
}

Operand make_operand(DType dtype, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                     bool heads_major) {
  Operand o;
  if (heads_major) {
    o.storage = Tensor(dtype, {d0, d2, d1, d3});  // physical [B, H, N, D]
    o.view = o.storage.view().permuted({0, 2, 1, 3});
  } else {
    o.storage = Tensor(dtype, {d0, d1, d2, d3});
    o.view = o.storage.view();
  }
  return o;
}

Operand random_operand(DType dtype, int64_t d0, int64_t d1, int64_t d2, int64_t d3, Rng& rng,
                       float stddev, bool heads_major) {
  Operand o = make_operand(dtype, d0, d1, d2, d3, heads_major);
  fill_normal(o.view, rng, stddev);
  return o;
}

std::vector<double> to_f64(const TensorView& t) {
  std::array<int64_t, 4> shape{1, 1, 1, 1}, strides{0, 0, 0, 0};
  for (int i = 0; i < t.rank; ++i) {  // right-align into 4 dims
    shape[size_t(4 - t.rank + i)] = t.shape[size_t(i)];
    strides[size_t(4 - t.rank + i)] = t.strides[size_t(i)];
  }
  std::vector<double> out;
  out.reserve(size_t(t.numel()));
  for (int64_t a = 0; a < shape[0]; ++a)
    for (int64_t b = 0; b < shape[1]; ++b)
      for (int64_t c = 0; c < shape[2]; ++c)
        for (int64_t d = 0; d < shape[3]; ++d)
          out.push_back(load_as_f64(
              t.data, t.dtype, a * strides[0] + b * strides[1] + c * strides[2] + d * strides[3]));
  return out;
}

std::string Comparison::summary(const std::string& what) const {
  std::ostringstream os;
  os << what << ": max relative error " << max_rel_error << " at flat index " << worst_index
     << " (got " << worst_got << ", ref " << worst_ref << "), non-finite " << non_finite;
  return os.str();
}

Comparison compare_rows(const std::vector<double>& got, const std::vector<double>& ref,
                        int64_t row_len, double unit_floor) {
  Comparison c;
  if (got.size() != ref.size()) {
    c.max_rel_error = INFINITY;
    return c;
  }
  double sum_sq = 0.0;
  for (double r : ref) sum_sq += r * r;
  const double floor = std::max(
      {0.1 * std::sqrt(sum_sq / double(std::max<size_t>(ref.size(), 1))), unit_floor, 1e-300});
  const int64_t rows = int64_t(ref.size()) / row_len;
  for (int64_t r = 0; r < rows; ++r) {
    const size_t begin = size_t(r * row_len);
    double row_max = 0.0;
    for (int64_t e = 0; e < row_len; ++e)
      row_max = std::max(row_max, std::abs(ref[begin + size_t(e)]));
    const double scale = std::max(row_max, floor);
    for (int64_t e = 0; e < row_len; ++e) {
      const size_t i = begin + size_t(e);
      double err;
      if (!std::isfinite(got[i]) && std::isfinite(ref[i])) {
        ++c.non_finite;
        err = INFINITY;
      } else {
        const double diff = std::abs(got[i] - ref[i]);
        err = diff == 0.0 ? 0.0 : diff / scale;
      }
      if (err > c.max_rel_error || c.worst_index < 0) {
        c.max_rel_error = err;
        c.worst_index = int64_t(i);
        c.worst_got = got[i];
        c.worst_ref = ref[i];
      }
    }
  }
  return c;
}

::testing::AssertionResult rows_close(const std::vector<double>& got,
                                      const std::vector<double>& ref, int64_t row_len, double tol,
                                      const std::string& what, double unit_floor) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure()
           << what << ": size " << got.size() << " != reference size " << ref.size();
  Comparison c = compare_rows(got, ref, row_len, unit_floor);
  if (std::getenv("LONGCTX_TEST_VERBOSE"))  // margins, for tuning tolerances by hand
    std::printf("  %s (tolerance %g)\n", c.summary(what).c_str(), tol);
  if (c.non_finite == 0 && c.max_rel_error <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << c.summary(what) << " (tolerance " << tol << ")";
}

::testing::AssertionResult lse_close(const std::vector<double>& got, const std::vector<double>& ref,
                                     double tol) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure() << "lse: size " << got.size() << " != " << ref.size();
  for (size_t i = 0; i < ref.size(); ++i) {
    const bool ref_empty = std::isinf(ref[i]) && ref[i] < 0;
    const bool got_empty = std::isinf(got[i]) && got[i] < 0;
    if (ref_empty != got_empty || std::isnan(got[i]))
      return ::testing::AssertionFailure()
             << "lse[" << i << "] = " << got[i] << ", reference " << ref[i]
             << " (a row that sees no key must have lse = -inf, and only such rows)";
    if (ref_empty) continue;
    if (std::abs(got[i] - ref[i]) > tol * std::max(1.0, std::abs(ref[i])))
      return ::testing::AssertionFailure() << "lse[" << i << "] = " << got[i] << ", reference "
                                           << ref[i] << " (tolerance " << tol << ")";
  }
  return ::testing::AssertionSuccess();
}

double rms(const TensorView& t) {
  const std::vector<double> x = to_f64(t);
  double s = 0.0;
  for (double e : x) s += e * e;
  return x.empty() ? 0.0 : std::sqrt(s / double(x.size()));
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && a.view().shape == b.view().shape &&
         std::memcmp(a.view().data, b.view().data, size_t(a.nbytes())) == 0;
}

std::string seed_note(uint64_t seed) {
  return "seed=" + std::to_string(seed) + " (replay with LONGCTX_SEED=" + std::to_string(seed) +
         ")";
}

TempDir::TempDir(const std::string& prefix) {
  static int counter = 0;
  path_ = std::filesystem::temp_directory_path() /
          (prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace longctx::test
