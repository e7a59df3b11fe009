// Which tokens each perplexity protocol scores, checked on toy sequences and against the counts
// the Hugging Face reference run recorded (tests/golden/hf_references.json).
#include <qrun/eval_windows.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

namespace {
std::vector<int> times_scored(const std::vector<qrun::EvalWindow>& ws, std::int64_t n) {
  std::vector<int> c(static_cast<std::size_t>(n), 0);
  for (const auto& w : ws)
    for (std::int64_t k = w.target_begin; k < w.target_end; ++k) ++c[static_cast<std::size_t>(k)];
  return c;
}
}  // namespace

TEST_CASE("sliding windows score every token after the first exactly once", "[windows][sliding]") {
  auto ws = qrun::plan_sliding(10, 4, 2);
  REQUIRE(ws.ok());
  REQUIRE(ws->size() == 4);
  // begin 0: [0,4) scores 1..3 (the shift drops label 0), weight 3; later windows score their
  // trg_len = 2 new tokens but the doc weights them by trg_len - 1 = 1.
  CHECK((*ws)[0].begin == 0);
  CHECK((*ws)[0].end == 4);
  CHECK((*ws)[0].target_begin == 1);
  CHECK((*ws)[0].doc_weight == 3);
  CHECK((*ws)[1].begin == 2);
  CHECK((*ws)[1].end == 6);
  CHECK((*ws)[1].target_begin == 4);
  CHECK((*ws)[1].doc_weight == 1);
  CHECK((*ws)[3].end == 10);
  REQUIRE(times_scored(*ws, 10) == std::vector<int>{0, 1, 1, 1, 1, 1, 1, 1, 1, 1});
}

TEST_CASE("sliding stops at the window that reaches the end, however short its new part", "[windows][sliding]") {
  auto ws = qrun::plan_sliding(9, 4, 2);
  REQUIRE(ws.ok());
  REQUIRE(ws->size() == 4);
  const auto& last = ws->back();
  CHECK(last.begin == 6);
  CHECK(last.end == 9);
  CHECK(last.target_begin == 8);
  CHECK(last.doc_weight == 0);  // trg_len 1: the doc's num_valid_tokens - 1 = 0
}

TEST_CASE("sliding with stride equal to max_length leaves each window's first token unscored", "[windows][sliding]") {
  auto ws = qrun::plan_sliding(10, 4, 4);
  REQUIRE(ws.ok());
  REQUIRE(times_scored(*ws, 10) == std::vector<int>{0, 1, 1, 1, 0, 1, 1, 1, 0, 1});
}

TEST_CASE("sliding reproduces the window and token counts of the HF reference runs", "[windows][sliding]") {
  // tests/golden/hf_references.json: stories260K 815070 tokens, 512/256 -> 3183 windows,
  // doc_n_tokens 811887, exact_n_tokens 815069; tiny-qwen2 299078 tokens, 1024/512 -> 584,
  // 298494, 299077.
  struct Case { std::int64_t n, len, stride, windows, doc_n, exact_n; };
  for (const Case c : {Case{815070, 512, 256, 3183, 811887, 815069}, Case{299078, 1024, 512, 584, 298494, 299077}}) {
    auto ws = qrun::plan_sliding(c.n, c.len, c.stride);
    REQUIRE(ws.ok());
    std::int64_t doc_n = 0, exact_n = 0;
    for (const auto& w : *ws) {
      doc_n += w.doc_weight;
      exact_n += w.n_targets();
    }
    CHECK(static_cast<std::int64_t>(ws->size()) == c.windows);
    CHECK(doc_n == c.doc_n);
    CHECK(exact_n == c.exact_n);
  }
}

TEST_CASE("sliding refuses a stride above max_length", "[windows][sliding][errors]") {
  auto ws = qrun::plan_sliding(100, 8, 9);
  REQUIRE_FALSE(ws.ok());
  REQUIRE(ws.error().thing == "perplexity.stride");
}

TEST_CASE("chunks score only the second half of each chunk with BOS fed first", "[windows][chunks]") {
  auto ws = qrun::plan_chunks(20, 8, std::int64_t{1});
  REQUIRE(ws.ok());
  REQUIRE(ws->size() == 2);  // 20 / 8, the remainder is dropped as llama.cpp does
  CHECK((*ws)[0].first_token == std::int64_t{1});
  CHECK((*ws)[1].begin == 8);
  CHECK((*ws)[1].end == 16);
  // first = n_ctx/2 = 4: targets positions 5..7 of each chunk (n_ctx - 1 - first = 3 tokens),
  // each predicted from the position before it.
  CHECK((*ws)[1].target_begin == 13);
  CHECK((*ws)[1].target_end == 16);
  CHECK((*ws)[1].predicting_position(13) == 4);
  auto c = times_scored(*ws, 20);
  REQUIRE(c == std::vector<int>{0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0});
}

TEST_CASE("chunks refuse a text shorter than two contexts as llama-perplexity does", "[windows][chunks][errors]") {
  auto ws = qrun::plan_chunks(15, 8, std::nullopt);
  REQUIRE_FALSE(ws.ok());
  REQUIRE(ws.error().thing == "perplexity");
}

TEST_CASE("rolling windows score every token of a document once, the first from the prefix", "[windows][documents]") {
  auto ws = qrun::plan_rolling(10, 4, 99);
  REQUIRE(ws.ok());
  REQUIRE(ws->size() == 3);
  const auto& w0 = (*ws)[0];
  CHECK(w0.prefix == std::int64_t{99});
  CHECK(w0.begin == 0);
  CHECK(w0.end == 3);  // fed: [99, t0, t1, t2]
  CHECK(w0.target_begin == 0);
  CHECK(w0.target_end == 4);
  CHECK(w0.predicting_position(0) == 0);  // the prefix predicts t0
  const auto& w1 = (*ws)[1];
  CHECK(w1.begin == 3);  // fed: t3..t6, predicting t4..t7 (context of one token)
  CHECK(w1.end == 7);
  CHECK(w1.target_begin == 4);
  CHECK(w1.target_end == 8);
  const auto& w2 = (*ws)[2];
  CHECK(w2.begin == 5);  // fed: the 4 tokens before t9's position, predicting t8, t9
  CHECK(w2.end == 9);
  CHECK(w2.target_begin == 8);
  CHECK(w2.predicting_position(8) == 2);
  REQUIRE(times_scored(*ws, 10) == std::vector<int>(10, 1));
}

TEST_CASE("rolling over a document shorter than the window is one window", "[windows][documents]") {
  auto ws = qrun::plan_rolling(3, 4, 7);
  REQUIRE(ws.ok());
  REQUIRE(ws->size() == 1);
  CHECK((*ws)[0].end == 2);
  CHECK((*ws)[0].target_end == 3);
  auto empty = qrun::plan_rolling(0, 4, 7);
  REQUIRE(empty.ok());
  REQUIRE(empty->empty());
}
