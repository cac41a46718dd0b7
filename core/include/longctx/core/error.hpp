// Errors that name the offending argument and the value that was expected.
// Every public entry point validates its input with LONGCTX_CHECK_ARG so that bad input
// produces a readable message instead of a crash, a hang or silent garbage.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace longctx {

// Thrown for invalid user input; what() reads "argument 'NAME': expected X, got Y".
class ArgumentError : public std::invalid_argument {
 public:
  ArgumentError(const std::string& argument, const std::string& expected, const std::string& got)
      : std::invalid_argument("argument '" + argument + "': expected " + expected + ", got " + got),
        argument_(argument) {}
  const std::string& argument() const { return argument_; }

 private:
  std::string argument_;
};

// Thrown when the library itself or a system facility fails (allocation, I/O, ...).
class RuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}
}  // namespace detail

}  // namespace longctx

// LONGCTX_CHECK_ARG(cond, "q", "a 4-d tensor", "rank " << r): throws ArgumentError when !cond.
// `expected` and `got_stream` are stream expressions, so both may mix text and values.
#define LONGCTX_CHECK_ARG(cond, argument, expected, got_stream)                                \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      std::ostringstream longctx_expected_, longctx_got_;                                      \
      longctx_expected_ << expected;                                                           \
      longctx_got_ << got_stream;                                                              \
      throw ::longctx::ArgumentError((argument), longctx_expected_.str(), longctx_got_.str()); \
    }                                                                                          \
  } while (0)
