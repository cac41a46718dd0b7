// `longctx passkey`: passkey retrieval (SPEC §7) of a checkpoint over a grid of context lengths
// × needle depths with any attention schedule and RoPE scaling: progress per cell on stderr, a
// depth × length table (or --json) on stdout, and optionally the heatmap as SVG and PNG.
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_parse.hpp"
#include "commands.hpp"
#include "longctx/core/error.hpp"
#include "longctx/model/rope_override.hpp"
#include "longctx/model/safetensors.hpp"
#include "longctx/train/passkey_eval.hpp"
#include "model_flags.hpp"

namespace longctx::app {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  const auto trimmed = [](const std::string& item) {
    const size_t first = item.find_first_not_of(' '), last = item.find_last_not_of(' ');
    return first == std::string::npos ? std::string() : item.substr(first, last - first + 1);
  };
  for (std::string item; std::getline(in, item, ',');) items.push_back(trimmed(item));
  if (!text.empty() && text.back() == ',') items.emplace_back();  // "1k," has an empty item
  return items;
}

// "1k,2K,4096": token counts, k = ×1024.
std::vector<int64_t> parse_lengths(const std::string& text) {
  std::vector<int64_t> lengths;
  for (const std::string& item : split_commas(text)) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    const bool kilo =
        used > 0 && used + 1 == item.size() && (item[used] == 'k' || item[used] == 'K');
    const bool ok = used > 0 && (used == item.size() || kilo) && v > 0 && v <= (int64_t(1) << 40);
    LONGCTX_CHECK_ARG(ok && item[0] != '+', "--lengths",
                      "comma-separated positive token counts, k = x1024 (1k,2k,4096)",
                      "'" << item << "'");
    lengths.push_back(kilo ? v * 1024 : v);
  }
  LONGCTX_CHECK_ARG(!lengths.empty(), "--lengths", "at least one length", "''");
  return lengths;
}

std::vector<double> parse_depths(const std::string& text) {
  std::vector<double> depths;
  for (const std::string& item : split_commas(text)) {
    size_t used = 0;
    double v = -1;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    LONGCTX_CHECK_ARG(used > 0 && used == item.size() && v >= 0 && v <= 100, "--depths",
                      "comma-separated percentages in [0, 100] (0,25,50,75,100)",
                      "'" << item << "'");
    depths.push_back(v);
  }
  LONGCTX_CHECK_ARG(!depths.empty(), "--depths", "at least one depth", "''");
  return depths;
}

// --heatmap FILE: FILE.svg + FILE.png without an extension, else FILE and its sibling.
std::vector<fs::path> heatmap_files(const std::string& name) {
  if (name.empty()) return {};
  fs::path base(name);
  const std::string ext = base.extension().string();
  LONGCTX_CHECK_ARG(ext.empty() || ext == ".svg" || ext == ".png", "--heatmap",
                    "a file name ending in .svg or .png, or without an extension (both)",
                    "'" << name << "'");
  if (!ext.empty()) base.replace_extension();
  return {fs::path(base).concat(".svg"), fs::path(base).concat(".png")};
}

std::string percent(double depth) {
  std::ostringstream o;
  o << depth << '%';
  return o.str();
}

void print_table(const train::PasskeyEvalResult& r, const std::string& attention) {
  std::printf("passkey retrieval, attention %s: accuracy per cell (%lld trials each)\n",
              attention.c_str(), static_cast<long long>(r.cells.empty() ? 0 : r.cells[0].trials));
  const int width = 8;
  std::printf("%14s", "depth \\ length");
  for (int64_t l : r.lengths) std::printf("%*s", width, train::heatmap_length_label(l).c_str());
  std::printf("\n");
  for (size_t d = 0; d < r.depths.size(); ++d) {
    std::printf("%14s", percent(r.depths[d]).c_str());
    for (size_t l = 0; l < r.lengths.size(); ++l)
      std::printf("%*.2f", width, r.cell(l, d).accuracy());
    std::printf("\n");
  }
  std::printf("%14s", "mean");
  for (size_t l = 0; l < r.lengths.size(); ++l) {
    double sum = 0;
    for (size_t d = 0; d < r.depths.size(); ++d) sum += r.cell(l, d).accuracy();
    std::printf("%*.2f", width, sum / double(r.depths.size()));
  }
  std::printf("\noverall accuracy %.3f (%lld of %lld found) in %.1f s\n", r.accuracy(),
              static_cast<long long>(r.found), static_cast<long long>(r.trials), r.seconds);
}

}  // namespace

int cmd_passkey(int argc, char** argv) {
  CLI::App app{"Passkey retrieval accuracy of a checkpoint over context lengths x needle depths"};
  std::string model_dir, lengths_text, depths_text = "0,10,20,30,40,50,60,70,80,90,100";
  std::string schedule_text = "config", rope_scaling, heatmap;
  train::PasskeyEvalOptions options;
  int threads = 0;
  bool json = false;
  app.add_option("--model", model_dir, "checkpoint directory: config.json + *.safetensors")
      ->required();
  app.add_option("--lengths", lengths_text, "prompt lengths in tokens, k = x1024: 1k,2k,4k")
      ->required();
  app.add_option("--depths", depths_text, "needle depths in percent (0: after the instruction)")
      ->capture_default_str();
  app.add_option("--attention", schedule_text, kAttentionFlagHelp);
  app.add_option("--rope-scaling", rope_scaling, kRopeScalingFlagHelp);
  app.add_option("--trials", options.trials, "samples per cell (keys differ per trial)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--needles", options.needles,
                 "needles per prompt; > 1: doors of different colours, one asked")
      ->capture_default_str()
      ->check(CLI::Range(1, train::kPasskeyMaxNeedles));
  app.add_option("--key-digits", options.key_digits, "digits of each pass key")
      ->capture_default_str()
      ->check(CLI::Range(1, 18));
  app.add_option("--seed", options.seed, "seed of the keys and distractor depths")
      ->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0: all)")->check(CLI::Range(0, 4096));
  app.add_option("--heatmap", heatmap,
                 "write the depth x length heatmap: FILE.svg and FILE.png (or FILE.svg / "
                 "FILE.png and its sibling)");
  app.add_flag("--json", json, "print {\"accuracy\", \"grid\": [{length, depth, accuracy}]}");
  if (auto code = parse_command_line(app, "longctx passkey", argc, argv)) return *code;
  options.lengths = parse_lengths(lengths_text);
  options.depths = parse_depths(depths_text);
  const std::vector<fs::path> heatmap_paths = heatmap_files(heatmap);
  if (threads > 0) omp_set_num_threads(threads);
  LONGCTX_CHECK_ARG(fs::is_regular_file(fs::path(model_dir) / "config.json"), "--model",
                    "a Hugging Face checkpoint directory holding config.json",
                    "'" << model_dir << "'");

  model::ModelConfig config = model::load_model_config(model_dir);
  if (!rope_scaling.empty()) model::apply_rope_scaling_override(config, rope_scaling);
  const model::AttentionSchedule schedule = model::parse_attention_schedule(schedule_text, config);
  const std::unique_ptr<model::Tokenizer> tokenizer = model::load_tokenizer(model_dir);
  const int64_t minimum = train::passkey_eval_min_length(options, *tokenizer);
  for (int64_t length : options.lengths)
    LONGCTX_CHECK_ARG(length >= minimum, "--lengths",
                      "lengths of at least " << minimum << " tokens (instruction, needle"
                                             << (options.needles > 1 ? "s" : "")
                                             << " and question)",
                      length);
  const model::DecoderWeights weights =
      model::load_decoder_weights(model::Checkpoint::open(model_dir), config);

  const int64_t longest = *std::max_element(options.lengths.begin(), options.lengths.end());
  if (longest + options.key_digits + 2 > config.max_position_embeddings)
    std::fprintf(stderr,
                 "longctx passkey: note: lengths up to %lld exceed max_position_embeddings = %lld "
                 "(the trained context unless RoPE scaling extends it)\n",
                 static_cast<long long>(longest),
                 static_cast<long long>(config.max_position_embeddings));
  model::DecoderOptions decoder_options;
  decoder_options.threads = threads;
  const auto progress = [](const train::PasskeyCell& c, size_t done, size_t total) {
    std::fprintf(stderr, "longctx passkey: [%zu/%zu] length %lld, depth %s: %d/%d found (%.2f s)\n",
                 done, total, static_cast<long long>(c.length), percent(c.depth_percent).c_str(),
                 c.found, c.trials, c.seconds);
  };
  const train::PasskeyEvalResult r = train::evaluate_passkey_model(
      config, weights, schedule, *tokenizer, options, decoder_options, progress);

  const std::string attention = schedule.describe();
  if (!heatmap_paths.empty()) {
    std::string title = "Passkey retrieval, " + attention;
    if (!rope_scaling.empty()) title += ", rope " + rope_scaling;
    const train::HeatmapGrid grid = train::passkey_heatmap(r, title);
    train::write_heatmap_svg(grid, heatmap_paths[0]);
    train::write_heatmap_png(grid, heatmap_paths[1]);
    std::fprintf(stderr, "longctx passkey: heatmap written to %s and %s\n",
                 heatmap_paths[0].c_str(), heatmap_paths[1].c_str());
  }
  if (json) {
    nlohmann::ordered_json out;
    out["accuracy"] = r.accuracy();
    out["grid"] = nlohmann::ordered_json::array();
    for (const train::PasskeyCell& c : r.cells)
      out["grid"].push_back(
          {{"length", c.length}, {"depth", c.depth_percent}, {"accuracy", c.accuracy()}});
    out["trials"] = options.trials;
    out["found"] = r.found;
    out["needles"] = options.needles;
    out["key_digits"] = options.key_digits;
    out["attention"] = attention;
    out["rope_scaling"] = rope_scaling.empty() ? "config" : rope_scaling;
    out["seconds"] = r.seconds;
    if (!heatmap_paths.empty())
      out["heatmap"] = {heatmap_paths[0].string(), heatmap_paths[1].string()};
    std::printf("%s\n", out.dump(1).c_str());
  } else {
    print_table(r, attention);
  }
  return 0;
}

}  // namespace longctx::app
