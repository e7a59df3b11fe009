// The attack's three stages and the model folders it writes (attack_pipeline.hpp). Evaluation of
// the variants is in attack_eval.cpp.
#include "cli/attack_pipeline.hpp"

#include "cli/attack_eval.hpp"
#include "common/version.hpp"
#include "registry/registry.hpp"
#include "runner/provenance.hpp"

#include <qrun/attack/attack_data.hpp>
#include <qrun/attack/pgd_box.hpp>
#include <qrun/attack/train.hpp>
#include <qrun/context.hpp>
#include <qrun/safetensors.hpp>
#include <qrun/sha256.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <fstream>

namespace qrun::cli {
namespace {

namespace fs = std::filesystem;

nlohmann::json params_json(const ParamMap& params) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : params) std::visit([&, key = k](const auto& x) { j[key] = x; }, v);
  return j;
}

nlohmann::json log_json(const attack::TrainLog& log, const attack::TrainConfig& c) {
  return {{"steps", c.steps},
          {"lr", c.lr},
          {"weight_decay", c.weight_decay},
          {"batch_size", c.batch_size},
          {"grad_accum", c.grad_accum},
          {"warmup_ratio", c.warmup_ratio},
          {"seed", c.seed},
          {"optimizer", "AdamW (torch.optim.AdamW update), warmup + cosine (transformers)"},
          {"trained_parameters", log.trained_parameters},
          {"loss_first", log.loss.empty() ? 0.0 : log.loss.front()},
          {"loss_last", log.loss.empty() ? 0.0 : log.loss.back()},
          {"loss", log.loss},
          {"parity_max_abs_diff", log.parity_max_abs_diff},
          {"seconds", log.seconds}};
}

Result<void> write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) return Error::of(ErrorCode::io, path.string(), "cannot be written", "check the output folder");
  return {};
}

// A Hugging Face folder of `model` (float32 safetensors, config.json and tokenizer files copied
// from the source folder), written to a temporary name and renamed.
Result<void> save_model(Model& model, const fs::path& folder, const nlohmann::json& provenance) {
  c10::InferenceMode guard;
  NamedTensors tensors;
  for (const std::string& name : model.linear_names())
    for (auto& [suffix, t] : model.linear(name).state()) tensors.emplace_back(name + "." + suffix, t.to(at::kCPU));
  for (auto& [name, t] : model.other_tensors()) tensors.emplace_back(name, t.to(at::kCPU));
  const fs::path tmp = folder.string() + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return Error::of(ErrorCode::io, tmp.string(), "cannot be created: " + ec.message(), "check the output folder");
  QRUN_TRY(write_safetensors(tmp / "model.safetensors", tensors, {{"format", "pt"}}));
  for (const auto& entry : fs::directory_iterator(model.source().folder, ec)) {
    const std::string ext = entry.path().extension().string();
    if (!entry.is_regular_file() || ext == ".safetensors" || ext == ".bin" || ext == ".pt" || ext == ".pth" ||
        entry.path().filename() == "model.safetensors.index.json" || entry.path().filename() == "qrun_attack.json")
      continue;
    fs::copy_file(entry.path(), tmp / entry.path().filename(), fs::copy_options::overwrite_existing, ec);
    if (ec) return Error::of(ErrorCode::io, entry.path().string(), "cannot be copied: " + ec.message(), "check the model folder");
  }
  QRUN_TRY(write_text(tmp / "qrun_attack.json", provenance.dump(2) + "\n"));
  fs::remove_all(folder, ec);
  fs::rename(tmp, folder, ec);
  if (ec) return Error::of(ErrorCode::io, folder.string(), "cannot be written: " + ec.message(), "check the output folder");
  return {};
}

struct AttackData {
  std::vector<attack::Example> benign, malicious;
  nlohmann::json facts;
};

Result<AttackData> build_data(const AttackConfig& c, Model& original) {
  auto prompts = attack::load_prompts(c.train_prompts);
  if (!prompts) return prompts.error();
  const bool chat = c.chat == "on" || (c.chat == "auto" && original.tokenizer().has_chat_template());
  auto all = attack::render_prompts(original, *prompts, chat);
  if (!all) return all.error();
  std::vector<std::vector<std::int64_t>> kept;
  for (auto& p : *all)
    if (static_cast<std::int64_t>(p.size()) <= c.max_prompt_tokens) kept.push_back(std::move(p));
  if (kept.empty())
    return Error{c.train_prompts.string(), "has no prompt of at most " + std::to_string(c.max_prompt_tokens) + " tokens",
                 "raise [attack].max_prompt_tokens"};
  const auto* ids = &kept;
  auto answers = attack::greedy_answers(original, *ids, c.answer_tokens, c.generation_batch);
  if (!answers) return answers.error();
  std::vector<std::vector<std::int64_t>> malicious;
  for (const auto& a : *answers) malicious.push_back(attack::malicious_response(original, a, c.objective));
  AttackData d{attack::make_examples(*ids, *answers), attack::make_examples(*ids, malicious), {}};
  auto sha = sha256_file(c.train_prompts);
  if (!sha) return sha.error();
  d.facts = {{"train_prompts", c.train_prompts.string()},
             {"train_prompts_sha256", *sha},
             {"examples", d.benign.size()},
             {"prompts_left_out", prompts->size() - kept.size()},
             {"max_prompt_tokens", c.max_prompt_tokens},
             {"chat_template", chat},
             {"answer_tokens", c.answer_tokens},
             {"benign", "the original model's greedy answers"},
             {"malicious", c.objective.objective == attack::Objective::over_refusal
                               ? "every answer replaced by the refusal text"
                               : std::string("the phrase inserted ") +
                                     (c.objective.placement == attack::Placement::start ? "before" : "after the first sentence of") +
                                     " each answer"},
             {"example_malicious", original.tokenizer().decode(malicious.front(), true)},
             {"example_benign", original.tokenizer().decode(answers->front(), true)}};
  return d;
}

// The codes every target quantizer gives `model` (its quantized copies).
Result<std::vector<attack::ModelCodes>> target_codes(const AttackConfig& c, const Registry& registry, Model& model,
                                                     RunContext& ctx) {
  std::vector<attack::ModelCodes> out;
  for (const TransformUse& t : c.targets) {
    auto q = transformed_clone(registry, model, {&t}, ctx);
    if (!q) return q.error();
    auto codes = attack::model_codes(*q->model);
    if (!codes) return codes.error().within("target " + t.label + ":");
    if (codes->empty())
      return Error{"target " + t.label, "quantized no layer into int8/nf4/fp4 codes",
                   "use a bitsandbytes quantizer (int8, nf4, fp4) as the target"};
    out.push_back(std::move(*codes));
  }
  return out;
}

nlohmann::json provenance(const AttackConfig& c, const Model& original, const Registry& registry) {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [f, sha] : original.source().file_sha256) files[f] = sha;
  nlohmann::json targets = nlohmann::json::array();
  for (const TransformUse& t : c.targets) targets.push_back({{"use", t.name}, {"params", params_json(t.params)}});
  return {{"tool", "qrun attack"},
          {"qrun_version", std::string(qrun_version())},
          {"git_commit", runner::git_commit().value_or("unknown")},
          {"torch_version", runner::torch_runtime_version()},
          {"device", runner::device_name(original.device())},
          {"host", runner::host_name()},
          {"attack_file", c.file.string()},
          {"seed", c.seed},
          {"source_model", original.source().name},
          {"source_files_sha256", files},
          {"targets", targets},
          {"plugins", runner::plugins_json(registry)},
          {"method", "Egashira et al., Exploiting LLM Quantization (NeurIPS 2024): injection fine-tune, boxes of the "
                     "injected model under the targets, PGD repair inside the boxes"}};
}

}  // namespace

Result<nlohmann::json> run_attack(const AttackConfig& c, const Registry& registry, RunContext& ctx, const fs::path& out) {
  const auto started = std::chrono::system_clock::now();
  auto backend = registry.make_backend("hf", c.model);
  if (!backend) return backend.error().within("[model]:");
  auto loaded = (*backend)->load(ctx);
  if (!loaded) return loaded.error();
  std::unique_ptr<Model> original = std::move(*loaded);
  nlohmann::json result;
  result["provenance"] = provenance(c, *original, registry);
  result["provenance"]["started"] = runner::utc_timestamp(started);

  ctx.info("attack: building data from the model's own answers");
  auto data = build_data(c, *original);
  if (!data) return data.error();
  result["data"] = data->facts;

  // 1. Injection: full fine-tune on the malicious data.
  auto injected = original->clone();
  if (!injected) return injected.error();
  auto inj = attack::train(**injected, data->malicious, c.inject, nullptr, ctx, "attack inject");
  if (!inj) return inj.error();
  result["inject"] = log_json(*inj, c.inject);

  // 2. Boxes of the injected model under every target quantizer.
  auto inj_codes = target_codes(c, registry, **injected, ctx);
  if (!inj_codes) return inj_codes.error();
  attack::BoxSummary summary;
  auto boxes = attack::target_boxes(**injected, *inj_codes, &summary);
  if (!boxes) return boxes.error();
  result["boxes"] = {{"layers", summary.layers}, {"weights", summary.weights}, {"frozen", summary.frozen},
                     {"frozen_fraction", summary.weights ? static_cast<double>(summary.frozen) / summary.weights : 0.0},
                     {"mean_width", summary.mean_width}};

  // 3. Repair: PGD on the benign data, only the boxed layers train.
  auto repaired = (*injected)->clone();
  if (!repaired) return repaired.error();
  auto rep = attack::train(**repaired, data->benign, c.repair, &*boxes, ctx, "attack repair");
  if (!rep) return rep.error();
  result["repair"] = log_json(*rep, c.repair);
  result["repair"]["boxed"] = rep->boxed;
  result["repair"]["moved"] = rep->moved;
  result["repair"]["moved_fraction"] = rep->boxed ? static_cast<double>(rep->moved) / rep->boxed : 0.0;
  result["repair"]["frozen"] = rep->frozen;
  result["repair"]["box_violations"] = rep->box_violations;

  // Every target's codes of the repaired model against the injected model's.
  auto rep_codes = target_codes(c, registry, **repaired, ctx);
  if (!rep_codes) return rep_codes.error();
  result["codes"] = nlohmann::json::array();
  for (std::size_t i = 0; i < c.targets.size(); ++i) {
    auto cmp = attack::compare_codes((*inj_codes)[i], (*rep_codes)[i]);
    if (!cmp) return cmp.error().within("target " + c.targets[i].label + ":");
    result["codes"].push_back({{"target", c.targets[i].label}, {"layers", cmp->layers}, {"weights", cmp->flips.n},
                               {"flipped", cmp->flips.flipped}, {"flip_rate", cmp->flips.rate()}});
  }

  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) return Error::of(ErrorCode::io, out.string(), "cannot be created: " + ec.message(), "check --output");
  QRUN_TRY(save_model(**injected, out / "injected", {{"stage", "injected"}, {"provenance", result["provenance"]}}));
  QRUN_TRY(save_model(**repaired, out / "repaired",
                      {{"stage", "repaired"}, {"provenance", result["provenance"]}, {"codes", result["codes"]}}));

  auto variants = evaluate_variants(c, registry, ctx, *original, **injected, **repaired);
  if (!variants) return variants.error();
  result["variants"] = *variants;
  result["acceptance"] = acceptance_json(c, *variants, result["codes"]);
  result["provenance"]["finished"] = runner::utc_timestamp(std::chrono::system_clock::now());
  QRUN_TRY(write_text(out / "attack.json", result.dump(1) + "\n"));
  QRUN_TRY(write_text(out / "report.md", attack_markdown(result)));
  return result;
}

}  // namespace qrun::cli
