// The tokenizer's building blocks: SHA-256 (qrun/sha256.hpp, used for id fingerprints), lossy UTF-8,
// the Oniguruma -> PCRE2 rewrite and its Unicode 16.0 classes, the Unicode 9.0 NFC, Metaspace and the
// added-token options. The expectations of the last two are those of tokenizers' own unit tests
// (pre_tokenizers/metaspace.rs, added_vocabulary.rs).
#include "tokenizer/added_vocabulary.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/ids_hash.hpp"
#include "tokenizer/metaspace.hpp"
#include "tokenizer/normalizer.hpp"
#include "tokenizer/regex.hpp"
#include "tokenizer/unicode_categories.hpp"
#include "tokenizer/utf8.hpp"

#include <qrun/sha256.hpp>

#include <catch2/catch.hpp>

using namespace qrun::tok;
using qrun::sha256_hex;

TEST_CASE("sha256 matches the FIPS 180-4 test vectors", "[tokenizer][components]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("token ids are hashed as little-endian int32", "[tokenizer][components]") {
  // ids {1, 256} -> bytes 01 00 00 00 00 01 00 00
  CHECK(token_ids_sha256({1, 256}) == sha256_hex(std::string("\x01\x00\x00\x00\x00\x01\x00\x00", 8)));
}

TEST_CASE("lossy UTF-8 replaces each maximal invalid subpart once", "[tokenizer][components]") {
  CHECK(utf8_lossy("abc") == "abc");
  CHECK(utf8_lossy("\xF0\x9F\x98") == "\xEF\xBF\xBD");                  // truncated 4-byte sequence
  CHECK(utf8_lossy("a\xFF" "b") == "a\xEF\xBF\xBD" "b");               // invalid byte
  CHECK(utf8_lossy("\xE0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD");          // E0 80: overlong, two subparts
  CHECK(!is_valid_utf8("\xED\xA0\x80"));                                // surrogate
}

TEST_CASE("oniguruma \\s and \\S become unicode White_Space for PCRE2", "[tokenizer][components]") {
  auto r = Regex::compile(R"(\s+|[^\s\p{L}]+)", false);
  REQUIRE(r.ok());
  // U+180E is not White_Space (Unicode 6.3+) but PCRE2's own \s matches it; U+0085 is White_Space.
  const std::string text = "\xC2\x85" "a\xE1\xA0\x8E";
  const auto m = (*r)->find_all(text);
  REQUIRE(m.size() == 2);
  CHECK(m[0] == std::make_pair<std::size_t, std::size_t>(0, 2));
  CHECK(m[1] == std::make_pair<std::size_t, std::size_t>(3, 6));  // U+180E matched as non-space
}

namespace {

const std::string kMeta = "\xE2\x96\x81";  // U+2581, "▁"

std::string meta(std::string s) {  // writes "_" for "▁" to keep the expectations readable
  std::string out;
  for (char c : s) out += c == '_' ? kMeta : std::string(1, c);
  return out;
}

Metaspace metaspace(const char* scheme, bool split) {
  auto m = Metaspace::from_json({{"type", "Metaspace"}, {"replacement", kMeta}, {"prepend_scheme", scheme}, {"split", split}},
                                JsonWhere{"test", "pre_tokenizer"});
  REQUIRE(m.ok());
  return *m;
}

using Pieces = std::vector<std::pair<std::string, std::optional<std::int64_t>>>;

// tokenizers' AddedVocabulary tests: a model without vocabulary, the Lowercase normalizer.
Pieces split_added(const Json& tokens, const std::string& text) {
  auto model = BpeModel::from_json({{"type", "BPE"}, {"vocab", Json::object()}, {"merges", Json::array()}},
                                   JsonWhere{"test", "model"});
  REQUIRE(model.ok());
  auto normalizer = Normalizer::from_json({{"type", "Lowercase"}}, JsonWhere{"test", "normalizer"});
  REQUIRE(normalizer.ok());
  auto vocab = AddedVocabulary::from_json(&tokens, JsonWhere{"test", "added_tokens"}, *normalizer, *model);
  REQUIRE(vocab.ok());
  Pieces out;
  for (const TextPiece& p : vocab->split_and_normalize(text, *normalizer)) out.emplace_back(p.text, p.id);
  return out;
}

Json added(const std::string& content, bool special, bool single_word, bool lstrip = false, bool rstrip = false) {
  return {{"id", 0},          {"content", content}, {"special", special}, {"normalized", !special},
          {"lstrip", lstrip}, {"rstrip", rstrip},   {"single_word", single_word}};
}

}  // namespace

TEST_CASE("metaspace with split cuts before every replacement, one piece per extra space", "[tokenizer][components]") {
  const auto m = metaspace("always", true);
  CHECK(m.pre_tokenize("Hey friend!", true) == std::vector<std::string>{meta("_Hey"), meta("_friend!")});
  CHECK(m.pre_tokenize("Hey   friend!", true) ==
        std::vector<std::string>{meta("_Hey"), meta("_"), meta("_"), meta("_friend!")});
  CHECK(m.pre_tokenize("how", false) == std::vector<std::string>{meta("_how")});  // always: after a token too
}

TEST_CASE("metaspace prepend_scheme first prepends only at the start of the input", "[tokenizer][components]") {
  const auto m = metaspace("first", false);
  // tokenizers' non_legacy_meta_space: "Hey my friend <s>how\u2581are you" split around <s>.
  CHECK(m.pre_tokenize("Hey my friend ", true) == std::vector<std::string>{meta("_Hey_my_friend_")});
  CHECK(m.pre_tokenize(meta("how_are you"), false) == std::vector<std::string>{meta("how_are_you")});
  CHECK(m.pre_tokenize(" Hey ", true) == std::vector<std::string>{meta("_Hey_")});
  CHECK(m.pre_tokenize(" you", false) == std::vector<std::string>{meta("_you")});
}

TEST_CASE("metaspace decoding drops the first token's replacement unless the scheme is never", "[tokenizer][components]") {
  std::vector<std::string> tokens{meta("_Hey"), meta("_friend!")};
  metaspace("always", true).decode(tokens);
  CHECK(tokens == std::vector<std::string>{"Hey", " friend!"});
  tokens = {meta("_Hey"), meta("_friend!")};
  metaspace("never", true).decode(tokens);
  CHECK(tokens == std::vector<std::string>{" Hey", " friend!"});
}

TEST_CASE("metaspace add_prefix_space false contradicting the scheme is refused", "[tokenizer][components]") {
  auto m = Metaspace::from_json({{"type", "Metaspace"}, {"replacement", kMeta}, {"add_prefix_space", false}},
                                JsonWhere{"tokenizer.json", "pre_tokenizer"});
  REQUIRE(!m.ok());
  CHECK(m.error().thing == "tokenizer.json pre_tokenizer.add_prefix_space");
  CHECK(!m.error().fix.empty());
}

TEST_CASE("a single_word added token matches only between non-word characters", "[tokenizer][components]") {
  const Json tokens = Json::array({added("<mask>", false, true)});
  CHECK(split_added(tokens, "<mask> My name <mask> A<mask> <mask>ony <mask>") ==
        Pieces{{"<mask>", 0}, {" my name ", std::nullopt}, {"<mask>", 0}, {" a<mask> <mask>ony ", std::nullopt},
               {"<mask>", 0}});
  // Punctuation is not a word character; a combining mark (U+0330 after U+25CC) is.
  CHECK(split_added(tokens, "<mask>, <mask>- \xE2\x97\x8C\xCC\xB0<mask>") ==
        Pieces{{"<mask>", 0}, {", ", std::nullopt}, {"<mask>", 0}, {"- \xE2\x97\x8C\xCC\xB0<mask>", std::nullopt}});
}

TEST_CASE("lstrip and rstrip take unicode whitespace around an added token", "[tokenizer][components]") {
  const Json tokens = Json::array({added("<mask>", false, true, true, true)});
  CHECK(split_added(tokens, "Hi <mask> there\t<mask>\t<mask>\xE2\x80\x80") ==
        Pieces{{"hi", std::nullopt}, {" <mask> ", 0}, {"there", std::nullopt}, {"\t<mask>\t", 0},
               {"<mask>\xE2\x80\x80", 0}});
}

TEST_CASE("added tokens get ids in order after the vocabulary and match normalized or raw", "[tokenizer][components]") {
  // tokenizers' options_use_cases: [CLS] and [SEP] are special (not normalized), the others normalized.
  const Json tokens = Json::array({added("my", false, false, true, true), added("name", false, false),
                                   added("ony", false, true), added("[CLS]", true, false), added("[SEP]", true, false)});
  CHECK(split_added(tokens, "[CLS] My name is Anthony [SEP]") ==
        Pieces{{"[CLS]", 3}, {" my ", 0}, {"name", 1}, {" is anthony ", std::nullopt}, {"[SEP]", 4}});
}

// Unicode 16.0.0 (DerivedGeneralCategory.txt) counts, which tokenizers 0.23's Oniguruma matches.
TEST_CASE("\\p{L} and \\p{N} are Unicode 16.0's letters and numbers", "[tokenizer][components]") {
  auto count = [](const CodePointRanges& r) {
    std::size_t n = 0;
    for (const auto& [a, b] : r) n += b - a + 1;
    return n;
  };
  const auto letters = general_category("L");
  const auto numbers = general_category("Number");
  REQUIRE(letters.has_value());
  REQUIRE(numbers.has_value());
  CHECK(count(*letters) == 141028);
  CHECK(count(*numbers) == 1911);
  CHECK(general_category("uppercase letter") == general_category("Lu"));
  CHECK(!general_category("Han").has_value());  // a script: left to PCRE2
  CHECK(count(complement(*letters)) == 0x110000 - 141028);
}

TEST_CASE("regexes match characters newer than the system PCRE2's Unicode as tokenizers does", "[tokenizer][components]") {
  // U+1D2C0 KAKTOVIK NUMERAL ZERO (Unicode 15.0, No); U+31350 (CJK Extension H, Unicode 15.0, Lo).
  auto r = Regex::compile(R"(\p{N}+|[^\p{L}\p{N}\s]+|\P{L}|\p{L}+)", false);
  REQUIRE(r.ok());
  const std::string text = "\xF0\x9D\x8B\x80\xF0\x9D\x8B\x81" "a\xF0\xB1\x8D\x90" "!";
  const auto m = (*r)->find_all(text);
  REQUIRE(m.size() == 3);
  CHECK(m[0] == std::make_pair<std::size_t, std::size_t>(0, 8));   // two numerals
  CHECK(m[1] == std::make_pair<std::size_t, std::size_t>(8, 13));  // "a" + the CJK letter
  CHECK(m[2] == std::make_pair<std::size_t, std::size_t>(13, 14));
}

TEST_CASE("NFC uses Unicode 9.0 data as tokenizers does: later marks are not reordered", "[tokenizer][components]") {
  auto nfc = Normalizer::from_json({{"type", "NFC"}}, JsonWhere{"test", "normalizer"});
  REQUIRE(nfc.ok());
  // U+0301 (ccc 230) before U+0323 (ccc 220): reordered, then a + U+0323 composes to U+1EA1.
  CHECK(nfc->apply("a\xCC\x81\xCC\xA3") == "\xE1\xBA\xA1\xCC\x81");  // a U+0301 U+0323 -> U+1EA1 U+0301
  // U+08D0 (Unicode 14.0, ccc 220) after U+0483 (ccc 230): tokenizers' tables do not know it.
  CHECK(nfc->apply("a\xD2\x83\xE0\xA3\x90") == "a\xD2\x83\xE0\xA3\x90");
}
