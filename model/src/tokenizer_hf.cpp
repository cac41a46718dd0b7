// The tokenizer.json tokenizer: added tokens, normaliser, pre-tokenizer, BPE model and
// post-processor chained as `tokenizers`' encode() chains them, and the decoder for decode().
#include "tokenizer_hf.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_set>

#include "longctx/model/tokenizer.hpp"
#include "tokenizer_byte_level.hpp"

namespace longctx::model {
namespace {

using hf::TextSegment;

class HfBpeTokenizer final : public Tokenizer {
 public:
  explicit HfBpeTokenizer(hf::TokenizerJson parts) : parts_(std::move(parts)) {
    for (const hf::AddedToken& t : parts_.added_tokens) {
      added_by_id_[t.id] = &t;
      if (t.special) special_contents_.insert(t.content);
      vocab_size_ = std::max<int64_t>(vocab_size_, int64_t(t.id) + 1);
      // As in `tokenizers`: normalized tokens are looked for, normalised, in normalised text.
      if (t.normalized) {
        normalized_matcher_.add(parts_.normalizer.apply(t.content), t);
      } else {
        raw_matcher_.add(t.content, t);
      }
    }
    vocab_size_ = std::max(vocab_size_, parts_.model->id_limit());
  }

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const override {
    text::check_utf8(text, "text");
    std::vector<int32_t> ids;
    for (const TextSegment& raw : segments(raw_matcher_, text)) {
      if (raw.token_id >= 0) {
        ids.push_back(raw.token_id);
        continue;
      }
      const std::string normalized =
          parts_.normalizer.apply(text.substr(raw.begin, raw.end - raw.begin));
      for (const TextSegment& piece : segments(normalized_matcher_, normalized)) {
        if (piece.token_id >= 0) {
          ids.push_back(piece.token_id);
          continue;
        }
        const std::string_view piece_text =
            std::string_view(normalized).substr(piece.begin, piece.end - piece.begin);
        for (const std::string& word : parts_.pre_tokenizer.run(piece_text))
          parts_.model->tokenize(word, ids);
      }
    }
    if (add_special_tokens) ids = parts_.post_processor.apply(std::move(ids));
    return ids;
  }

  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens) const override {
    std::vector<std::string_view> tokens;
    tokens.reserve(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      const int32_t id = ids[i];
      LONGCTX_CHECK_ARG(id >= 0, "ids", "token ids >= 0", "ids[" << i << "] = " << id);
      std::string_view token;
      if (const auto it = added_by_id_.find(id); it != added_by_id_.end()) {
        token = it->second->content;
      } else if (const std::string* model_token = parts_.model->token_text(id)) {
        token = *model_token;
      } else {
        continue;  // ids without a token (a model's padded vocabulary) decode to nothing
      }
      if (skip_special_tokens && special_contents_.contains(token)) continue;
      tokens.push_back(token);
    }
    if (!parts_.decoder) {
      std::string joined;
      for (size_t i = 0; i < tokens.size(); ++i) {
        if (i > 0) joined += ' ';
        joined += tokens[i];
      }
      return joined;
    }
    std::vector<std::string> chain(tokens.begin(), tokens.end());
    for (hf::DecoderStep step : *parts_.decoder) {
      if (step == hf::DecoderStep::byte_level) {
        // Tokens whose characters are all byte symbols become those bytes, others stay as they
        // are; the whole is then read as UTF-8 with U+FFFD for ill-formed parts.
        std::string bytes;
        for (const std::string& t : chain)
          if (!byte_level::decode_into(t, bytes)) bytes += t;
        chain.assign(1, text::utf8_lossy(bytes));
      }
    }
    std::string out;
    for (const std::string& t : chain) out += t;
    return out;
  }

  int64_t vocab_size() const override { return vocab_size_; }

  std::string describe() const override {
    return std::string(parts_.pre_tokenizer.has_byte_level() ? "byte-level BPE" : "BPE") +
           " (tokenizer.json, " + std::to_string(vocab_size_) + " tokens, " +
           std::to_string(parts_.model->merge_count()) + " merges)";
  }

  std::optional<int32_t> bos_id() const override {
    return parts_.post_processor.leading_special_id();
  }

 private:
  static std::vector<TextSegment> segments(const hf::AddedTokenMatcher& matcher,
                                           std::string_view text) {
    if (matcher.empty()) {
      if (text.empty()) return {};
      return {TextSegment{0, text.size(), -1}};
    }
    return matcher.split(text);
  }

  hf::TokenizerJson parts_;
  hf::AddedTokenMatcher raw_matcher_, normalized_matcher_;
  std::unordered_map<int32_t, const hf::AddedToken*> added_by_id_;
  std::unordered_set<std::string, hf::StringHash, std::equal_to<>> special_contents_;
  int64_t vocab_size_ = 0;
};

}  // namespace

std::unique_ptr<Tokenizer> load_hf_tokenizer_json(const std::filesystem::path& file) {
  LONGCTX_CHECK_ARG(std::filesystem::is_regular_file(file), "file", "an existing tokenizer.json",
                    file.string() << (std::filesystem::exists(file) ? " (not a regular file)"
                                                                    : " (no such file)"));
  std::ifstream in(file, std::ios::binary);
  if (!in) throw RuntimeError("cannot open " + file.string());
  std::ostringstream content;
  content << in.rdbuf();
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(content.str());
  } catch (const nlohmann::json::exception& e) {
    throw ArgumentError(file.string(), "a tokenizer.json in valid JSON", e.what());
  }
  return std::make_unique<HfBpeTokenizer>(hf::parse_tokenizer_json(root, file.string() + ": "));
}

}  // namespace longctx::model
