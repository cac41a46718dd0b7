// `longctx run --logits FILE` end to end: the binary loads a fixture checkpoint, runs the prompt
// with chunked prefill and writes float32 [T, vocab] that must match transformers' logits
// (the contract other tools check against); RoPE overrides change the result.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include "fixture_models.hpp"

namespace longctx::model {
namespace {

std::string join(const std::vector<int32_t>& ids) {
  std::ostringstream out;
  for (size_t i = 0; i < ids.size(); ++i) out << (i ? "," : "") << ids[i];
  return out.str();
}

std::vector<float> run_logits(const nlohmann::json& entry, const std::string& extra) {
  // Unique per process and call: ctest runs the tests of this file in parallel processes.
  static int calls = 0;
  const auto file = std::filesystem::temp_directory_path() /
                    ("longctx_logits_" + entry["name"].get<std::string>() + "_" +
                     std::to_string(getpid()) + "_" + std::to_string(++calls) + ".f32");
  std::filesystem::remove(file);
  const std::string cmd = std::string(LONGCTX_CLI_BINARY) + " run --model " +
                          (testing::fixtures_dir() / entry["dir"].get<std::string>()).string() +
                          " --tokens " + join(entry["tokens"].get<std::vector<int32_t>>()) +
                          " --max-new-tokens 2 --prefill-chunk 5 --logits " + file.string() + " " +
                          extra + " > /dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::vector<float> logits = testing::read_f32(file);
  std::filesystem::remove(file);
  return logits;
}

TEST(RunCli, LogitsFileMatchesTransformers) {
  const nlohmann::json manifest = testing::manifest();
  for (const auto& entry : manifest["models"]) {
    const std::vector<float> expected =
        testing::read_f32(testing::fixtures_dir() / entry["logits"].get<std::string>());
    EXPECT_LE(testing::relative_error(run_logits(entry, ""), expected), 1e-4) << entry["name"];
  }
}

TEST(RunCli, RopeScalingOverrideChangesLogits) {
  const nlohmann::json entry = testing::manifest()["models"][0];
  const std::vector<float> expected =
      testing::read_f32(testing::fixtures_dir() / entry["logits"].get<std::string>());
  EXPECT_GT(testing::relative_error(run_logits(entry, "--rope-scaling linear:4"), expected), 1e-3);
}

}  // namespace
}  // namespace longctx::model
