// Picks a checkpoint's tokenizer: tokenizer.json, else tokenizer.model, else bytes. A
// tokenizer.json that uses components longctx does not run (Llama 2 / Mistral files use Metaspace
// or Prepend/Replace normalisers with byte fallback) yields to a tokenizer.model beside it, the
// SentencePiece original such files were converted from.
#include "longctx/core/error.hpp"
#include "longctx/model/tokenizer.hpp"
#include "tokenizer_hf.hpp"

namespace longctx::model {

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir) {
  LONGCTX_CHECK_ARG(std::filesystem::is_directory(model_dir), "model_dir", "a checkpoint directory",
                    model_dir.string() << " (not a directory)");
  const std::filesystem::path json = model_dir / "tokenizer.json";
  const std::filesystem::path sentencepiece = model_dir / "tokenizer.model";
  if (std::filesystem::exists(json)) {
    try {
      return load_hf_tokenizer_json(json);
    } catch (const hf::UnsupportedComponent&) {
      if (!std::filesystem::exists(sentencepiece)) throw;
    }
  }
  if (std::filesystem::exists(sentencepiece)) return load_sentencepiece(sentencepiece);
  return make_byte_tokenizer();
}

}  // namespace longctx::model
