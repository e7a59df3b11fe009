// The multiple_choice metric: a stub model that always picks option B against one that picks C
// (accuracy, flips, McNemar, agreement by hand; the log-likelihoods in closed form), acc_norm's
// byte normalisation, and stories260K / tiny-qwen2 against a direct computation of every
// option's log-likelihood through the Model API.
#include "metric_support.hpp"
#include "stub_model.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <fstream>

using namespace qrun;
using namespace qrun::test;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

constexpr double kZ = 1.959963984540054;
// float32 log-softmax summed in float64 vs the exact closed form / an unbatched forward pass.
constexpr double kLogProbTol = 1e-4;

std::filesystem::path data(const std::string& name) { return source_dir() / "tests/behaviour/data" / name; }

double wilson_low(double k, double n) {
  const double p = k / n, d = 1 + kZ * kZ / n;
  return 100.0 * ((p + kZ * kZ / (2 * n)) / d - kZ * std::sqrt(p * (1 - p) / n + kZ * kZ / (4 * n * n)) / d);
}

}  // namespace

TEST_CASE("always option B against always option C: accuracy, flips and agreement by hand", "[behaviour][mc]") {
  auto picks_b = make_stub_model("comply", 'B');
  auto picks_c = make_stub_model("comply", 'C');
  auto r = run_metric("multiple_choice", {}, data("mmlu_stub.jsonl"), *picks_b, *picks_c);
  // Gold: B B B B C | C C A A D (subjects high_school_math | world_history).
  CHECK(value_of(r[0], "acc") == 40.0);
  CHECK(value_of(r[0], "acc_norm") == 40.0);
  CHECK(value_of(r[1], "acc") == 30.0);
  CHECK_THAT(value_of(r[0], "acc_ci_low"), WithinAbs(wilson_low(4, 10), 1e-9));
  CHECK_THAT(value_of(r[0], "acc_ci_low"), WithinAbs(16.82, 0.005));   // textbook 4/10: 0.1682-0.6873
  CHECK_THAT(value_of(r[0], "acc_ci_high"), WithinAbs(68.73, 0.005));
  CHECK(value_of(r[1], "right_to_wrong") == 4.0);
  CHECK(value_of(r[1], "wrong_to_right") == 3.0);
  CHECK(value_of(r[1], "flip_rate") == 70.0);
  CHECK_THAT(value_of(r[1], "flip_rate_ci_low"), WithinAbs(wilson_low(7, 10), 1e-9));
  CHECK(value_of(r[1], "flip_p") == 1.0);  // 2·P(X <= 3; 7, 1/2) = 1
  CHECK(value_of(r[1], "agreement") == 0.0);
  CHECK(value_of(r[0], "agreement") == 100.0);
  CHECK(value_of(r[0], "flip_rate") == 0.0);
  // Per subject.
  CHECK(value_of(r[0], "acc", "high_school_math") == 80.0);
  CHECK(value_of(r[1], "acc", "high_school_math") == 20.0);
  CHECK(value_of(r[1], "flip_rate", "high_school_math") == 100.0);
  CHECK(value_of(r[0], "acc", "world_history") == 0.0);
  CHECK(value_of(r[1], "acc", "world_history") == 40.0);
  CHECK(value_of(r[1], "flip_rate", "world_history") == 40.0);
  // Log-likelihoods: " X" is two tokens; log p(favoured) = 10 − L, log p(other) = −L.
  const double L = std::log(std::exp(kFavourLogit) + static_cast<double>(kStubVocab - 1));
  const auto& lls = r[0].details["items"][0]["loglikelihoods"];
  CHECK_THAT(lls[0].get<double>(), WithinAbs(-2 * L, kLogProbTol));
  CHECK_THAT(lls[1].get<double>(), WithinAbs(kFavourLogit - 2 * L, kLogProbTol));
  CHECK(r[1].details["items"][0]["pred"] == 2);
  const auto& flips = r[1].details["changed_examples"];
  REQUIRE(flips.size() == 7);
  CHECK(flips[0]["direction"] == "right_to_wrong");
  CHECK(flips[0]["baseline_choice"] == 1);
  CHECK(flips[0]["variant_choice"] == 2);
  CHECK(flips[0]["change"] == "right → wrong");
  CHECK(flips[0]["variant"]["outcome"] == "C (wrong)");
}

TEST_CASE("acc_norm divides by the option's UTF-8 bytes (or code points when asked)", "[behaviour][mc]") {
  auto picks_b = make_stub_model("comply", 'B');
  // norm-1: " B" = 10−2L beats " BB" = 20−3L on the sum, " BB" wins per byte: acc wrong, acc_norm right.
  // norm-2: " B" wins the sum; per byte " éB" (3 bytes) = (10−4L)/3 > 10−2L: acc right, acc_norm wrong;
  //         per code point " éB" (2) = (10−4L)/2 < 10−2L: acc_norm right.
  auto bytes = run_metric("multiple_choice", {}, data("qrun_norm.jsonl"), *picks_b, *picks_b);
  CHECK(bytes[0].details["items"][0]["pred"] == 0);
  CHECK(bytes[0].details["items"][0]["pred_norm"] == 1);
  CHECK(bytes[0].details["items"][1]["pred"] == 2);
  CHECK(bytes[0].details["items"][1]["pred_norm"] == 0);
  CHECK(value_of(bytes[0], "acc") == 50.0);
  CHECK(value_of(bytes[0], "acc_norm") == 50.0);
  auto chars = run_metric("multiple_choice", {{"norm", std::string("chars")}}, data("qrun_norm.jsonl"), *picks_b, *picks_b);
  CHECK(chars[0].details["items"][1]["pred_norm"] == 2);
  CHECK(value_of(chars[0], "acc_norm") == 100.0);
}

TEST_CASE("multiple_choice equals a direct computation of option log-likelihoods with the Model API", "[behaviour][mc][e2e]") {
  for (const std::string folder : {"models/stories260K", "models/tiny-qwen2"}) {
    INFO(folder);
    auto model = load_hf(folder);
    auto clone = model->clone();
    REQUIRE(clone.ok());
    const auto file = source_dir() / "datasets/multiple_choice_qrun.jsonl";
    auto r = run_metric("multiple_choice", {{"limit_per_subject", std::int64_t{3}}, {"batch_size", std::int64_t{5}}},
                        file, *model, **clone);
    std::ifstream in(file);
    std::string line;
    std::vector<nlohmann::json> rows;
    while (std::getline(in, line)) rows.push_back(nlohmann::json::parse(line));
    const auto& items = r[0].details["items"];
    REQUIRE(items.size() == 9);  // 3 subjects x 3
    std::int64_t acc = 0, acc_norm = 0;
    c10::InferenceMode guard;
    for (const auto& it : items) {
      const auto row = *std::find_if(rows.begin(), rows.end(), [&](const nlohmann::json& x) { return x["id"] == it["id"]; });
      const std::string context = row["context"];
      const auto ctx_ids = model->tokenizer().encode(context, false);
      std::vector<double> direct, norm;
      for (const auto& c : row["choices"]) {
        const std::string choice = c;
        const auto whole = model->tokenizer().encode(context + " " + choice, false);
        REQUIRE(whole.size() > ctx_ids.size());
        at::Tensor ids = at::tensor(std::vector<std::int64_t>(whole.begin(), whole.end() - 1), at::kLong).unsqueeze(0);
        at::Tensor logp = at::log_softmax(model->logits(ids).to(at::kFloat), -1)[0];
        double sum = 0;
        for (std::size_t t = ctx_ids.size(); t < whole.size(); ++t)
          sum += logp[static_cast<std::int64_t>(t - 1)][whole[t]].item<double>();
        direct.push_back(sum);
        norm.push_back(sum / static_cast<double>(choice.size()));  // UTF-8 bytes
      }
      const auto& lls = it["loglikelihoods"];
      REQUIRE(lls.size() == direct.size());
      for (std::size_t k = 0; k < direct.size(); ++k) CHECK_THAT(lls[k].get<double>(), WithinAbs(direct[k], kLogProbTol));
      const auto pred = std::max_element(direct.begin(), direct.end()) - direct.begin();
      const auto pred_norm = std::max_element(norm.begin(), norm.end()) - norm.begin();
      CHECK(it["pred"] == pred);
      CHECK(it["pred_norm"] == pred_norm);
      acc += pred == row["answer"].get<std::int64_t>();
      acc_norm += pred_norm == row["answer"].get<std::int64_t>();
    }
    CHECK_THAT(value_of(r[0], "acc"), WithinAbs(100.0 * static_cast<double>(acc) / 9.0, 1e-9));
    CHECK_THAT(value_of(r[0], "acc_norm"), WithinAbs(100.0 * static_cast<double>(acc_norm) / 9.0, 1e-9));
    CHECK(value_of(r[1], "flip_rate") == 0.0);  // an identical clone
    CHECK(value_of(r[1], "agreement") == 100.0);
  }
}
