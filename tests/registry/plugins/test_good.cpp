// TEST-ONLY plugin: a well-formed library with one component of each kind, plus one transform
// whose factory throws when asked to (to test how the registry wraps factory exceptions).
#include <qrun/plugin.hpp>

#include <stdexcept>

namespace {

struct Noise {
  double sigma = 0.01;
  std::int64_t seed = 0;
};
const auto noise_schema = qrun::schema<Noise>(
    qrun::field("sigma", &Noise::sigma).range(0.0, 1.0).unit("×RMS").doc("noise scale"),
    qrun::field("seed", &Noise::seed).doc("noise seed"));

qrun::Result<qrun::TransformReport> add_noise(const Noise& p, qrun::Model&, qrun::RunContext&) {
  return qrun::TransformReport{"noise " + std::to_string(p.sigma), {}};
}

struct Constant {
  double value = 1.5;
  std::string name = "constant";
};
const auto constant_schema = qrun::schema<Constant>(
    qrun::field("value", &Constant::value).doc("the value reported"),
    qrun::field("name", &Constant::name).choices({"constant", "other"}).doc("the value's name"));

qrun::Result<std::vector<qrun::MetricResult>> report_constant(const Constant& p, const qrun::MetricInputs& in,
                                                              qrun::RunContext&) {
  std::vector<qrun::MetricResult> out(in.variants.empty() ? 1 : in.variants.size());
  for (auto& r : out) r.values.push_back(qrun::MetricValue{p.name, p.value, std::nullopt, 1, "", qrun::Better::none, ""});
  return out;
}

qrun::Result<std::unique_ptr<qrun::Model>> load_nothing(const qrun::NoParams&, qrun::RunContext&) {
  return qrun::Error{"test_null_backend", "loads no model", "use a real backend"};
}

// A hand-written component whose factory throws when `explode` is true.
struct Explode {
  bool explode = true;
};
const auto explode_schema = qrun::schema<Explode>(qrun::field("explode", &Explode::explode).doc("throw?"));

void register_explode(qrun::Registrar& r) {
  qrun::ComponentInfo info{"test_explode", qrun::Kind::transform, "throws from its factory", explode_schema.info(),
                           qrun::Role::defense, {}};
  r.add_transform(info, [](const qrun::ParamMap& p) -> qrun::Result<std::unique_ptr<qrun::Transform>> {
    if (explode_schema.make(p).explode) throw std::runtime_error("the factory exploded on purpose");
    return qrun::Error{"explode", "is false", "set it"};
  });
}

}  // namespace

QRUN_PLUGIN("test_good", "1.2.3",
            qrun::transform("test_noise", noise_schema, qrun::Role::defense, "Adds test noise.", add_noise),
            qrun::metric("test_constant", constant_schema, qrun::MetricSpec{false, false}, "Reports a constant.",
                         report_constant),
            qrun::backend("test_null_backend", qrun::no_params(), "Loads nothing.", load_nothing),
            qrun::Component(register_explode));
