// The plugin contract. A plugin is a shared library exporting one symbol, `qrun_plugin_info`
// (via BOOST_DLL_ALIAS), a function returning a pointer to a plain struct whose first field is
// the API version. The host checks the version before touching anything else, then calls
// `register_factories`, through which the library adds its components (backends, transforms,
// metrics). Write a plugin in one file:
//
//   #include <qrun/plugin.hpp>
//   namespace {
//   struct Cfg { double std = 1e-3; };
//   const auto schema = qrun::schema<Cfg>(qrun::field("std", &Cfg::std).min(0).doc("noise std"));
//   qrun::Result<qrun::TransformReport> apply(const Cfg& p, qrun::Model& m, qrun::RunContext& ctx) {...}
//   }
//   QRUN_PLUGIN("weight_noise", "0.1.0",
//               qrun::transform("weight_noise", schema, qrun::Role::defense, "Adds Gaussian noise.", apply));
//
// QRUN_PLUGIN_API_VERSION history (bump for any change to qrun_plugin_info, to a virtual
// signature or to the layout of a public type, and say why here; tests/api/ fails when a header
// of framework/include/qrun/ changes while api/contract.sha256 still records the old bytes):
//   1  first version.
//   2  linear kinds (Registrar::add_linear_kind, qrun/linear_kind.hpp; LinearImpl capabilities and
//      metadata(); StorageInfo code_bits/format instead of a DType), Error::code, metric value
//      declarations.
//   3  MetricSpec::section (report sections such as "Behavioural harm"), Rule::increase_pp_at_most,
//      qrun/changed_example.hpp (changed answers a metric keeps for the report),
//      LinearState::stored_dtypes (the safetensors dtype names of a layer's tensors).
//      Also (additive, no layout change): qrun/check.hpp, plan-time checks a library may export as
//      the optional symbol qrun_plugin_checks (its own QRUN_PLUGIN_CHECKS_VERSION).
#pragma once

#include <qrun/backend.hpp>
#include <qrun/context.hpp>
#include <qrun/error.hpp>
#include <qrun/linear_kind.hpp>
#include <qrun/metric.hpp>
#include <qrun/model.hpp>
#include <qrun/params.hpp>
#include <qrun/transform.hpp>

#include <boost/dll/alias.hpp>
#include <torch/csrc/api/include/torch/version.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>

#define QRUN_PLUGIN_API_VERSION 3u

namespace qrun {

enum class Kind { backend, transform, metric };
std::string_view to_string(Kind k);  // "backend", "transform", "metric"

// MetricSpec (lockstep or per model, dataset, the declarations of its values): qrun/metric.hpp.

// What the registry knows of one component, besides its factory.
struct ComponentInfo {
  std::string name;          // the TOML `use =` value, unique across all plugins
  Kind kind = Kind::metric;
  std::string description;   // one line
  SchemaInfo schema;
  Role role = Role::defense;  // transforms only
  MetricSpec metric;          // metrics only
};

// Factories receive parameters already validated against the component's schema.
using BackendFactory = std::function<Result<std::unique_ptr<Backend>>(const ParamMap&)>;
using TransformFactory = std::function<Result<std::unique_ptr<Transform>>(const ParamMap&)>;
using MetricFactory = std::function<Result<std::unique_ptr<Metric>>(const ParamMap&)>;

class Registrar {
 public:
  virtual ~Registrar() = default;
  virtual void add_backend(ComponentInfo info, BackendFactory factory) = 0;
  virtual void add_transform(ComponentInfo info, TransformFactory factory) = 0;
  virtual void add_metric(ComponentInfo info, MetricFactory factory) = 0;
  // A quantized layer kind (qrun/linear_kind.hpp); its name must be unique across plugins.
  virtual void add_linear_kind(LinearKindInfo info) = 0;
};

// A component is something that registers itself.
using Component = std::function<void(Registrar&)>;

// --- Builders: a typed parameter struct plus one function -------------------------------------

// load(const Cfg&, RunContext&) -> Result<std::unique_ptr<Model>>
template <class Cfg, class Fn>
Component backend(std::string name, Schema<Cfg> s, std::string description, Fn load) {
  return [=](Registrar& r) {
    struct Impl : Backend {
      Cfg cfg; Fn fn;
      Impl(Cfg c, Fn f) : cfg(std::move(c)), fn(std::move(f)) {}
      Result<std::unique_ptr<Model>> load(RunContext& ctx) override { return fn(cfg, ctx); }
    };
    ComponentInfo info{name, Kind::backend, description, s.info(), Role::defense, {}};
    r.add_backend(info, [s, load](const ParamMap& p) -> Result<std::unique_ptr<Backend>> {
      return std::unique_ptr<Backend>(std::make_unique<Impl>(s.make(p), load));
    });
  };
}

// apply(const Cfg&, Model&, RunContext&) -> Result<TransformReport>
template <class Cfg, class Fn>
Component transform(std::string name, Schema<Cfg> s, Role role, std::string description, Fn apply) {
  return [=](Registrar& r) {
    struct Impl : Transform {
      Cfg cfg; Fn fn;
      Impl(Cfg c, Fn f) : cfg(std::move(c)), fn(std::move(f)) {}
      Result<TransformReport> apply(Model& m, RunContext& ctx) override { return fn(cfg, m, ctx); }
    };
    ComponentInfo info{name, Kind::transform, description, s.info(), role, {}};
    r.add_transform(info, [s, apply](const ParamMap& p) -> Result<std::unique_ptr<Transform>> {
      return std::unique_ptr<Transform>(std::make_unique<Impl>(s.make(p), apply));
    });
  };
}

// evaluate(const Cfg&, const MetricInputs&, RunContext&) -> Result<std::vector<MetricResult>>
template <class Cfg, class Fn>
Component metric(std::string name, Schema<Cfg> s, MetricSpec spec, std::string description, Fn evaluate) {
  return [=](Registrar& r) {
    struct Impl : Metric {
      Cfg cfg; Fn fn;
      Impl(Cfg c, Fn f) : cfg(std::move(c)), fn(std::move(f)) {}
      Result<std::vector<MetricResult>> evaluate(const MetricInputs& in, RunContext& ctx) override {
        return fn(cfg, in, ctx);
      }
    };
    ComponentInfo info{name, Kind::metric, description, s.info(), Role::defense, spec};
    r.add_metric(info, [s, evaluate](const ParamMap& p) -> Result<std::unique_ptr<Metric>> {
      return std::unique_ptr<Metric>(std::make_unique<Impl>(s.make(p), evaluate));
    });
  };
}

// load(const LinearState&) -> Result<std::shared_ptr<LinearImpl>>; `recognizes` (optional) claims
// a layer by its tensor suffixes in checkpoints written without qrun's metadata.
template <class Fn>
Component linear_kind(std::string name, std::string description, Fn load, LinearRecognizer recognizes = nullptr) {
  return [=](Registrar& r) { r.add_linear_kind(LinearKindInfo{name, description, LinearLoader(load), recognizes}); };
}

}  // namespace qrun

// The entry point: plain C data, read by the host before anything else.
extern "C" struct qrun_plugin_info {
  std::uint32_t api_version;   // QRUN_PLUGIN_API_VERSION at build time; checked first
  const char* id;              // the library's id ("quantizers"); libqrun_<id>.so
  const char* version;         // the plugin's semver
  const char* torch_version;   // TORCH_VERSION at build time; must equal the host's
  void (*register_factories)(qrun::Registrar&);
};

#define QRUN_PLUGIN_STR2_(x) #x
#define QRUN_PLUGIN_STR_(x) QRUN_PLUGIN_STR2_(x)
#define QRUN_TORCH_VERSION_STRING                               \
  QRUN_PLUGIN_STR_(TORCH_VERSION_MAJOR) "." QRUN_PLUGIN_STR_(TORCH_VERSION_MINOR) "." \
  QRUN_PLUGIN_STR_(TORCH_VERSION_PATCH)

// QRUN_PLUGIN(id, version, component...): defines and exports the entry point.
#define QRUN_PLUGIN(ID, VERSION, ...)                                                  \
  namespace qrun_plugin_entry_ {                                                       \
  inline void register_all(qrun::Registrar& r) {                                       \
    for (const qrun::Component& c : std::initializer_list<qrun::Component>{__VA_ARGS__}) c(r); \
  }                                                                                    \
  inline const qrun_plugin_info* get_info() {                                          \
    static const qrun_plugin_info info = {QRUN_PLUGIN_API_VERSION, ID, VERSION,        \
                                          QRUN_TORCH_VERSION_STRING, &register_all};   \
    return &info;                                                                      \
  }                                                                                    \
  }                                                                                    \
  BOOST_DLL_ALIAS(qrun_plugin_entry_::get_info, qrun_plugin_info)
