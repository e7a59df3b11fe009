// GPT-2's byte-level alphabet (bytes_to_unicode in openai/gpt-2 encoder.py, as tokenizers'
// ByteLevel pre-tokenizer/decoder use it): every byte maps to one printable code point.
#pragma once

#include <string>
#include <string_view>

namespace qrun::tok {

// Each byte of `bytes` replaced by its byte-level character (UTF-8), appended to `out`.
void byte_level_encode_append(std::string_view bytes, std::string& out);

// The bytes behind a token written in byte-level characters, appended to `out`. As tokenizers'
// ByteLevel decoder: if any character is outside the alphabet, the token's own UTF-8 is used.
void byte_level_decode_append(std::string_view token, std::string& out);

}  // namespace qrun::tok
