// The passkey prompt's text: SPEC §7's instruction, filler, needle and question (Landmark
// Attention's wording), the multi-needle doors, and the needles' placement at sentence
// boundaries of the filler.
#include "passkey_template.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <tuple>

#include "longctx/core/error.hpp"
#include "passkey_rng.hpp"

namespace longctx::train::detail {
namespace {

constexpr std::string_view kInstruction =
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize "
    "them. I will quiz you about the important information there.";
constexpr std::array<std::string_view, 5> kSentences = {"The grass is green.", "The sky is blue.",
                                                        "The sun is yellow.", "Here we go.",
                                                        "There and back again."};
constexpr std::array<std::string_view, 8> kColours = {"red",   "blue",  "green",  "yellow",
                                                      "white", "black", "orange", "purple"};
static_assert(kPasskeyMaxNeedles == int(kColours.size()), "one colour per door");

// Bytes of one period of the stream: every sentence followed by its joining space.
constexpr size_t cycle_bytes() {
  size_t n = 0;
  for (std::string_view s : kSentences) n += s.size() + 1;
  return n;
}

// Where sentence n starts in the stream (n >= 0).
size_t sentence_start(int64_t n) {
  const auto per = int64_t(kSentences.size());
  size_t pos = size_t(n / per) * cycle_bytes();
  for (int64_t j = 0; j < n % per; ++j) pos += kSentences[size_t(j)].size() + 1;
  return pos;
}

// The needle line and the offset of the key's first occurrence inside it.
std::pair<std::string, size_t> needle_line(const PasskeyNeedle& n) {
  if (n.colour.empty()) {
    const std::string head = "The pass key is ";
    return {head + n.key + ". Remember it. " + n.key + " is the pass key.", head.size()};
  }
  const std::string head = "The pass key of the " + n.colour + " door is ";
  return {
      head + n.key + ". Remember it. " + n.key + " is the pass key of the " + n.colour + " door.",
      head.size()};
}

std::string question(const PasskeyNeedle& asked) {
  if (asked.colour.empty()) return "What is the pass key? The pass key is";
  return "What is the pass key of the " + asked.colour + " door? The pass key of the " +
         asked.colour + " door is";
}

// The sentence boundary of a filler of `bytes` bytes nearest to fraction·bytes (ties: the
// earlier one). Boundaries are 0, the start of every sentence inside the filler, and its end.
size_t boundary_near(double fraction, size_t bytes) {
  const double target = fraction * double(bytes);
  const int64_t i = filler_sentences_within(size_t(target)) + 1;  // start(i - 1) <= target
  size_t best = 0;
  for (size_t candidate : {sentence_start(i - 1), sentence_start(i), bytes}) {
    if (candidate > bytes) continue;
    if (std::abs(double(candidate) - target) < std::abs(double(best) - target)) best = candidate;
  }
  return best;
}

}  // namespace

void validate_passkey_options(const PasskeyOptions& o) {
  LONGCTX_CHECK_ARG(
      std::isfinite(o.depth_percent) && o.depth_percent >= 0 && o.depth_percent <= 100,
      "depth_percent", "a percentage in [0, 100]", o.depth_percent);
  LONGCTX_CHECK_ARG(o.key_digits >= 1 && o.key_digits <= 18, "key_digits", "1 to 18 digits per key",
                    o.key_digits);
  LONGCTX_CHECK_ARG(o.needles >= 1 && o.needles <= kPasskeyMaxNeedles, "needles",
                    "1 to " << kPasskeyMaxNeedles << " needles (one door per colour)", o.needles);
}

PasskeyDraw draw_passkey(const PasskeyOptions& o, uint64_t seed) {
  validate_passkey_options(o);
  PasskeyRng rng(seed);
  PasskeyDraw draw;
  draw.needles.resize(size_t(o.needles));
  if (o.needles > 1) {  // distinct colours: the first `needles` of a Fisher–Yates shuffle
    std::array<size_t, kColours.size()> order{};
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    for (size_t i = 0; i < draw.needles.size(); ++i) {
      std::swap(order[i], order[i + rng.below(order.size() - i)]);
      draw.needles[i].colour = kColours[order[i]];
    }
  }
  for (size_t i = 0; i < draw.needles.size(); ++i) {
    std::string& key = draw.needles[i].key;
    do {  // no leading zero; redrawn when another needle already has it (at most 9 clash)
      key = char('1' + rng.below(9));
      for (int d = 1; d < o.key_digits; ++d) key += char('0' + rng.below(10));
    } while (std::any_of(draw.needles.begin(), draw.needles.begin() + i,
                         [&](const PasskeyNeedle& other) { return other.key == key; }));
  }
  draw.needles[0].depth_fraction = o.depth_percent / 100.0;
  for (size_t i = 1; i < draw.needles.size(); ++i) draw.needles[i].depth_fraction = rng.unit();
  return draw;
}

std::string filler_text(size_t bytes) {
  std::string cycle;
  for (std::string_view s : kSentences) (cycle += s) += ' ';
  std::string text;
  text.reserve(bytes + cycle.size());
  while (text.size() < bytes) text += cycle;
  text.resize(bytes);
  return text;
}

size_t filler_sentence_end(int64_t n) {
  return n <= 0 ? 0 : sentence_start(n) - 1;
}

int64_t filler_sentences_within(size_t bytes) {
  const auto per = int64_t(kSentences.size());
  int64_t n = int64_t(bytes / cycle_bytes()) * per;
  while (filler_sentence_end(n + 1) <= bytes) ++n;  // at most one period of steps
  return n;
}

PasskeyText layout_passkey_prompt(const PasskeyDraw& draw, std::string_view filler) {
  // Needles in text order: by boundary; at a shared boundary the asked needle comes first when
  // it is in the first half (depth 0: right after the instruction), last otherwise (depth 100:
  // right before the question).
  struct Placed {
    size_t boundary;
    int rank;
    size_t index;
  };
  std::vector<Placed> placed;
  for (size_t i = 0; i < draw.needles.size(); ++i) {
    const double f = draw.needles[i].depth_fraction;
    placed.push_back({boundary_near(f, filler.size()), i == 0 ? (f < 0.5 ? -1 : 1) : 0, i});
  }
  std::sort(placed.begin(), placed.end(), [](const Placed& a, const Placed& b) {
    return std::tie(a.boundary, a.rank, a.index) < std::tie(b.boundary, b.rank, b.index);
  });

  PasskeyText out;
  out.random_key_bytes.resize(draw.needles.size());
  out.prompt = kInstruction;
  size_t cursor = 0;  // filler bytes already written
  const auto add_filler_until = [&](size_t boundary) {
    // Inside the filler a boundary is a sentence start: the joining space before it goes.
    const size_t end = boundary < filler.size() ? boundary - 1 : boundary;
    if (boundary > cursor) (out.prompt += '\n') += filler.substr(cursor, end - cursor);
    cursor = std::max(cursor, boundary);
  };
  for (const Placed& p : placed) {
    add_filler_until(p.boundary);
    const auto [line, key_offset] = needle_line(draw.needles[p.index]);
    out.prompt += '\n';
    const size_t begin = out.prompt.size() + key_offset;
    out.random_key_bytes[p.index] = {begin, begin + draw.needles[p.index].key.size()};
    out.prompt += line;
  }
  add_filler_until(filler.size());
  (out.prompt += '\n') += question(draw.needles[0]);
  return out;
}

std::string passkey_answer(const PasskeyDraw& draw) {
  return " " + draw.needles[0].key;
}

}  // namespace longctx::train::detail
