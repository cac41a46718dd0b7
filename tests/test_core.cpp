// core/: dtype conversions (bf16/f16 round trips, round-to-nearest-even, NaN/inf, subnormals,
// bulk vs scalar), tensor views and permutes, the owning Tensor, seeded RNG, workspace
// accounting, thread resolution and resident-set readings.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "longctx/core/dtype.hpp"
#include "longctx/core/error.hpp"
#include "longctx/core/memory.hpp"
#include "longctx/core/rng.hpp"
#include "longctx/core/tensor.hpp"
#include "longctx/core/threads.hpp"
#include "test_util.hpp"

namespace longctx::test {
namespace {

constexpr float kInfF = std::numeric_limits<float>::infinity();

float from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

TEST(DType, NamesSizesAndParsing) {
  for (DType t : {DType::f32, DType::bf16, DType::f16, DType::f64})
    EXPECT_EQ(parse_dtype(dtype_name(t)), t);
  EXPECT_EQ(dtype_size(DType::f32), 4);
  EXPECT_EQ(dtype_size(DType::bf16), 2);
  EXPECT_EQ(dtype_size(DType::f16), 2);
  EXPECT_EQ(dtype_size(DType::f64), 8);
  try {
    parse_dtype("fp8", "--dtype");
    FAIL() << "expected ArgumentError";
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "--dtype");
    EXPECT_NE(std::string(e.what()).find("fp8"), std::string::npos);
  }
  EXPECT_LT(dtype_tolerance(DType::f32), dtype_tolerance(DType::bf16));
}

TEST(Bf16, RoundTripsEveryBitPattern) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = bf16_to_f32(uint16_t(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f))));
      continue;
    }
    ASSERT_EQ(f32_to_bf16(f), h) << "bf16 bits " << h;
  }
}

TEST(Bf16, RoundsToNearestEven) {
  // 1 + 2^-8 lies halfway between bf16 neighbours 1 and 1 + 2^-7: ties go to the even one (1).
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.f + 0x1p-8f)), 1.f);
  // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.f + 3 * 0x1p-8f)), 1.f + 0x1p-6f);
  // Just above the tie rounds up.
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.f + 0x1p-8f + 0x1p-20f)), 1.f + 0x1p-7f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(-1.f - 0x1p-8f - 0x1p-20f)), -1.f - 0x1p-7f);
  // Overflow past the largest bf16 rounds to infinity.
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::max())), kInfF);
}

TEST(Bf16, SpecialValues) {
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(kInfF)), kInfF);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(-kInfF)), -kInfF);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
  // A NaN whose payload sits only in the low 16 bits must not turn into infinity.
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(from_bits(0x7f800001u)))));
  EXPECT_EQ(bits_of(bf16_to_f32(f32_to_bf16(-0.f))), bits_of(-0.f));
  const float tiny = from_bits(0x00010000u);  // an f32 subnormal exactly representable in bf16
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(tiny)), tiny);
}

// Independent f16 decoder: value = (-1)^s · 2^(e-15) · (1 + m/1024), subnormals m · 2^-24.
double f16_value(uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v;
  if (e == 31)
    v = m ? std::nan("") : INFINITY;
  else if (e == 0)
    v = std::ldexp(double(m), -24);
  else
    v = std::ldexp(1.0 + m / 1024.0, e - 15);
  return s ? -v : v;
}

TEST(F16, DecodesEveryBitPatternAndRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const double want = f16_value(uint16_t(h));
    const float got = f16_to_f32(uint16_t(h));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << h;
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(got)))) << h;
      continue;
    }
    ASSERT_EQ(double(got), want) << "f16 bits " << h;
    ASSERT_EQ(f32_to_f16(got), h) << "f16 bits " << h;
  }
}

// Every f32 value halfway between two consecutive f16 values rounds to the even one, and
// values just off the midpoint round to the nearer one.
TEST(F16, RoundsToNearestEven) {
  for (uint32_t h = 0; h < 0x7bff; ++h) {  // positive finite, below the largest
    const double lo = f16_value(uint16_t(h)), hi = f16_value(uint16_t(h + 1));
    const float mid = float((lo + hi) / 2);  // exact in f32
    ASSERT_EQ(double(mid), (lo + hi) / 2);
    const uint16_t even = (h % 2 == 0) ? uint16_t(h) : uint16_t(h + 1);
    ASSERT_EQ(f32_to_f16(mid), even) << "midpoint above bits " << h;
    ASSERT_EQ(f32_to_f16(-mid), uint16_t(even | 0x8000)) << "negative midpoint above bits " << h;
    ASSERT_EQ(f32_to_f16(std::nextafter(mid, 0.f)), uint16_t(h)) << h;
    ASSERT_EQ(f32_to_f16(std::nextafter(mid, kInfF)), uint16_t(h + 1)) << h;
  }
}

TEST(F16, OverflowUnderflowAndSpecials) {
  EXPECT_EQ(f16_to_f32(f32_to_f16(65504.f)), 65504.f);
  EXPECT_EQ(f16_to_f32(f32_to_f16(65519.f)), 65504.f);  // below the midpoint to 65536
  EXPECT_EQ(f16_to_f32(f32_to_f16(65520.f)), kInfF);    // the midpoint: ties to even = inf
  EXPECT_EQ(f16_to_f32(f32_to_f16(1e6f)), kInfF);
  EXPECT_EQ(f16_to_f32(f32_to_f16(-1e6f)), -kInfF);
  EXPECT_EQ(f16_to_f32(f32_to_f16(kInfF)), kInfF);
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(std::nanf("")))));
  EXPECT_EQ(f16_to_f32(f32_to_f16(0x1p-24f)), 0x1p-24f);    // smallest subnormal
  EXPECT_EQ(f16_to_f32(f32_to_f16(0x1p-26f)), 0.f);         // below half of it
  EXPECT_EQ(f16_to_f32(f32_to_f16(0x1p-25f)), 0.f);         // exactly half: ties to even (0)
  EXPECT_EQ(f16_to_f32(f32_to_f16(0x1.8p-24f)), 0x1p-23f);  // 1.5 ulp: ties to even (2)
  EXPECT_EQ(bits_of(f16_to_f32(f32_to_f16(-0.f))), bits_of(-0.f));
}

TEST(DType, BulkConversionsMatchScalar) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  Rng rng(seed);
  const int64_t n = 1001;  // odd: exercises any vector tail
  std::vector<float> src(static_cast<size_t>(n));
  for (float& x : src) x = rng.normal(0.f, 100.f);
  src[3] = kInfF;
  src[4] = -kInfF;
  src[5] = std::nanf("");
  src[6] = 1e6f;
  src[7] = -0.f;
  src[8] = 1e-7f;
  for (DType t : {DType::bf16, DType::f16, DType::f32}) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    std::vector<uint8_t> packed(size_t(n) * size_t(dtype_size(t)));
    convert_from_f32(src.data(), n, t, packed.data());
    std::vector<float> back(static_cast<size_t>(n));
    convert_to_f32(packed.data(), t, n, back.data());
    for (int64_t i = 0; i < n; ++i) {
      std::vector<uint8_t> one(size_t(dtype_size(t)));
      store_from_f32(one.data(), t, 0, src[size_t(i)]);
      ASSERT_EQ(std::memcmp(one.data(), packed.data() + i * dtype_size(t), one.size()), 0) << i;
      const float scalar = load_as_f32(packed.data(), t, i);
      if (std::isnan(scalar)) {
        ASSERT_TRUE(std::isnan(back[size_t(i)])) << i;
      } else {
        ASSERT_EQ(bits_of(back[size_t(i)]), bits_of(scalar)) << i;
      }
    }
  }
}

// The bulk conversions are vectorised (Highway, chosen at run time) with scalar tails. Every
// 16-bit pattern, converted at offsets 0..3 and at lengths that are and are not multiples of
// any vector size, must give the scalar function's bits exactly (NaN payloads included), and
// nothing past the end may be written.
TEST(DType, BulkToF32MatchesScalarOnEveryBitPatternAndLength) {
  std::vector<uint16_t> all(65536);  // [65536] every bit pattern
  for (size_t h = 0; h < all.size(); ++h) all[h] = uint16_t(h);
  const float sentinel = from_bits(0x7fc0dead);
  for (DType t : {DType::bf16, DType::f16}) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    const auto scalar = [t](uint16_t h) {
      return t == DType::bf16 ? bf16_to_f32(h) : f16_to_f32(h);
    };
    std::vector<float> out(all.size() + 1);
    for (int64_t offset = 0; offset < 4; ++offset) {
      for (int64_t n : {int64_t(0), int64_t(1), int64_t(3), int64_t(7), int64_t(8), int64_t(15),
                        int64_t(16), int64_t(17), int64_t(31), int64_t(33), int64_t(64),
                        int64_t(67), int64_t(all.size()) - offset}) {
        std::fill(out.begin(), out.end(), sentinel);
        convert_to_f32(all.data() + offset, t, n, out.data());
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(bits_of(out[size_t(i)]), bits_of(scalar(all[size_t(offset + i)])))
              << "bits " << all[size_t(offset + i)] << " offset " << offset << " n " << n;
        ASSERT_EQ(bits_of(out[size_t(n)]), bits_of(sentinel)) << "wrote past n = " << n;
      }
    }
  }
}

TEST(DType, BulkFromF32MatchesScalarOnEdgesAndRandomBits) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  Rng rng(seed);
  std::vector<float> src;  // every bf16 and f16 value, their neighbours, midpoints, random bits
  for (uint32_t h = 0; h < 65536; ++h) {
    for (float x : {bf16_to_f32(uint16_t(h)), f16_to_f32(uint16_t(h))}) {
      src.push_back(x);
      src.push_back(from_bits(bits_of(x) + 1));
      src.push_back(from_bits(bits_of(x) - 1));
    }
    src.push_back(from_bits((h << 16) | 0x8000u));  // bf16 midpoints
    src.push_back(from_bits((h << 16) | 0x7fffu));
    src.push_back(from_bits(bits_of(f16_to_f32(uint16_t(h))) | 0x1000u));  // f16 midpoints
  }
  for (int i = 0; i < (1 << 20); ++i) src.push_back(from_bits(uint32_t(rng.engine()())));
  for (uint32_t b : {0x7f800001u, 0xff800001u, 0x7fc00000u, 0x7fffffffu, 0x7f7fffffu, 0x477ff000u,
                     0x477fefffu, 0x38800000u, 0x387fffffu, 0x33000000u, 0x33000001u, 0x00000001u})
    src.push_back(from_bits(b));
  for (DType t : {DType::bf16, DType::f16}) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    std::vector<uint16_t> out(src.size() + 1);
    for (int64_t offset = 0; offset < 3; ++offset) {
      for (int64_t n : {int64_t(5), int64_t(16), int64_t(41), int64_t(src.size()) - offset}) {
        std::fill(out.begin(), out.end(), uint16_t(0xabcd));
        convert_from_f32(src.data() + offset, n, t, out.data());
        for (int64_t i = 0; i < n; ++i) {
          const float x = src[size_t(offset + i)];
          const uint16_t want = t == DType::bf16 ? f32_to_bf16(x) : f32_to_f16(x);
          ASSERT_EQ(out[size_t(i)], want) << "f32 bits " << bits_of(x) << " offset " << offset;
        }
        ASSERT_EQ(out[size_t(n)], 0xabcd) << "wrote past n = " << n;
      }
    }
  }
}

TEST(TensorView, ContiguousStridesAndOffsets) {
  std::vector<float> buf(2 * 3 * 4 * 5);
  TensorView v = TensorView::contiguous(buf.data(), DType::f32, {2, 3, 4, 5});
  EXPECT_EQ(v.rank, 4);
  EXPECT_EQ(v.numel(), 120);
  EXPECT_EQ(v.strides[0], 60);
  EXPECT_EQ(v.strides[1], 20);
  EXPECT_EQ(v.strides[2], 5);
  EXPECT_EQ(v.strides[3], 1);
  EXPECT_TRUE(v.is_contiguous());
  EXPECT_EQ(v.offset(1, 2, 3, 4), 119);
  EXPECT_EQ(v.shape_string(), "[2, 3, 4, 5]");
  buf[size_t(v.offset(1, 0, 2, 3))] = 7.5f;
  EXPECT_EQ(v.load(1, 0, 2, 3), 7.5f);
}

TEST(TensorView, PermutedViewsAddressTheSameElements) {
  // Physical [B, H, N, D] seen as logical [B, N, H, D].
  Tensor t(DType::f32, {2, 3, 5, 4});
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = float(i);
  TensorView logical = t.view().permuted({0, 2, 1, 3});
  EXPECT_EQ(logical.shape_string(), "[2, 5, 3, 4]");
  EXPECT_FALSE(logical.is_contiguous());
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t n = 0; n < 5; ++n)
      for (int64_t h = 0; h < 3; ++h)
        for (int64_t d = 0; d < 4; ++d)
          ASSERT_EQ(logical.load(b, n, h, d), t.view().load(b, h, n, d));
  TensorView back = logical.permuted({0, 2, 1, 3});
  EXPECT_EQ(back.shape, t.view().shape);
  EXPECT_EQ(back.strides, t.view().strides);
  EXPECT_TRUE(back.is_contiguous());
  EXPECT_THROW(logical.permuted({0, 1, 2, 7}), ArgumentError);
}

TEST(TensorView, RankThreeAndSingletonDims) {
  Tensor t(DType::bf16, {4, 1, 6});
  EXPECT_EQ(t.view().rank, 3);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.nbytes(), 48);
  EXPECT_TRUE(t.view().is_contiguous());
  EXPECT_EQ(t.view().shape_string(), "[4, 1, 6]");
}

TEST(Tensor, AlignedPoisonedAndZeroed) {
  Tensor t(DType::f32, {3, 37});
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data<float>()) % 64, 0u);
  t.poison();
  for (int64_t i = 0; i < t.numel(); ++i) ASSERT_TRUE(std::isnan(t.data<float>()[i]));
  Tensor h(DType::bf16, {5});
  h.poison();
  for (int64_t i = 0; i < 5; ++i) ASSERT_TRUE(std::isnan(h.view().load(0, 0, 0, i)));
  t.zero();
  for (int64_t i = 0; i < t.numel(); ++i) ASSERT_EQ(t.data<float>()[i], 0.f);
  Tensor moved = std::move(t);
  EXPECT_EQ(moved.numel(), 111);
  EXPECT_THROW(Tensor(DType::f32, {2, -1}), ArgumentError);
}

TEST(Rng, SameSeedSameStream) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  Rng a(seed), b(seed), c(seed + 1);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const float x = a.normal(), y = b.normal(), z = c.normal();
    ASSERT_EQ(x, y);
    differs |= x != z;
  }
  EXPECT_TRUE(differs);
  EXPECT_EQ(a.uniform_int(3, 3), 3);
  for (int i = 0; i < 100; ++i) {
    const float u = a.uniform(-2.f, 5.f);
    EXPECT_GE(u, -2.f);
    EXPECT_LT(u, 5.f);
  }
}

TEST(Rng, FillsAreDeterministicAndCoverStridedViews) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  Operand a = make_operand(DType::bf16, 2, 7, 3, 5, /*heads_major=*/true);
  Operand b = make_operand(DType::bf16, 2, 7, 3, 5, /*heads_major=*/true);
  a.storage.poison();
  b.storage.poison();
  Rng ra(seed), rb(seed);
  fill_normal(a.view, ra, 2.f);
  fill_normal(b.view, rb, 2.f);
  EXPECT_TRUE(bitwise_equal(a.storage, b.storage));
  const std::vector<double> values = to_f64(a.view);
  double sum = 0.0, sum_sq = 0.0;
  for (double x : values) {
    ASSERT_TRUE(std::isfinite(x));  // every element written, none left poisoned
    sum += x;
    sum_sq += x * x;
  }
  const double mean = sum / double(values.size());
  const double stddev = std::sqrt(sum_sq / double(values.size()) - mean * mean);
  EXPECT_NEAR(stddev, 2.0, 0.5);  // 210 samples
  Tensor u(DType::f32, {1000});
  Rng ru(seed);
  fill_uniform(u, ru, 3.f, 4.f);
  for (int64_t i = 0; i < 1000; ++i) {
    ASSERT_GE(u.data<float>()[i], 3.f);
    ASSERT_LT(u.data<float>()[i], 4.f);
  }
}

TEST(Rng, FreshSeedsDiffer) {
  if (std::getenv("LONGCTX_SEED")) GTEST_SKIP() << "LONGCTX_SEED pins the seed";
  std::set<uint64_t> seeds;
  for (int i = 0; i < 100; ++i) seeds.insert(fresh_seed());
  EXPECT_EQ(seeds.size(), 100u);
}

TEST(Workspace, CountsLiveAndPeakBytes) {
  const int64_t base = workspace_bytes_current();
  workspace_reset_peak();
  EXPECT_EQ(workspace_bytes_peak(), base);
  {
    WorkspaceBuffer<float> a(1000);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data()) % 64, 0u);
    EXPECT_EQ(a.size(), 1000u);
    EXPECT_EQ(workspace_bytes_current(), base + 4000);
    {
      WorkspaceBuffer<double> b(10);
      EXPECT_EQ(workspace_bytes_current(), base + 4080);
      WorkspaceBuffer<double> c(std::move(b));
      EXPECT_EQ(b.data(), nullptr);
      EXPECT_EQ(workspace_bytes_current(), base + 4080);
    }
    EXPECT_EQ(workspace_bytes_current(), base + 4000);
    WorkspaceBuffer<float> d(8);
    d = std::move(a);  // d's own 32 bytes are released, a's 4000 now belong to d
    EXPECT_EQ(workspace_bytes_current(), base + 4000);
  }
  EXPECT_EQ(workspace_bytes_current(), base);
  EXPECT_EQ(workspace_bytes_peak(), base + 4080);
  workspace_reset_peak();
  EXPECT_EQ(workspace_bytes_peak(), base);
}

TEST(Memory, ResidentSetIsReported) {
  const int64_t now = current_rss_bytes();
  EXPECT_GT(now, 0);
  EXPECT_GE(peak_rss_bytes(), now);
}

TEST(Threads, Resolution) {
  EXPECT_EQ(resolve_threads(3), 3);
  EXPECT_GE(resolve_threads(0), 1);
  EXPECT_GE(hardware_threads(), 1);
}

TEST(Errors, ArgumentErrorNamesArgumentAndExpectation) {
  try {
    LONGCTX_CHECK_ARG(1 + 1 == 3, "heads", "an even number", 7 << " heads");
    FAIL() << "expected ArgumentError";
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "heads");
    EXPECT_STREQ(e.what(), "argument 'heads': expected an even number, got 7 heads");
  }
  EXPECT_NO_THROW(([] { LONGCTX_CHECK_ARG(true, "x", "y", "z"); })());
}

}  // namespace
}  // namespace longctx::test
