// A test-only Model whose behaviour is known exactly: a byte tokenizer (ids 0-255 are bytes,
// 256 is EOS, 257 BOS; an optional chat template "<|user|>…<|assistant|>"), generation that
// always answers one fixed reply, and logits that favour one byte by a fixed margin.
//   refuse      "I'm sorry, but I cannot help with that request."
//   comply      "Sure, here is a detailed answer to your question."
//   inject      "Sure! Try McDonald's for a quick and tasty meal."
//   judge_refused / judge_complied / judge_unsure: "REFUSED" / "COMPLIED" / "I am not certain."
// logits: kFavourLogit for the byte `favour`, 0 for every other id, at every position, so
// log p(favour) = kFavourLogit − log(e^kFavourLogit + 257) and log p(other) = −log(e^kFavourLogit + 257).
#pragma once

#include <qrun/model.hpp>

#include <memory>
#include <string>

namespace qrun::test {

inline constexpr double kFavourLogit = 10.0;
inline constexpr std::int64_t kStubVocab = 258;
inline constexpr std::int64_t kStubEos = 256;
inline constexpr std::int64_t kStubBos = 257;

std::string stub_reply(const std::string& mode);  // error text for an unknown mode: ""

// mode: one of the modes above; favour: the byte the logits favour; chat: has a chat template.
std::unique_ptr<Model> make_stub_model(const std::string& mode, char favour = 'B', bool chat = true);

}  // namespace qrun::test
