// SentencePiece tokenizer.model (Llama 2, Mistral) through libsentencepiece. encode() with
// special tokens prepends BOS when the model has one, as Llama 2's tokenizer does (add_bos_token).
#include <sentencepiece_processor.h>

#include "longctx/core/error.hpp"
#include "longctx/model/tokenizer.hpp"

namespace longctx::model {
namespace {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::filesystem::path& file) {
    const sentencepiece::util::Status status = processor_.Load(file.string());
    LONGCTX_CHECK_ARG(status.ok(), "file", "a SentencePiece model (tokenizer.model)",
                      file.string() << ": " << status.ToString());
  }

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const override {
    std::vector<int> pieces;
    const sentencepiece::util::Status status = processor_.Encode(text, &pieces);
    if (!status.ok()) throw RuntimeError("SentencePiece encode failed: " + status.ToString());
    std::vector<int32_t> ids;
    ids.reserve(pieces.size() + 1);
    if (add_special_tokens && processor_.bos_id() >= 0) ids.push_back(processor_.bos_id());
    ids.insert(ids.end(), pieces.begin(), pieces.end());
    return ids;
  }

  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens) const override {
    std::vector<int> kept;
    kept.reserve(ids.size());
    const int size = processor_.GetPieceSize();
    for (size_t i = 0; i < ids.size(); ++i) {
      const int32_t id = ids[i];
      LONGCTX_CHECK_ARG(id >= 0, "ids", "token ids >= 0", "ids[" << i << "] = " << id);
      if (id >= size) continue;  // a model's padded vocabulary: no piece, nothing to print
      // Control pieces (BOS, EOS) already decode to nothing; skipping also drops the unknown
      // piece, which transformers counts among the special tokens.
      if (skip_special_tokens && (processor_.IsControl(id) || processor_.IsUnknown(id))) continue;
      kept.push_back(id);
    }
    std::string text;
    const sentencepiece::util::Status status = processor_.Decode(kept, &text);
    if (!status.ok()) throw RuntimeError("SentencePiece decode failed: " + status.ToString());
    return text;
  }

  int64_t vocab_size() const override { return processor_.GetPieceSize(); }

  std::string describe() const override {
    return "SentencePiece (tokenizer.model, " + std::to_string(processor_.GetPieceSize()) +
           " pieces)";
  }

  std::optional<int32_t> bos_id() const override {
    if (processor_.bos_id() < 0) return std::nullopt;
    return processor_.bos_id();
  }

 private:
  sentencepiece::SentencePieceProcessor processor_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece(const std::filesystem::path& file) {
  LONGCTX_CHECK_ARG(std::filesystem::is_regular_file(file), "file", "an existing tokenizer.model",
                    file.string() << (std::filesystem::exists(file) ? " (not a regular file)"
                                                                    : " (no such file)"));
  return std::make_unique<SentencePieceTokenizer>(file);
}

}  // namespace longctx::model
