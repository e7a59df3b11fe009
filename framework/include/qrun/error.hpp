// qrun::Error and qrun::Result<T>: how everything that can fail on user input reports it.
// An error names the thing (as precisely as known: "experiments/x.toml:14:3 variants[1].transforms[0].std"),
// the reason, and the fix. Code and tests inspect the fields; the rendered text is for humans.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace qrun {

struct Error {
  std::string thing;   // what is wrong: a file, a key, a tensor, a plugin
  std::string reason;  // why it is wrong
  std::string fix;     // what the user should do (may be empty when there is nothing to do)

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

}  // namespace qrun
