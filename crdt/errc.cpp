#include "sessionmesh/errc.hpp"

#include <string>

namespace sessionmesh {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sessionmesh"; }
  std::string message(int ev) const override {
    return std::string(errc_name(static_cast<errc>(ev)));
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const category c;
  return c;
}

std::string_view errc_name(errc e) noexcept {
  switch (e) {
    case errc::ok: return "ok";
    case errc::invalid_argument: return "invalid_argument";
    case errc::not_found: return "not_found";
    case errc::version_mismatch: return "version_mismatch";
    case errc::too_large: return "too_large";
    case errc::session_quota_exceeded: return "session_quota_exceeded";
    case errc::too_many_programs: return "too_many_programs";
    case errc::cursor_expired: return "cursor_expired";
    case errc::io_error: return "io_error";
    case errc::corrupt_data: return "corrupt_data";
    case errc::clock_skew: return "clock_skew";
    case errc::decode_error: return "decode_error";
    case errc::unavailable: return "unavailable";
    case errc::acks_timeout: return "acks_timeout";
    case errc::internal: return "internal";
    case errc::limit_exceeded: return "limit_exceeded";
  }
  return "unknown";
}

}  // namespace sessionmesh
