// Plugin entry: the "hf" backend (Hugging Face decoder checkpoints in libtorch: Llama, Mistral,
// Qwen2, Qwen3, Gemma 2, Gemma 3 text, Phi-3).
#include "load.hpp"

#include <qrun/check.hpp>
#include <qrun/plugin.hpp>

namespace qrun::hf {
Result<void> check_hf_model(const ParamMap& params, const ModelInfo& model);  // hf_check.cpp
}

namespace {

const auto schema = qrun::schema<qrun::hf::HfParams>(
    qrun::field("path", &qrun::hf::HfParams::path)
        .doc("model folder, or hub id (ORG/NAME) looked up in the Hugging Face cache and downloaded when absent"),
    qrun::field("dtype", &qrun::hf::HfParams::dtype)
        .choices({"auto", "float32", "bfloat16", "float16"})
        .doc("weight dtype; auto = config.json torch_dtype (float16 on a libtorch 1.x CPU computes in float32)"),
    qrun::field("device", &qrun::hf::HfParams::device).doc("cpu, cuda, cuda:N, or auto (the run's device)"));

}  // namespace

QRUN_PLUGIN("hf", "0.1.0",
            qrun::backend("hf", schema, "Hugging Face Llama/Mistral/Qwen2/Qwen3/Gemma2/Gemma3/Phi3 checkpoints (safetensors), forward and generate in libtorch",
                          qrun::hf::load_hf_model));
QRUN_PLUGIN_CHECKS({"hf", &qrun::hf::check_hf_model});
