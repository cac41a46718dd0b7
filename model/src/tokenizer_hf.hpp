// The parts of a Hugging Face tokenizer.json that longctx runs (byte-level BPE as GPT-2, Llama 3
// and Qwen2 ship it) and the reader that builds them, rejecting anything else by name.
// Supported: normalizer null | NFC | NFD | NFKC | NFKD | Sequence of those;
// pre_tokenizer null | ByteLevel | Split | Sequence of those; model BPE;
// post_processor null | ByteLevel | TemplateProcessing | Sequence of those;
// decoder null | ByteLevel | Sequence of those; added_tokens with all their options.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "longctx/core/error.hpp"
#include "tokenizer_added_tokens.hpp"
#include "tokenizer_bpe_model.hpp"
#include "tokenizer_pretokenizer.hpp"

namespace longctx::model::hf {

// A tokenizer.json component longctx does not implement (a WordPiece model, a Metaspace
// pre-tokenizer, ...). load_tokenizer() falls back to tokenizer.model on it where there is one.
class UnsupportedComponent : public ArgumentError {
 public:
  using ArgumentError::ArgumentError;
};

// TemplateProcessing's single-sequence template: special token ids around the sequence ($A).
struct TemplatePiece {
  bool is_sequence = false;
  std::vector<int32_t> special_ids;  // when !is_sequence
};

struct PostProcessor {
  std::vector<std::vector<TemplatePiece>> templates;  // applied in order; ByteLevel adds none
  std::vector<int32_t> apply(std::vector<int32_t> ids) const;
  std::optional<int32_t> leading_special_id() const;  // the BOS a template puts first
};

enum class DecoderStep { byte_level };

struct TokenizerJson {
  Normalizer normalizer;
  PreTokenizer pre_tokenizer;
  std::unique_ptr<BpeModel> model;
  std::vector<AddedToken> added_tokens;
  PostProcessor post_processor;
  // nullopt: no decoder, tokens are joined with spaces (what `tokenizers` does then).
  std::optional<std::vector<DecoderStep>> decoder;
};

// `where` prefixes every error's argument ("/path/tokenizer.json: "), so errors read
// "argument '/path/tokenizer.json: pre_tokenizer.type': expected ..., got \"Metaspace\"".
TokenizerJson parse_tokenizer_json(const nlohmann::json& root, const std::string& where);

}  // namespace longctx::model::hf
