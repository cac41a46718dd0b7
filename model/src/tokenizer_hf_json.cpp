// Reads tokenizer.json into the parts longctx runs (see tokenizer_hf.hpp). Every error names the
// JSON path of the offending component; components outside the supported set raise
// UnsupportedComponent with the list of what is supported.
#include <limits>
#include <nlohmann/json.hpp>

#include "tokenizer_hf.hpp"

namespace longctx::model::hf {
namespace {

using nlohmann::json;

// A JSON value as error messages quote it: at most ~80 bytes, cut at a character boundary.
std::string shown(const json& j) {
  std::string s = j.dump();
  if (s.size() <= 80) return s;
  size_t cut = 77;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
  return s + "...";
}

struct Reader {
  std::string where;

  [[noreturn]] void fail(const std::string& path, const std::string& expected,
                         const std::string& got) const {
    throw ArgumentError(where + path, expected, got);
  }
  [[noreturn]] void unsupported(const std::string& path, const std::string& supported,
                                const std::string& type) const {
    throw UnsupportedComponent(
        where + path, supported + " (longctx runs byte-level BPE tokenizers)", "\"" + type + "\"");
  }

  // The component's "type"; `fallback` when the key is absent and a fallback is given.
  std::string type_of(const json& j, const std::string& path,
                      const char* fallback = nullptr) const {
    if (!j.is_object()) fail(path, "an object with a \"type\"", shown(j));
    const auto it = j.find("type");
    if (it == j.end() && fallback) return fallback;
    if (it == j.end() || !it->is_string())
      fail(path + ".type", "a string", it == j.end() ? "missing" : shown(*it));
    return it->get<std::string>();
  }

  bool boolean(const json& j, const char* key, bool fallback, const std::string& path) const {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) fail(path + "." + key, "true or false", shown(*it));
    return it->get<bool>();
  }

  std::optional<std::string> optional_string(const json& j, const char* key,
                                             const std::string& path) const {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) fail(path + "." + key, "a string or null", shown(*it));
    return it->get<std::string>();
  }

  const json& array(const json& j, const char* key, const std::string& path) const {
    const auto it = j.find(key);
    if (it == j.end() || !it->is_array())
      fail(path + "." + key, "an array", it == j.end() ? "missing" : shown(*it));
    return *it;
  }

  static bool is_id(const json& j) {
    return j.is_number_integer() && j.get<int64_t>() >= 0 &&
           j.get<int64_t>() <= std::numeric_limits<int32_t>::max();
  }
  int32_t id(const json& j, const std::string& path) const {
    if (!is_id(j)) fail(path, "a token id (an integer in [0, 2^31))", shown(j));
    return int32_t(j.get<int64_t>());
  }
};

void read_normalizer(const Reader& r, const json& j, const std::string& path, Normalizer& out) {
  if (j.is_null()) return;
  const std::string type = r.type_of(j, path);
  if (type == "NFC") {
    out.forms.push_back(text::NormalForm::nfc);
  } else if (type == "NFD") {
    out.forms.push_back(text::NormalForm::nfd);
  } else if (type == "NFKC") {
    out.forms.push_back(text::NormalForm::nfkc);
  } else if (type == "NFKD") {
    out.forms.push_back(text::NormalForm::nfkd);
  } else if (type == "Sequence") {
    const json& list = r.array(j, "normalizers", path);
    for (size_t i = 0; i < list.size(); ++i)
      read_normalizer(r, list[i], path + ".normalizers[" + std::to_string(i) + "]", out);
  } else {
    r.unsupported(path + ".type", "one of NFC, NFD, NFKC, NFKD, Sequence or null", type);
  }
}

SplitBehavior read_behavior(const Reader& r, const json& j, const std::string& path) {
  const auto it = j.find("behavior");
  if (it == j.end() || !it->is_string())
    r.fail(path + ".behavior", "a split behavior name", it == j.end() ? "missing" : shown(*it));
  const std::string name = it->get<std::string>();
  if (name == "Isolated") return SplitBehavior::isolated;
  if (name == "Removed") return SplitBehavior::removed;
  if (name == "MergedWithPrevious") return SplitBehavior::merged_with_previous;
  if (name == "MergedWithNext") return SplitBehavior::merged_with_next;
  if (name == "Contiguous") return SplitBehavior::contiguous;
  r.fail(path + ".behavior",
         "one of Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous", shown(*it));
}

void read_pre_tokenizer(const Reader& r, const json& j, const std::string& path,
                        PreTokenizer& out) {
  if (j.is_null()) return;
  const std::string type = r.type_of(j, path);
  if (type == "ByteLevel") {
    ByteLevelStep step;
    // The defaults of `tokenizers`' ByteLevel::default().
    step.add_prefix_space = r.boolean(j, "add_prefix_space", true, path);
    step.use_regex = r.boolean(j, "use_regex", true, path);
    out.steps.emplace_back(step);
  } else if (type == "Split") {
    const auto pattern = j.find("pattern");
    const std::string pattern_path = path + ".pattern";
    if (pattern == j.end() || !pattern->is_object() || pattern->size() != 1 ||
        !pattern->begin()->is_string() ||
        (pattern->begin().key() != "Regex" && pattern->begin().key() != "String"))
      r.fail(pattern_path, "{\"Regex\": \"...\"} or {\"String\": \"...\"}",
             pattern == j.end() ? "missing" : shown(*pattern));
    const bool literal = pattern->begin().key() == "String";
    SplitStep step{
        UnicodeRegex(pattern->begin()->get<std::string>(),
                     literal ? UnicodeRegex::Syntax::literal : UnicodeRegex::Syntax::regex,
                     r.where + pattern_path + (literal ? ".String" : ".Regex")),
        read_behavior(r, j, path), r.boolean(j, "invert", false, path)};
    out.steps.emplace_back(std::move(step));
  } else if (type == "Sequence") {
    const json& list = r.array(j, "pretokenizers", path);
    for (size_t i = 0; i < list.size(); ++i)
      read_pre_tokenizer(r, list[i], path + ".pretokenizers[" + std::to_string(i) + "]", out);
  } else {
    r.unsupported(path + ".type", "one of ByteLevel, Split, Sequence or null", type);
  }
}

std::unique_ptr<BpeModel> read_model(const Reader& r, const json& j) {
  const std::string path = "model";
  if (j.is_null()) r.fail(path, "a BPE model object", "null");
  // Old files may leave out the type of a BPE model; its merges give it away.
  const std::string type =
      r.type_of(j, path, j.is_object() && j.contains("merges") ? "BPE" : nullptr);
  if (type != "BPE") r.unsupported(path + ".type", "BPE", type);

  const auto vocab_it = j.find("vocab");
  if (vocab_it == j.end() || !vocab_it->is_object())
    r.fail(path + ".vocab", "an object mapping each token to its id",
           vocab_it == j.end() ? "missing" : shown(*vocab_it));
  StringMap<int32_t> vocab;
  vocab.reserve(vocab_it->size());
  int64_t max_id = -1;
  for (auto it = vocab_it->begin(); it != vocab_it->end(); ++it) {
    // The error path is built only on failure: this loop runs 128K times for Llama 3.
    if (!Reader::is_id(it.value())) r.id(it.value(), path + ".vocab[\"" + it.key() + "\"]");
    const auto id = int32_t(it.value().get<int64_t>());
    max_id = std::max<int64_t>(max_id, id);
    vocab.emplace(it.key(), id);
  }
  // Ids index a table; real vocabularies number their tokens 0..n-1.
  if (max_id >= 2 * int64_t(vocab.size()) + 65536)
    r.fail(path + ".vocab", "token ids below 2 x the vocabulary size + 65536",
           "id " + std::to_string(max_id) + " with " + std::to_string(vocab.size()) + " tokens");

  const json& merges_json = r.array(j, "merges", path);
  // Views into the JSON document, which outlives the model's construction.
  std::vector<std::pair<std::string_view, std::string_view>> merges;
  merges.reserve(merges_json.size());
  for (size_t i = 0; i < merges_json.size(); ++i) {
    const json& m = merges_json[i];
    auto bad_merge = [&] {
      r.fail(path + ".merges[" + std::to_string(i) + "]",
             "\"left right\" (two tokens, one space) or [left, right]", shown(m));
    };
    if (m.is_string()) {
      // The older "left right" form; tokens never contain spaces there.
      const std::string_view s = m.get_ref<const std::string&>();
      const size_t space = s.find(' ');
      if (space == std::string_view::npos || s.find(' ', space + 1) != std::string_view::npos)
        bad_merge();
      merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      merges.emplace_back(m[0].get_ref<const std::string&>(), m[1].get_ref<const std::string&>());
    } else {
      bad_merge();
    }
  }

  const auto dropout = j.find("dropout");
  if (dropout != j.end() && !dropout->is_null() &&
      !(dropout->is_number() && dropout->get<double>() == 0.0))
    r.unsupported(path + ".dropout", "null or 0 (BPE dropout randomises encodings)",
                  shown(*dropout));

  BpeOptions options;
  options.unk_token = r.optional_string(j, "unk_token", path);
  options.continuing_subword_prefix =
      r.optional_string(j, "continuing_subword_prefix", path).value_or("");
  options.end_of_word_suffix = r.optional_string(j, "end_of_word_suffix", path).value_or("");
  options.fuse_unk = r.boolean(j, "fuse_unk", false, path);
  options.byte_fallback = r.boolean(j, "byte_fallback", false, path);
  options.ignore_merges = r.boolean(j, "ignore_merges", false, path);
  return std::make_unique<BpeModel>(std::move(vocab), merges, std::move(options), r.where);
}

std::vector<AddedToken> read_added_tokens(const Reader& r, const json& root) {
  std::vector<AddedToken> tokens;
  const auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return tokens;
  if (!it->is_array()) r.fail("added_tokens", "an array", shown(*it));
  for (size_t i = 0; i < it->size(); ++i) {
    const json& t = (*it)[i];
    const std::string path = "added_tokens[" + std::to_string(i) + "]";
    if (!t.is_object() || !t.contains("id") || !t.contains("content") || !t["content"].is_string())
      r.fail(path, "an object with \"id\" and \"content\"", shown(t));
    AddedToken token;
    token.id = r.id(t["id"], path + ".id");
    token.content = t["content"].get<std::string>();
    token.special = r.boolean(t, "special", false, path);
    token.single_word = r.boolean(t, "single_word", false, path);
    token.lstrip = r.boolean(t, "lstrip", false, path);
    token.rstrip = r.boolean(t, "rstrip", false, path);
    token.normalized = r.boolean(t, "normalized", !token.special, path);
    tokens.push_back(std::move(token));
  }
  return tokens;
}

// The ids a template's special token name stands for, from TemplateProcessing's special_tokens.
std::vector<int32_t> template_special_ids(const Reader& r, const json& j, const std::string& name,
                                          const std::string& path) {
  const auto specials = j.find("special_tokens");
  if (specials == j.end() || !specials->is_object() || !specials->contains(name))
    r.fail(path + ".special_tokens", "an entry for \"" + name + "\" used by the template",
           specials == j.end() ? "missing" : "none");
  const json& entry = (*specials)[name];
  if (!entry.is_object() || !entry.contains("ids") || !entry["ids"].is_array())
    r.fail(path + ".special_tokens[\"" + name + "\"]", "an object with \"ids\"", shown(entry));
  std::vector<int32_t> ids;
  for (size_t k = 0; k < entry["ids"].size(); ++k)
    ids.push_back(r.id(entry["ids"][k],
                       path + ".special_tokens[\"" + name + "\"].ids[" + std::to_string(k) + "]"));
  return ids;
}

std::vector<TemplatePiece> read_template(const Reader& r, const json& j, const std::string& path) {
  const std::string single_path = path + ".single";
  const auto single = j.find("single");
  if (single == j.end()) r.fail(single_path, "a template", "missing");
  std::vector<TemplatePiece> pieces;
  auto add_sequence = [&](const std::string& name) {
    // The single template may only refer to the first sequence ($A, $, $0 with an optional :type).
    if (name != "A" && name != "" && name != "0")
      r.fail(single_path, "a template over the sequence $A", "$" + name);
    pieces.push_back({true, {}});
  };
  if (single->is_string()) {
    // The constructor's string form, "<s> $A", should a file carry it.
    std::string s = single->get<std::string>();
    size_t pos = 0;
    while (pos < s.size()) {
      const size_t end = std::min(s.find(' ', pos), s.size());
      std::string item = s.substr(pos, end - pos);
      pos = end + 1;
      if (item.empty()) continue;
      // "name:1" gives the piece's type id, which longctx does not use.
      const size_t colon = item.rfind(':');
      if (colon != std::string::npos && colon > 0 && colon + 1 < item.size() &&
          item.find_first_not_of("0123456789", colon + 1) == std::string::npos)
        item.resize(colon);
      if (item[0] == '$') {
        add_sequence(item.substr(1));
      } else {
        pieces.push_back({false, template_special_ids(r, j, item, path)});
      }
    }
    return pieces;
  }
  if (!single->is_array()) r.fail(single_path, "an array of template pieces", shown(*single));
  for (size_t i = 0; i < single->size(); ++i) {
    const json& piece = (*single)[i];
    const std::string piece_path = single_path + "[" + std::to_string(i) + "]";
    if (piece.is_object() && piece.contains("Sequence") && piece["Sequence"].is_object()) {
      add_sequence(piece["Sequence"].value("id", std::string("A")));
    } else if (piece.is_object() && piece.contains("SpecialToken") &&
               piece["SpecialToken"].is_object() && piece["SpecialToken"].contains("id") &&
               piece["SpecialToken"]["id"].is_string()) {
      pieces.push_back({false, template_special_ids(
                                   r, j, piece["SpecialToken"]["id"].get<std::string>(), path)});
    } else {
      r.fail(piece_path, "{\"Sequence\": {...}} or {\"SpecialToken\": {\"id\": ...}}",
             shown(piece));
    }
  }
  return pieces;
}

void read_post_processor(const Reader& r, const json& j, const std::string& path,
                         PostProcessor& out) {
  if (j.is_null()) return;
  const std::string type = r.type_of(j, path);
  if (type == "ByteLevel") {
    return;  // it only trims offsets, which longctx does not report
  } else if (type == "TemplateProcessing") {
    out.templates.push_back(read_template(r, j, path));
  } else if (type == "Sequence") {
    const json& list = r.array(j, "processors", path);
    for (size_t i = 0; i < list.size(); ++i)
      read_post_processor(r, list[i], path + ".processors[" + std::to_string(i) + "]", out);
  } else {
    r.unsupported(path + ".type", "one of ByteLevel, TemplateProcessing, Sequence or null", type);
  }
}

void read_decoder(const Reader& r, const json& j, const std::string& path,
                  std::vector<DecoderStep>& out) {
  const std::string type = r.type_of(j, path);
  if (type == "ByteLevel") {
    out.push_back(DecoderStep::byte_level);
  } else if (type == "Sequence") {
    const json& list = r.array(j, "decoders", path);
    for (size_t i = 0; i < list.size(); ++i)
      read_decoder(r, list[i], path + ".decoders[" + std::to_string(i) + "]", out);
  } else {
    r.unsupported(path + ".type", "one of ByteLevel, Sequence or null", type);
  }
}

const json& member_or_null(const json& root, const char* key) {
  static const json null_value;
  const auto it = root.find(key);
  return it == root.end() ? null_value : *it;
}

}  // namespace

TokenizerJson parse_tokenizer_json(const json& root, const std::string& where) {
  const Reader r{where};
  if (!root.is_object()) r.fail("(root)", "a tokenizer.json object", shown(root));
  TokenizerJson t;
  if (!root.contains("model")) r.fail("model", "a BPE model object", "missing");
  // Model first: a file with an unsupported model is reported for that before anything else.
  t.model = read_model(r, root["model"]);
  read_normalizer(r, member_or_null(root, "normalizer"), "normalizer", t.normalizer);
  read_pre_tokenizer(r, member_or_null(root, "pre_tokenizer"), "pre_tokenizer", t.pre_tokenizer);
  read_post_processor(r, member_or_null(root, "post_processor"), "post_processor",
                      t.post_processor);
  const json& decoder = member_or_null(root, "decoder");
  if (!decoder.is_null()) {
    t.decoder.emplace();
    read_decoder(r, decoder, "decoder", *t.decoder);
  }
  t.added_tokens = read_added_tokens(r, root);
  return t;
}

std::vector<int32_t> PostProcessor::apply(std::vector<int32_t> ids) const {
  for (const auto& pieces : templates) {
    std::vector<int32_t> out;
    out.reserve(ids.size() + 4);
    for (const TemplatePiece& p : pieces) {
      if (p.is_sequence) {
        out.insert(out.end(), ids.begin(), ids.end());
      } else {
        out.insert(out.end(), p.special_ids.begin(), p.special_ids.end());
      }
    }
    ids = std::move(out);
  }
  return ids;
}

std::optional<int32_t> PostProcessor::leading_special_id() const {
  if (templates.empty()) return std::nullopt;
  const auto& pieces = templates.back();
  if (pieces.empty() || pieces.front().is_sequence || pieces.front().special_ids.empty())
    return std::nullopt;
  return pieces.front().special_ids.front();
}

}  // namespace longctx::model::hf
