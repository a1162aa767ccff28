// Small vocabulary types shared by the public API and the core.
#pragma once

#include <cstdint>
#include <string_view>

namespace sessionmesh {

// The three maps of a session. Values are part of the on-disk and wire
// encoding: only append.
enum class section : uint8_t { metadata = 0, variables = 1, programs = 2 };
inline constexpr int section_count = 3;

constexpr std::string_view section_name(section s) {
  switch (s) {
    case section::metadata: return "metadata";
    case section::variables: return "variables";
    case section::programs: return "programs";
  }
  return "?";
}

}  // namespace sessionmesh
