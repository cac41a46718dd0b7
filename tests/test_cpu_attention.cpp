// The CPU backend against the float64 oracle, forward and backward, through the public API:
// odd sizes (N, M not multiples of any block), N != M both ways (bottom-right causal), GQA
// ratios, every supported family of head dims, DV != D, every mask and position mode, fully
// masked rows, large logits, bf16/f16 storage, [B, H, N, D] strides, explicit block sizes and
// thread counts. Each case uses a fresh seed, printed on failure.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "attention_case.hpp"

namespace longctx::test {
namespace {

AttentionCase make(std::string name, int64_t n, int64_t m) {
  AttentionCase c;
  c.name = std::move(name);
  c.n = sized(n);
  c.m = sized(m);
  return c;
}

void add_size_cases(std::vector<AttentionCase>& cases) {
  struct Size {
    const char* name;
    int64_t n, m;
    MaskKind mask;
    int64_t batch, heads, kv_heads, dim;
  };
  const Size sizes[] = {
      {"n1_m1_full", 1, 1, MaskKind::full, 1, 2, 1, 64},
      {"n1_m1_causal", 1, 1, MaskKind::causal, 2, 2, 2, 32},
      {"n1_m1000_causal", 1, 1000, MaskKind::causal, 1, 4, 2, 64},
      {"n37_m37_causal", 37, 37, MaskKind::causal, 2, 4, 2, 64},
      {"n37_m37_full", 37, 37, MaskKind::full, 1, 2, 1, 96},
      {"n577_m577_causal", 577, 577, MaskKind::causal, 1, 2, 1, 128},
      {"n1000_m1000_full", 1000, 1000, MaskKind::full, 1, 2, 2, 64},
      {"n1000_m1000_causal", 1000, 1000, MaskKind::causal, 1, 2, 1, 64},
      {"n37_m577_causal", 37, 577, MaskKind::causal, 2, 2, 1, 64},
      {"n577_m37_causal", 577, 37, MaskKind::causal, 1, 2, 1, 64},
      {"n577_m37_full", 577, 37, MaskKind::full, 1, 2, 1, 64},
      {"n37_m1000_full", 37, 1000, MaskKind::full, 1, 2, 1, 32},
      {"n100_m1_full", 100, 1, MaskKind::full, 1, 2, 1, 64},
      {"n100_m1_causal", 100, 1, MaskKind::causal, 1, 2, 1, 64},
  };
  for (const Size& s : sizes) {
    AttentionCase c = make(s.name, s.n, s.m);
    c.mask = s.mask;
    c.batch = s.batch;
    c.heads = s.heads;
    c.kv_heads = s.kv_heads;
    c.dim = s.dim;
    cases.push_back(c);
  }
}

void add_shape_cases(std::vector<AttentionCase>& cases) {
  for (int ratio : {1, 2, 4, 8}) {
    AttentionCase c = make("gqa_ratio" + std::to_string(ratio), 97, 131);
    c.heads = 8;
    c.kv_heads = 8 / ratio;
    c.mask = MaskKind::causal;
    cases.push_back(c);
  }
  for (int d : {32, 64, 80, 96, 128, 256}) {
    AttentionCase c = make("head_dim" + std::to_string(d), 53, 71);
    c.dim = d;
    c.mask = MaskKind::causal;
    cases.push_back(c);
  }
  const int64_t dv_pairs[][2] = {{64, 128}, {128, 32}, {256, 80}, {32, 256}, {40, 72}};
  for (const auto& p : dv_pairs) {
    AttentionCase c = make("dim" + std::to_string(p[0]) + "_dv" + std::to_string(p[1]), 45, 67);
    c.dim = p[0];
    c.dim_v = p[1];
    c.mask = MaskKind::causal;
    c.heads = 4;
    c.kv_heads = 2;
    cases.push_back(c);
  }
}

void add_mask_cases(std::vector<AttentionCase>& cases) {
  auto window = [&](std::string name, int64_t n, int64_t m, MaskKind mask, int64_t left,
                    int64_t right) {
    AttentionCase c = make(std::move(name), n, m);
    c.mask = mask;
    c.window = Window{left, right};
    cases.push_back(c);
  };
  window("window_causal_16", 211, 211, MaskKind::causal, 16, 0);
  window("window_0_0", 211, 211, MaskKind::full, 0, 0);
  window("window_0_0_causal", 150, 211, MaskKind::causal, 0, 0);
  window("window_5_7", 211, 211, MaskKind::full, 5, 7);
  window("window_0_9", 101, 101, MaskKind::full, 0, 9);
  window("window_wider_than_seq", 211, 211, MaskKind::full, 10000, 10000);
  window("window_wider_than_seq_causal", 211, 180, MaskKind::causal, 10000, 0);
  window("causal_window_right_ignored", 211, 211, MaskKind::causal, 20, 9);
  window("window_n61_m211", 61, 211, MaskKind::full, 3, 4);
  window("window_n211_m61", 211, 61, MaskKind::causal, 30, 0);

  auto docs = [&](std::string name, int64_t n, int64_t m, MaskKind mask, Docs d,
                  std::optional<Window> w = std::nullopt) {
    AttentionCase c = make(std::move(name), n, m);
    c.batch = 2;
    c.mask = mask;
    c.docs = d;
    c.window = w;
    cases.push_back(c);
  };
  docs("docs_causal", 211, 211, MaskKind::causal, Docs::packed);
  docs("docs_full", 211, 211, MaskKind::full, Docs::packed);
  docs("docs_causal_window", 211, 211, MaskKind::causal, Docs::packed, Window{8, 0});
  docs("docs_mismatched_causal", 173, 173, MaskKind::causal, Docs::mismatched);
  docs("docs_mismatched_full", 97, 131, MaskKind::full, Docs::mismatched);
  docs("docs_n97_m211_causal", 97, 211, MaskKind::causal, Docs::packed);

  auto positions = [&](std::string name, int64_t n, int64_t m, MaskKind mask, PositionMode mode,
                       int64_t q_off = 0, int64_t k_off = 0, std::optional<Window> w = std::nullopt,
                       Docs d = Docs::none) {
    AttentionCase c = make(std::move(name), n, m);
    c.mask = mask;
    c.positions = mode;
    c.q_offset = q_off;
    c.k_offset = k_off;
    c.window = w;
    c.docs = d;
    cases.push_back(c);
  };
  positions("offsets_causal", 61, 97, MaskKind::causal, PositionMode::offsets, 500, 450);
  positions("offsets_negative_causal", 97, 97, MaskKind::causal, PositionMode::offsets, -50, 0);
  positions("offsets_window", 97, 131, MaskKind::full, PositionMode::offsets, 30, 0, Window{7, 3});
  positions("offsets_out_of_window", 37, 53, MaskKind::full, PositionMode::offsets, 10000, 0,
            Window{2, 2});
  positions("zigzag_causal", 118, 59, MaskKind::causal, PositionMode::zigzag);
  positions("zigzag_window", 118, 59, MaskKind::causal, PositionMode::zigzag, 0, 0, Window{11, 0});
  positions("random_positions_causal", 97, 131, MaskKind::causal, PositionMode::random);
  positions("random_positions_window", 97, 131, MaskKind::full, PositionMode::random, 0, 0,
            Window{5, 5});
  positions("random_positions_docs", 97, 131, MaskKind::causal, PositionMode::random, 0, 0,
            std::nullopt, Docs::packed);
}

void add_numeric_cases(std::vector<AttentionCase>& cases) {
  {
    AttentionCase c = make("large_inputs_x100", 131, 131);
    c.mask = MaskKind::causal;
    c.input_stddev = 100.f;
    cases.push_back(c);
  }
  {
    AttentionCase c = make("large_scale_50", 131, 97);
    c.scale = 50.f;
    cases.push_back(c);
  }
  {
    AttentionCase c = make("large_scale_bf16", 97, 131);
    c.dtype = DType::bf16;
    c.scale = 30.f;
    c.mask = MaskKind::causal;
    cases.push_back(c);
  }
  {
    AttentionCase c = make("small_scale", 97, 131);
    c.scale = 1e-3f;
    cases.push_back(c);
  }
  for (DType t : {DType::bf16, DType::f16}) {
    const std::string n(dtype_name(t));
    AttentionCase c = make(n + "_causal_gqa", 211, 211);
    c.dtype = t;
    c.mask = MaskKind::causal;
    c.heads = 4;
    c.kv_heads = 2;
    cases.push_back(c);

    c = make(n + "_docs", 131, 131);
    c.dtype = t;
    c.batch = 2;
    c.mask = MaskKind::causal;
    c.docs = Docs::mismatched;
    cases.push_back(c);

    c = make(n + "_window_n_lt_m", 97, 211);
    c.dtype = t;
    c.window = Window{13, 13};
    cases.push_back(c);

    c = make(n + "_dim256_dv80", 61, 75);
    c.dtype = t;
    c.dim = 256;
    c.dim_v = 80;
    c.mask = MaskKind::causal;
    cases.push_back(c);

    c = make(n + "_n577_m37_causal", 577, 37);
    c.dtype = t;
    c.mask = MaskKind::causal;
    cases.push_back(c);
  }
}

void add_layout_and_option_cases(std::vector<AttentionCase>& cases) {
  for (DType t : {DType::f32, DType::bf16, DType::f16}) {
    AttentionCase c = make(std::string("bhnd_layout_") + std::string(dtype_name(t)), 131, 97);
    c.dtype = t;
    c.heads_major = true;
    c.batch = 2;
    c.heads = 4;
    c.kv_heads = 2;
    c.mask = MaskKind::causal;
    c.docs = t == DType::bf16 ? Docs::packed : Docs::none;
    if (t == DType::f16) c.window = Window{9, 4};
    cases.push_back(c);
  }
  const int blocks[][2] = {{8, 8}, {24, 40}, {40, 24}, {8, 56}, {56, 8}};
  for (const auto& b : blocks) {
    for (bool docs : {false, true}) {
      AttentionCase c = make("block_" + std::to_string(b[0]) + "x" + std::to_string(b[1]) +
                                 (docs ? "_docs" : "_causal"),
                             101, 77);
      c.mask = MaskKind::causal;
      c.docs = docs ? Docs::packed : Docs::none;
      c.window = docs ? std::optional<Window>(Window{17, 0}) : std::nullopt;
      c.heads = 4;
      c.kv_heads = 2;
      c.options.block_q = b[0];
      c.options.block_k = b[1];
      cases.push_back(c);
    }
  }
  for (int threads : {1, 2}) {
    AttentionCase c = make("threads" + std::to_string(threads) + "_causal", 211, 211);
    c.mask = MaskKind::causal;
    c.batch = 2;
    c.heads = 3;
    c.kv_heads = 1;
    c.options.threads = threads;
    cases.push_back(c);

    c = make("threads" + std::to_string(threads) + "_docs_blocks", 131, 131);
    c.mask = MaskKind::causal;
    c.docs = Docs::packed;
    c.batch = 3;
    c.options.threads = threads;
    c.options.block_q = 16;
    c.options.block_k = 24;
    cases.push_back(c);
  }
  AttentionCase c = make("api_reference_backend", 45, 61);
  c.mask = MaskKind::causal;
  c.heads = 4;
  c.kv_heads = 2;
  c.options.backend = Backend::reference;
  cases.push_back(c);
}

std::vector<AttentionCase> all_cases() {
  std::vector<AttentionCase> cases;
  add_size_cases(cases);
  add_shape_cases(cases);
  add_mask_cases(cases);
  add_numeric_cases(cases);
  add_layout_and_option_cases(cases);
  return cases;
}

class CpuAttention : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(CpuAttention, ForwardAndBackwardMatchOracle) {
  check_attention_case(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Cases, CpuAttention, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<AttentionCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace longctx::test
