// Bad input through the public API: every case must throw longctx::ArgumentError naming the
// offending argument (argument() and the message), never crash, hang or return garbage.
#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <string>

#include "longctx/attention.hpp"
#include "longctx/core/error.hpp"
#include "test_util.hpp"

namespace longctx::test {
namespace {

// Runs `call` and checks that it throws ArgumentError for `argument`, with a message that
// names it and says what was expected.
void expect_argument_error(const std::function<void()>& call, const std::string& argument) {
  try {
    call();
    ADD_FAILURE() << "expected ArgumentError for '" << argument << "', nothing was thrown";
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), argument) << e.what();
    const std::string what = e.what();
    EXPECT_NE(what.find("'" + argument + "'"), std::string::npos) << what;
    EXPECT_NE(what.find("expected"), std::string::npos) << what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected ArgumentError for '" << argument << "', got: " << e.what();
  }
}

// A valid problem to start from: B=2, N=5, M=7, H=4, G=2, D=32, DV=40.
struct Valid {
  Rng rng{fresh_seed()};
  Operand q = random_operand(DType::f32, 2, 5, 4, 32, rng);
  Operand k = random_operand(DType::f32, 2, 7, 2, 32, rng);
  Operand v = random_operand(DType::f32, 2, 7, 2, 40, rng);
  Operand dout = random_operand(DType::f32, 2, 5, 4, 40, rng);
  AttentionSpec spec;
};

TEST(BadInput, ValidProblemRuns) {
  Valid x;
  ForwardResult f = attention_forward(x.q.view, x.k.view, x.v.view, x.spec);
  EXPECT_NO_THROW(
      attention_backward(x.q.view, x.k.view, x.v.view, f.out, f.lse, x.dout.view, x.spec));
}

TEST(BadInput, ShapeMismatch) {
  Valid x;
  Rng& r = x.rng;
  auto fwd = [&](const TensorView& q, const TensorView& k, const TensorView& v) {
    return [&, q, k, v] { attention_forward(q, k, v, x.spec); };
  };
  Operand k_dim = random_operand(DType::f32, 2, 7, 2, 40, r);    // D differs from q
  Operand k_batch = random_operand(DType::f32, 3, 7, 2, 32, r);  // B differs
  Operand v_len = random_operand(DType::f32, 2, 6, 2, 40, r);    // M differs from k
  Operand v_heads = random_operand(DType::f32, 2, 7, 1, 40, r);  // G differs from k
  expect_argument_error(fwd(x.q.view, k_dim.view, x.v.view), "k");
  expect_argument_error(fwd(x.q.view, k_batch.view, x.v.view), "k");
  expect_argument_error(fwd(x.q.view, x.k.view, v_len.view), "v");
  expect_argument_error(fwd(x.q.view, x.k.view, v_heads.view), "v");
  Tensor rank3(DType::f32, {2, 5, 128});
  expect_argument_error(fwd(rank3, x.k.view, x.v.view), "q");
}

TEST(BadInput, HeadsNotDivisibleByKvHeads) {
  Rng r(fresh_seed());
  Operand q = random_operand(DType::f32, 1, 5, 6, 32, r);
  Operand k = random_operand(DType::f32, 1, 5, 4, 32, r);
  Operand v = random_operand(DType::f32, 1, 5, 4, 32, r);
  expect_argument_error([&] { attention_forward(q.view, k.view, v.view, AttentionSpec{}); }, "k");
}

TEST(BadInput, UnsupportedHeadDim) {
  Rng r(fresh_seed());
  for (int64_t d : {24, 36, 264, 0}) {
    SCOPED_TRACE("D=" + std::to_string(d));
    Operand q = random_operand(DType::f32, 1, 5, 2, d, r);
    Operand k = random_operand(DType::f32, 1, 5, 2, d, r);
    Operand v = random_operand(DType::f32, 1, 5, 2, 64, r);
    expect_argument_error([&] { attention_forward(q.view, k.view, v.view, AttentionSpec{}); }, "q");
  }
  Operand q = random_operand(DType::f32, 1, 5, 2, 64, r);
  Operand k = random_operand(DType::f32, 1, 5, 2, 64, r);
  Operand v = random_operand(DType::f32, 1, 5, 2, 36, r);
  expect_argument_error([&] { attention_forward(q.view, k.view, v.view, AttentionSpec{}); }, "v");
}

TEST(BadInput, NegativeWindow) {
  Valid x;
  for (Window w : {Window{-1, 0}, Window{0, -3}}) {
    x.spec.window = w;
    expect_argument_error([&] { attention_forward(x.q.view, x.k.view, x.v.view, x.spec); },
                          "window");
  }
}

TEST(BadInput, ZeroLength) {
  Rng r(fresh_seed());
  Operand q = random_operand(DType::f32, 1, 5, 2, 32, r);
  Operand k = random_operand(DType::f32, 1, 5, 2, 32, r);
  Operand v = random_operand(DType::f32, 1, 5, 2, 32, r);
  Operand q0 = make_operand(DType::f32, 1, 0, 2, 32);
  Operand k0 = make_operand(DType::f32, 1, 0, 2, 32);
  Operand v0 = make_operand(DType::f32, 1, 0, 2, 32);
  Operand qb0 = make_operand(DType::f32, 0, 5, 2, 32);
  expect_argument_error([&] { attention_forward(q0.view, k.view, v.view, AttentionSpec{}); }, "q");
  expect_argument_error([&] { attention_forward(q.view, k0.view, v0.view, AttentionSpec{}); }, "k");
  expect_argument_error([&] { attention_forward(qb0.view, k.view, v.view, AttentionSpec{}); }, "q");
}

TEST(BadInput, OnlyOneDocIdArray) {
  Valid x;
  const int32_t q_docs[10] = {}, k_docs[14] = {};
  x.spec.q_doc_ids = q_docs;
  expect_argument_error([&] { attention_forward(x.q.view, x.k.view, x.v.view, x.spec); },
                        "k_doc_ids");
  x.spec.q_doc_ids = nullptr;
  x.spec.k_doc_ids = k_docs;
  expect_argument_error([&] { attention_forward(x.q.view, x.k.view, x.v.view, x.spec); },
                        "q_doc_ids");
}

TEST(BadInput, MismatchedDtypes) {
  Valid x;
  Operand k16 = random_operand(DType::bf16, 2, 7, 2, 32, x.rng);
  Operand vh = random_operand(DType::f16, 2, 7, 2, 40, x.rng);
  expect_argument_error([&] { attention_forward(x.q.view, k16.view, x.v.view, x.spec); }, "k");
  expect_argument_error([&] { attention_forward(x.q.view, x.k.view, vh.view, x.spec); }, "v");
  Operand q64 = make_operand(DType::f64, 2, 5, 4, 32);
  expect_argument_error([&] { attention_forward(q64.view, x.k.view, x.v.view, x.spec); }, "q");
}

TEST(BadInput, BadScale) {
  Valid x;
  for (float s :
       {-1.f, std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
    x.spec.scale = s;
    expect_argument_error([&] { attention_forward(x.q.view, x.k.view, x.v.view, x.spec); },
                          "scale");
  }
}

TEST(BadInput, BadOptions) {
  Valid x;
  auto run = [&](AttentionOptions o) {
    return [&, o] { attention_forward(x.q.view, x.k.view, x.v.view, x.spec, o); };
  };
  AttentionOptions o;
  o.block_q = 12;
  expect_argument_error(run(o), "block_q");
  o = {};
  o.block_k = -8;
  expect_argument_error(run(o), "block_k");
  o = {};
  o.threads = -1;
  expect_argument_error(run(o), "threads");
}

TEST(BadInput, ForwardOutputs) {
  Valid x;
  Tensor out_bad(DType::f32, {2, 5, 4, 32}), out(DType::f32, {2, 5, 4, 40});
  Tensor lse(DType::f32, {2, 4, 5}), lse_shape(DType::f32, {2, 5, 4}),
      lse_dtype(DType::bf16, {2, 4, 5});
  auto run = [&](const Tensor& o, const Tensor& l) {
    return [&] { attention_forward(x.q.view, x.k.view, x.v.view, x.spec, o, l); };
  };
  expect_argument_error(run(out_bad, lse), "out");
  expect_argument_error(run(out, lse_shape), "lse");
  expect_argument_error(run(out, lse_dtype), "lse");
}

TEST(BadInput, BackwardArguments) {
  Valid x;
  ForwardResult f = attention_forward(x.q.view, x.k.view, x.v.view, x.spec);
  Operand dout_bad = random_operand(DType::f32, 2, 5, 4, 32, x.rng);
  expect_argument_error(
      [&] {
        attention_backward(x.q.view, x.k.view, x.v.view, f.out, f.lse, dout_bad.view, x.spec);
      },
      "dout");
  Tensor lse_bad(DType::f32, {2, 4, 6});
  expect_argument_error(
      [&] {
        attention_backward(x.q.view, x.k.view, x.v.view, f.out, lse_bad, x.dout.view, x.spec);
      },
      "lse");
  Tensor dq(DType::f32, {2, 5, 4, 32}), dk(DType::f32, {2, 7, 2, 32}),
      dv(DType::f32, {2, 7, 2, 40});
  Tensor dq_bad(DType::f32, {2, 5, 2, 32}), dk_bad(DType::f32, {2, 7, 4, 32}),
      dv_bad(DType::f32, {2, 7, 2, 32});
  auto run = [&](const Tensor& a, const Tensor& b, const Tensor& c) {
    return [&] {
      attention_backward(x.q.view, x.k.view, x.v.view, f.out, f.lse, x.dout.view, x.spec, a, b, c);
    };
  };
  expect_argument_error(run(dq_bad, dk, dv), "dq");
  expect_argument_error(run(dq, dk_bad, dv), "dk");
  expect_argument_error(run(dq, dk, dv_bad), "dv");
}

}  // namespace
}  // namespace longctx::test
