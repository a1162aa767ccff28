// ui_assets: the /ui page's files, built into the binary from http/ui/ by
// http/ui/embed.py (no network, no build step beyond Python). Static data;
// thread-safe.
#pragma once

#include <string_view>

namespace sessionmesh::http {

struct ui_asset {
  std::string_view name;          // "index.html", "app.js", "style.css"
  std::string_view content_type;  // with charset
  std::string_view etag;          // quoted; a hash of body
  std::string_view body;
};

// The asset called name, or nullptr.
const ui_asset* find_ui_asset(std::string_view name);

}  // namespace sessionmesh::http
