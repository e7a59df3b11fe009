// qrun::Error and qrun::Result<T>: how everything that can fail on user input reports it.
// An error names the thing (as precisely as known: "experiments/x.toml:14:3 variants[1].transforms[0].std"),
// the reason, and the fix, plus a code from a small closed set (as Abseil's canonical codes).
// Callers branch on `code`, never on the text: the rendered message is for humans and may change.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace qrun {

// What kind of failure an Error is. Closed: add a code only with a QRUN_PLUGIN_API_VERSION bump.
enum class ErrorCode {
  invalid_argument,  // the input is well-formed but not acceptable (a value out of range, a bad key)
  not_found,         // a named thing does not exist (file, tensor, plugin, layer)
  unsupported,       // well-formed and understood, but qrun does not implement it (an architecture, a feature)
  corrupt_input,     // a file or value is malformed (bad safetensors header, truncated data, invalid JSON)
  io,                // the operating system refused a read or write (permissions, disk full)
  resource,          // not enough memory / device memory, or a size beyond what can be allocated
  internal,          // a bug in qrun or a plugin (an unexpected exception); never the user's input
};
std::string_view to_string(ErrorCode c);  // "invalid_argument", "not_found", ...

struct Error {
  std::string thing;   // what is wrong: a file, a key, a tensor, a plugin
  std::string reason;  // why it is wrong
  std::string fix;     // what the user should do (may be empty when there is nothing to do)
  ErrorCode code = ErrorCode::invalid_argument;

  // Error::of(ErrorCode::not_found, thing, reason, fix): the same with an explicit code.
  static Error of(ErrorCode c, std::string thing, std::string reason, std::string fix = {}) {
    return Error{std::move(thing), std::move(reason), std::move(fix), c};
  }

  // "<thing>: <reason>; fix: <fix>"
  std::string message() const {
    std::string m = thing.empty() ? reason : thing + ": " + reason;
    if (!fix.empty()) m += "; fix: " + fix;
    return m;
  }
  // Returns a copy whose thing is "<prefix><sep><thing>" (used to add context while unwinding).
  Error within(const std::string& prefix, const std::string& sep = " ") const {
    Error e = *this;
    e.thing = thing.empty() ? prefix : prefix + sep + thing;
    return e;
  }
};

// Thrown only across boundaries where a Result cannot travel (e.g. deep inside a torch loop);
// the runner and the CLI convert it back into an Error.
class ErrorException : public std::runtime_error {
 public:
  explicit ErrorException(Error e) : std::runtime_error(e.message()), error_(std::move(e)) {}
  const Error& error() const { return error_; }

 private:
  Error error_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}     // NOLINT: implicit by design
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return check(), std::get<0>(v_); }
  const T& value() const& { return check(), std::get<0>(v_); }
  T&& value() && { return check(), std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  void check() const {
    if (!ok()) throw ErrorException(std::get<1>(v_));
  }
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : e_(std::move(error)) {}  // NOLINT: implicit by design
  bool ok() const { return !e_.has_value(); }
  explicit operator bool() const { return ok(); }
  void value() const {
    if (e_) throw ErrorException(*e_);
  }
  const Error& error() const { return *e_; }

 private:
  std::optional<Error> e_;
};

// Propagate an error from an expression returning Result<...>.
#define QRUN_TRY(expr)                                  \
  do {                                                  \
    auto&& qrun_try_result_ = (expr);                   \
    if (!qrun_try_result_.ok()) return qrun_try_result_.error(); \
  } while (0)

// QRUN_ASSIGN_OR_RETURN(auto x, expr) / QRUN_ASSIGN_OR_RETURN(x, expr): evaluates `expr` (a
// Result<T>), returns its error from the enclosing function, or moves the value into `lhs`.
#define QRUN_CONCAT_INNER_(a, b) a##b
#define QRUN_CONCAT_(a, b) QRUN_CONCAT_INNER_(a, b)
#define QRUN_ASSIGN_OR_RETURN(lhs, expr) QRUN_ASSIGN_OR_RETURN_IMPL_(QRUN_CONCAT_(qrun_aor_, __LINE__), lhs, expr)
#define QRUN_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.error();                 \
  lhs = std::move(tmp).value()

}  // namespace qrun
