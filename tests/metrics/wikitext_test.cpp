// WikiText reading as the HF perplexity doc and lm-evaluation-harness do it. Expected values
// come from running the reference Python (lm-eval's wikitext_document_level split and
// wikitext_detokenizer, Python 3.11 `re`) on the same inputs.
#include <qrun/wikitext.hpp>

#include "support/assets.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

namespace {
std::string read_all(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}
// FNV-1a 64-bit: a small checksum computed identically by the Python reference.
std::uint64_t fnv1a(const std::string& b) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : b) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}
}  // namespace

TEST_CASE("HF rows keep each line's newline and blank out whitespace-only lines", "[wikitext]") {
  auto rows = qrun::wikitext::hf_rows("a\n \nb\n");
  REQUIRE(rows == std::vector<std::string>{"a\n", "", "b\n"});
  REQUIRE(qrun::wikitext::hf_joined("a\n \nb\n") == "a\n\n\n\n\nb\n");  // "a\n" + "\n\n" + "" + "\n\n" + "b\n"
}

TEST_CASE("the HF-joined wiki.test.raw matches the reference join", "[wikitext]") {
  const std::string raw = read_all(qrun::test::asset("datasets/wikitext-2-raw/wiki.test.raw"));
  REQUIRE(qrun::wikitext::hf_rows(raw).size() == 4358);
  const std::string joined = qrun::wikitext::hf_joined(raw);
  REQUIRE(joined.size() == 1296370);
  REQUIRE(fnv1a(joined) == 0x8521b84b68568ffbull);
}

TEST_CASE("documents split wiki.test.raw into lm-eval's 62 pages", "[wikitext]") {
  const std::string raw = read_all(qrun::test::asset("datasets/wikitext-2-raw/wiki.test.raw"));
  const auto docs = qrun::wikitext::documents(raw);
  REQUIRE(docs.size() == 62);
  std::int64_t words = 0, bytes = 0;
  std::string detok;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    words += qrun::wikitext::python_split_words(docs[i]);
    bytes += static_cast<std::int64_t>(docs[i].size());
    if (i) detok.push_back('\0');
    detok += qrun::wikitext::detokenize(docs[i]);
  }
  CHECK(words == 241335);
  CHECK(bytes == 1290527);
  CHECK(detok.size() == 1240466 + 61);
  CHECK(fnv1a(detok) == 0x62f6e7000e9833c5ull);
  CHECK(docs[0].rfind(" = Robert Boulter = \n \n Robert Boulter is", 0) == 0);
}

TEST_CASE("a level-2 heading does not start a new document", "[wikitext]") {
  const auto docs = qrun::wikitext::documents(" = A = \n x \n = = B = = \n y \n = C = \n z \n");
  REQUIRE(docs == std::vector<std::string>{" = A = \n x \n = = B = = \n y ", " = C = \n z \n"});
}

TEST_CASE("the detokenizer matches lm-eval's wikitext_detokenizer", "[wikitext]") {
  const std::string in =
      "The \" quick  \" fox ( 2 @,@ 000 ) ; it 's [ a ] { b } Bob 's = = Title = = 5 @.@ 3 km 10 \xC2\xB0 C N. /' 7/ "
      "( unclosed \n x ends ' quote' ( x\xC2\xA0)";
  const std::string want =
      "The \"quick\" fox (2,000); it's [a] {b} Bob's == Title == 5.3 km 10\xC2\xB0" "C N. /'[0-9]/ (unclosed\nx ends' "
      "quote' ( x)";
  REQUIRE(qrun::wikitext::detokenize(in) == want);
}

TEST_CASE("word counts follow Python's re.split on Unicode whitespace", "[wikitext]") {
  CHECK(qrun::wikitext::python_split_words(" a  b\n") == 4);                       // ['', 'a', 'b', '']
  CHECK(qrun::wikitext::python_split_words("a\xC2\xA0" "b\xE3\x80\x80" "c") == 3);  // NBSP, ideographic space
  CHECK(qrun::wikitext::python_split_words("") == 1);
}
