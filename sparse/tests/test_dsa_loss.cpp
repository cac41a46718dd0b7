// The indexer's KL training loss: its gradient w.r.t. q_I, k_I and w against central finite
// differences (dense and restricted to a selection), and its basic properties.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "dsa_test_inputs.hpp"
#include "longctx/sparse/indexer_loss.hpp"

namespace longctx::sparse {
namespace {

using test::DsaCase;
using test::DsaInputs;

// Signs of every indexer dot q_I(t, j) · k_I(s): a finite difference is only meaningful when
// the perturbation does not move a dot across the ReLU's kink.
std::vector<bool> relu_pattern(const DsaCase& c, const DsaInputs& in) {
  std::vector<bool> signs;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t t = 0; t < c.n; ++t)
      for (int64_t hq = 0; hq < c.groups * c.indexer_heads; ++hq)
        for (int64_t j = 0; j < c.m; ++j) {
          double dot = 0.0;
          for (int64_t x = 0; x < c.indexer_dim; ++x)
            dot += double(in.iq.view.load(b, t, hq, x)) *
                   double(in.ik.view.load(b, j, hq / c.indexer_heads, x));
          signs.push_back(dot > 0.0);
        }
  return signs;
}

void check_gradient(const DsaCase& c, bool restricted) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(c.describe() + (restricted ? " restricted " : " dense ") + test::seed_note(seed));
  DsaInputs in(c, seed);
  TopkSelection sel;
  if (restricted) sel = indexer_select(in.indexer(), in.spec, c.top_k);
  const TopkSelection* restrict_to = restricted ? &sel : nullptr;
  const IndexerLoss base =
      indexer_kl_loss(in.q.view, in.k.view, in.spec, in.indexer(), restrict_to);
  ASSERT_GT(base.loss, 0.0);
  Rng pick(seed + 5);
  int checked = 0, skipped = 0;
  struct Param {
    test::Operand* op;
    const std::vector<double>* grad;
    const char* name;
  };
  for (Param p : {Param{&in.iq, &base.dq, "q_I"}, Param{&in.ik, &base.dk, "k_I"},
                  Param{&in.iw, &base.dw, "w"}}) {
    float* data = p.op->storage.data<float>();
    const int64_t size = p.op->storage.numel();
    for (int trial = 0; trial < 12; ++trial) {
      const int64_t e = pick.uniform_int(0, size - 1);
      const float x0 = data[e];
      const float eps = 1e-3f * std::max(1.f, std::fabs(x0));
      data[e] = x0 + eps;
      const float xp = data[e];
      const std::vector<bool> sp = relu_pattern(c, in);
      const double lp =
          indexer_kl_loss(in.q.view, in.k.view, in.spec, in.indexer(), restrict_to).loss;
      data[e] = x0 - eps;
      const float xm = data[e];
      const std::vector<bool> sm = relu_pattern(c, in);
      const double lm =
          indexer_kl_loss(in.q.view, in.k.view, in.spec, in.indexer(), restrict_to).loss;
      data[e] = x0;
      if (sp != sm) {  // a dot crossed zero: the loss is not differentiable there
        ++skipped;
        continue;
      }
      const double fd = (lp - lm) / (double(xp) - double(xm));
      const double analytic = (*p.grad)[size_t(e)];
      EXPECT_NEAR(analytic, fd, 1e-5 + 1e-4 * std::fabs(fd)) << p.name << "[" << e << "]";
      ++checked;
    }
  }
  EXPECT_GE(checked, 30) << skipped << " coordinates skipped at a ReLU kink";
}

TEST(DsaIndexerLoss, DenseGradientMatchesFiniteDifferences) {
  DsaCase c;
  c.n = c.m = 11;
  c.heads = 4;
  c.kv_heads = 2;
  c.dim = 32;
  c.indexer_heads = 2;
  c.indexer_dim = 32;
  check_gradient(c, false);
  c.groups = 2;
  c.n = 7;
  c.m = 12;
  check_gradient(c, false);
}

TEST(DsaIndexerLoss, RestrictedGradientMatchesFiniteDifferences) {
  DsaCase c;
  c.n = c.m = 13;
  c.heads = 4;
  c.kv_heads = 2;
  c.dim = 32;
  c.indexer_heads = 3;
  c.indexer_dim = 32;
  c.top_k = 5;
  check_gradient(c, true);
  c.groups = 2;
  check_gradient(c, true);
}

// KL is zero exactly when softmax(I) equals p; with every key selected and one key per row
// (the first query of a causal mask sees one key) both distributions are [1].
TEST(DsaIndexerLoss, SingleKeyRowsCostNothing) {
  DsaCase c;
  c.n = c.m = 1;
  c.heads = c.kv_heads = 2;
  c.dim = 32;
  DsaInputs in(c, fresh_seed());
  const IndexerLoss r = indexer_kl_loss(in.q.view, in.k.view, in.spec, in.indexer(), nullptr);
  EXPECT_NEAR(r.loss, 0.0, 1e-15);
  for (double g : r.dq) EXPECT_NEAR(g, 0.0, 1e-15);
}

}  // namespace
}  // namespace longctx::sparse
