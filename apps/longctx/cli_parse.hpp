// CLI11 parsing with the project's conventions: `--help` exits 0, any parse or validation error
// prints "<program>: error: <message naming the flag>" and exits 2 (like ArgumentError).
// Used by the `longctx` subcommands ("longctx attn") and the benchmark programs ("attn_vs_gemm").
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

namespace longctx::app {

// Returns the exit code when the command must stop here (help or error), nullopt to go on.
inline std::optional<int> parse_command_line(CLI::App& app, const std::string& program, int argc,
                                             char** argv) {
  app.failure_message([program](const CLI::App*, const CLI::Error& e) {
    return program + ": error: " + e.what() + "\nRun with --help for more information.\n";
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the failure message on stderr
    return 2;
  }
  return std::nullopt;
}

}  // namespace longctx::app
