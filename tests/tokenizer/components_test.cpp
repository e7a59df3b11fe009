// The tokenizer's building blocks: SHA-256 (qrun/sha256.hpp, used for id fingerprints), lossy UTF-8, the Oniguruma -> PCRE2 rewrite.
#include "tokenizer/ids_hash.hpp"
#include "tokenizer/regex.hpp"
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
