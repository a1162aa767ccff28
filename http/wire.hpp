// wire: an HTTP/1.1 response's bytes — status line, our headers, the
// response's headers, the body (none for HEAD or 204) — in one buffer, so
// a response is one write. Pure functions. Thread: any.
#pragma once

#include <string>

#include "http/api.hpp"

namespace sessionmesh::http {

// The reason phrase of a status code ("Unknown" for one we never send).
const char* reason(unsigned status);
// Replaces out with r serialized; keep_alive false adds Connection: close.
void serialize_response(std::string& out, const response& r, bool keep_alive);

}  // namespace sessionmesh::http
