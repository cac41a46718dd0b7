// Tokenizers for the model runtime: Hugging Face tokenizer.json (byte-level BPE as GPT-2,
// Llama 3 and Qwen2 ship it), SentencePiece tokenizer.model (Llama 2, Mistral; libsentencepiece),
// and a byte-level fallback (token id = byte value) for checkpoints without either.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace longctx::model {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // add_special_tokens: what the tokenizer's post-processor adds (BOS for Llama 3 / SentencePiece
  // models with add_bos), as `tokenizers`' encode(text, add_special_tokens) does.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const = 0;
  virtual std::string decode(std::span<const int32_t> ids, bool skip_special_tokens) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual std::string describe() const = 0;  // "byte-level BPE (tokenizer.json, 661 tokens)"
  virtual std::optional<int32_t> bos_id() const { return std::nullopt; }
};

// tokenizer.json when present, else tokenizer.model, else the byte-level tokenizer.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir);
std::unique_ptr<Tokenizer> load_hf_tokenizer_json(const std::filesystem::path& file);
std::unique_ptr<Tokenizer> load_sentencepiece(const std::filesystem::path& file);
std::unique_ptr<Tokenizer> make_byte_tokenizer();

}  // namespace longctx::model
