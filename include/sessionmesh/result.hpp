// result<T>: a value or a std::error_code, with an optional detail in words
// where the code alone says too little ("seed host:port does not resolve").
// Operating errors are values; bugs are assertions (SM_ASSERT stays on in
// release builds). One error channel: no out-parameter carries a reason.
// Thread: a plain value type; no sharing concerns.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

#include "sessionmesh/errc.hpp"

#define SM_ASSERT(cond)                                                             \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "assertion failed: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

namespace sessionmesh {

namespace detail {
// An error and its detail (shared: results stay cheap to copy and small).
struct failure {
  std::error_code ec;
  std::shared_ptr<const std::string> detail;
};
inline std::shared_ptr<const std::string> detail_of(std::string d) {
  return d.empty() ? nullptr : std::make_shared<const std::string>(std::move(d));
}
}  // namespace detail

template <class T>
class [[nodiscard]] result {
 public:
  result(T v) : v_(std::move(v)) {}  // NOLINT: implicit on purpose
  result(std::error_code ec) : v_(detail::failure{ec, nullptr}) { SM_ASSERT(ec); }  // NOLINT
  result(errc e) : v_(detail::failure{make_error_code(e), nullptr}) { SM_ASSERT(e != errc::ok); }  // NOLINT: never ok
  result(std::error_code ec, std::string d) : v_(detail::failure{ec, detail::detail_of(std::move(d))}) { SM_ASSERT(ec); }
  result(errc e, std::string d) : result(make_error_code(e), std::move(d)) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  T& value() & { SM_ASSERT(has_value()); return std::get<0>(v_); }
  const T& value() const& { SM_ASSERT(has_value()); return std::get<0>(v_); }
  T&& value() && { SM_ASSERT(has_value()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  std::error_code error() const noexcept { return has_value() ? std::error_code{} : std::get<1>(v_).ec; }
  // The detail given with the error ("" when none).
  const std::string& detail() const noexcept {
    static const std::string none;
    return has_value() || !std::get<1>(v_).detail ? none : *std::get<1>(v_).detail;
  }
  // The detail, else the code's message: one line for a log or a CLI.
  std::string describe() const { return detail().empty() ? error().message() : detail(); }

 private:
  std::variant<T, detail::failure> v_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(std::error_code ec) : ec_(ec) {}  // NOLINT
  result(errc e) : ec_(make_error_code(e)) { SM_ASSERT(e != errc::ok); }  // NOLINT: success is result<void>{}
  result(std::error_code ec, std::string d) : ec_(ec), detail_(detail::detail_of(std::move(d))) { SM_ASSERT(ec); }
  result(errc e, std::string d) : result(make_error_code(e), std::move(d)) {}
  bool has_value() const noexcept { return !ec_; }
  explicit operator bool() const noexcept { return has_value(); }
  std::error_code error() const noexcept { return ec_; }
  const std::string& detail() const noexcept {
    static const std::string none;
    return detail_ ? *detail_ : none;
  }
  std::string describe() const { return detail().empty() ? error().message() : detail(); }

 private:
  std::error_code ec_;
  std::shared_ptr<const std::string> detail_;
};

// The error of r (code and detail) as a result of another type.
template <class T, class U>
result<T> failed(const result<U>& r) {
  return result<T>(r.error(), r.detail());
}

}  // namespace sessionmesh
