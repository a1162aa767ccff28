// result<T>: a value or a std::error_code. Operating errors are values; bugs
// are assertions (SM_ASSERT stays on in release builds).
// Thread: a plain value type; no sharing concerns.
#pragma once

#include <cstdio>
#include <cstdlib>
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

template <class T>
class [[nodiscard]] result {
 public:
  result(T v) : v_(std::move(v)) {}  // NOLINT: implicit on purpose
  result(std::error_code ec) : v_(ec) { SM_ASSERT(ec); }  // NOLINT
  result(errc e) : v_(make_error_code(e)) { SM_ASSERT(e != errc::ok); }  // NOLINT: an error, never ok

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  T& value() & { SM_ASSERT(has_value()); return std::get<0>(v_); }
  const T& value() const& { SM_ASSERT(has_value()); return std::get<0>(v_); }
  T&& value() && { SM_ASSERT(has_value()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  std::error_code error() const noexcept {
    return has_value() ? std::error_code{} : std::get<1>(v_);
  }

 private:
  std::variant<T, std::error_code> v_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(std::error_code ec) : ec_(ec) {}  // NOLINT
  result(errc e) : ec_(make_error_code(e)) { SM_ASSERT(e != errc::ok); }  // NOLINT: success is result<void>{}
  bool has_value() const noexcept { return !ec_; }
  explicit operator bool() const noexcept { return has_value(); }
  std::error_code error() const noexcept { return ec_; }

 private:
  std::error_code ec_;
};

}  // namespace sessionmesh
