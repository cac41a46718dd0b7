// longctx: command-line entry point; dispatches to the subcommands of commands.hpp.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string_view>

#include "commands.hpp"
#include "longctx/core/error.hpp"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* summary;
};

constexpr Command kCommands[] = {
    {"attn", longctx::app::cmd_attn, "exact attention on the CPU: time, GFLOP/s, memory, --check"},
    {"demo", longctx::app::cmd_demo, "the main job: exact causal attention at growing lengths"},
    {"plan", longctx::app::cmd_plan, "memory and communication model for TP / SP / CP layouts"},
#ifdef LONGCTX_HAS_MODEL
    {"run", longctx::app::cmd_run,
     "generate with a Llama / Mistral / Qwen2 checkpoint (HF safetensors)"},
#endif
#ifdef LONGCTX_HAS_TRAIN
    {"train", longctx::app::cmd_train,
     "train a decoder on synthetic passkey / needle data (AdamW)"},
    {"passkey", longctx::app::cmd_passkey,
     "passkey retrieval accuracy over lengths x depths, with a heatmap"},
#endif
};

void print_usage(std::FILE* f) {
  std::fprintf(f, "usage: longctx <command> [options]   (longctx <command> --help)\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(f, "  %-8s %s\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    print_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  std::string_view name = argv[1];
  for (const Command& c : kCommands) {
    if (name != c.name) continue;
    try {
      return c.run(argc - 1, argv + 1);
    } catch (const longctx::ArgumentError& e) {
      std::fprintf(stderr, "longctx %s: error: %s\n", c.name, e.what());
      return 2;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "longctx %s: error: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "longctx: unknown command '%s'\n", argv[1]);
  print_usage(stderr);
  return 2;
}
