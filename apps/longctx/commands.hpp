// The subcommands of the longctx CLI. Each takes the arguments after its own name
// (argv[0] is the subcommand name) and returns the process exit code.
#pragma once

namespace longctx::app {

int cmd_attn(int argc, char** argv);     // exact attention: time, GFLOP/s, memory, --check
int cmd_demo(int argc, char** argv);     // the main job: a tour with a table at the end
int cmd_plan(int argc, char** argv);     // memory / communication planner (plan/)
int cmd_train(int argc, char** argv);    // train a decoder on synthetic passkey data (train/)
int cmd_passkey(int argc, char** argv);  // passkey retrieval grid and heatmap (train/)
int cmd_run(int argc, char** argv);      // LLaMA-family decoder from a HF checkpoint (model/)

}  // namespace longctx::app
