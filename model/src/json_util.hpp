// JSON helpers for the model loaders (config.json, safetensors headers, shard indexes): parsing
// whose errors name the source, and typed lookups whose errors name the key ("rope_parameters.
// factor"), the expected value and what the file holds. Null counts as absent, as in HF configs.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>

#include "longctx/core/error.hpp"

namespace longctx::model::json_util {

using Json = nlohmann::json;

// Parses `text`; ArgumentError(argument, "valid JSON", "SOURCE (parser message)") otherwise.
inline Json parse(std::string_view text, const std::string& argument, const std::string& source) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    throw ArgumentError(argument, "valid JSON", source + " (" + e.what() + ")");
  }
}

// The whole file as text; ArgumentError naming `argument` and the path when it cannot be read.
inline std::string read_text_file(const std::filesystem::path& path, const std::string& argument) {
  std::ifstream in(path, std::ios::binary);
  LONGCTX_CHECK_ARG(in.good(), argument, "a readable file", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  LONGCTX_CHECK_ARG(!in.bad(), argument, "a readable file", path.string() << " (read error)");
  return text.str();
}

// A short rendering of a value for error messages (long arrays/objects are cut).
inline std::string brief(const Json& value) {
  std::string text = value.dump();
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

// Typed access to the members of one JSON object. `prefix` is prepended to key names in errors
// ("rope_parameters."), `source` says where the object came from ("config.json").
class Fields {
 public:
  Fields(const Json& object, std::string prefix, std::string source)
      : object_(object), prefix_(std::move(prefix)), source_(std::move(source)) {}

  const Json& object() const { return object_; }
  std::string key_name(std::string_view key) const { return prefix_ + std::string(key); }
  // Present and not null.
  bool has(std::string_view key) const {
    const auto it = object_.find(key);
    return it != object_.end() && !it->is_null();
  }
  const Json& at(std::string_view key) const { return *object_.find(key); }

  int64_t required_int(std::string_view key, const char* expected = "an integer") const {
    LONGCTX_CHECK_ARG(has(key), key_name(key), expected, "missing in " << source_);
    return as_int(key, expected);
  }
  int64_t int_or(std::string_view key, int64_t fallback,
                 const char* expected = "an integer") const {
    return has(key) ? as_int(key, expected) : fallback;
  }
  double required_number(std::string_view key, const char* expected = "a number") const {
    LONGCTX_CHECK_ARG(has(key), key_name(key), expected, "missing in " << source_);
    return as_number(key, expected);
  }
  double number_or(std::string_view key, double fallback, const char* expected = "a number") const {
    return has(key) ? as_number(key, expected) : fallback;
  }
  bool bool_or(std::string_view key, bool fallback) const {
    if (!has(key)) return fallback;
    const Json& v = at(key);
    LONGCTX_CHECK_ARG(v.is_boolean(), key_name(key), "true or false", bad(v));
    return v.get<bool>();
  }
  std::string string_or(std::string_view key, std::string fallback) const {
    if (!has(key)) return fallback;
    const Json& v = at(key);
    LONGCTX_CHECK_ARG(v.is_string(), key_name(key), "a string", bad(v));
    return v.get<std::string>();
  }
  // "VALUE in SOURCE", for the `got` part of an error.
  std::string bad(const Json& value) const { return brief(value) + " in " + source_; }
  const std::string& source() const { return source_; }

 private:
  int64_t as_int(std::string_view key, const char* expected) const {
    const Json& v = at(key);
    // 32.0 is accepted (some writers emit floats for sizes); 32.5 is not.
    if (v.is_number_float()) {
      const double d = v.get<double>();
      LONGCTX_CHECK_ARG(std::fabs(d) < 9.0e18 && std::floor(d) == d, key_name(key), expected,
                        bad(v));
      return int64_t(d);
    }
    LONGCTX_CHECK_ARG(v.is_number_integer(), key_name(key), expected, bad(v));
    return v.get<int64_t>();
  }
  double as_number(std::string_view key, const char* expected) const {
    const Json& v = at(key);
    LONGCTX_CHECK_ARG(v.is_number(), key_name(key), expected, bad(v));
    return v.get<double>();
  }

  const Json& object_;
  std::string prefix_;
  std::string source_;
};

}  // namespace longctx::model::json_util
