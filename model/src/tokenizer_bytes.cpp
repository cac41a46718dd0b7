// The byte-level fallback tokenizer for checkpoints without tokenizer files: token id = byte
// value, 256 tokens, no special tokens. Decoding reads the bytes as UTF-8, U+FFFD for ill-formed
// parts, like the tokenizer.json path does.
#include "longctx/core/error.hpp"
#include "longctx/model/tokenizer.hpp"
#include "tokenizer_text.hpp"

namespace longctx::model {
namespace {

class ByteTokenizer final : public Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text, bool /*add_special_tokens*/) const override {
    std::vector<int32_t> ids(text.size());
    for (size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
    return ids;
  }

  std::string decode(std::span<const int32_t> ids, bool /*skip_special_tokens*/) const override {
    std::string bytes;
    bytes.reserve(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      LONGCTX_CHECK_ARG(ids[i] >= 0, "ids", "token ids >= 0", "ids[" << i << "] = " << ids[i]);
      // A model's vocabulary may exceed 256 (the fixtures' models have 320): such ids have no
      // byte and decode to nothing, as ids without a token do in the other tokenizers.
      if (ids[i] < 256) bytes.push_back(char(ids[i]));
    }
    return text::utf8_lossy(bytes);
  }

  int64_t vocab_size() const override { return 256; }
  std::string describe() const override { return "bytes (256 tokens, id = byte value)"; }
};

}  // namespace

std::unique_ptr<Tokenizer> make_byte_tokenizer() {
  return std::make_unique<ByteTokenizer>();
}

}  // namespace longctx::model
