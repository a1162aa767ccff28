// canonical_json: what a value is stored as, on the parser's path and on
// the plain-string shortcut alike.
#include <ostream>
#include <doctest/doctest.h>

#include "store/validate.hpp"

using namespace sessionmesh;
using namespace sessionmesh::store;

namespace {

std::string canon(std::string_view t) {
  auto r = canonical_json(t, store_limits{});
  return r ? *r : "error:" + r.error().message();
}

bool refused(std::string_view t) { return !canonical_json(t, store_limits{}).has_value(); }

}  // namespace

TEST_CASE("canonical_json keeps plain strings and compacts the rest") {
  CHECK(canon("\"hello\"") == "\"hello\"");
  CHECK(canon("\"\"") == "\"\"");
  CHECK(canon("\"h\xc3\xa9llo \xe2\x82\xac\"") == "\"h\xc3\xa9llo \xe2\x82\xac\"");
  CHECK(canon("\"a\\\"b\"") == "\"a\\\"b\"");  // escapes kept as written
  CHECK(canon("\"\\u0041\"") == "\"\\u0041\"");
  CHECK(canon(" \"x\" ") == "\"x\"");
  CHECK(canon("{ \"a\" : [1, 2] }") == "{\"a\":[1,2]}");
  CHECK(canon("42") == "42");
}

TEST_CASE("plain_json_string finds a quote, backslash or control byte anywhere") {
  for (size_t len : {0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 128, 300}) {
    const std::string body(len, 'x');
    CHECK(plain_json_string("\"" + body + "\""));
    for (size_t at = 0; at < len; ++at)
      for (char bad : {'"', '\\', '\n', '\x01', '\x1f'}) {
        std::string b = body;
        b[at] = bad;
        REQUIRE_FALSE(plain_json_string("\"" + b + "\""));
      }
    for (char fine : {' ', '\x7f', '~', '#'}) {
      std::string b = body + fine;
      CHECK(plain_json_string("\"" + b + "\""));
    }
  }
  CHECK_FALSE(plain_json_string("\"\xe9t\xe9\""));  // Latin-1, not UTF-8
  // A byte past ASCII anywhere (in the 64- or 16-byte steps, the 8-byte steps or
  // the tail) sends the body to the UTF-8 check.
  for (size_t len : {15, 16, 24, 31, 32, 64, 65, 300})
    for (size_t at = 0; at + 1 < len; ++at) {
      std::string b(len, 'x');
      b[at] = '\xff';
      REQUIRE_FALSE(plain_json_string("\"" + b + "\""));
      b[at] = '\xc3';
      REQUIRE_FALSE(plain_json_string("\"" + b + "\""));  // a lead byte without its continuation
      b[at + 1] = '\xa9';
      REQUIRE(plain_json_string("\"" + b + "\""));
    }
  CHECK(plain_json_string("\"\xc3\xa9t\xc3\xa9\""));
}

TEST_CASE("canonical_json refuses what is not one JSON value") {
  CHECK(refused("\"a\"b\""));
  CHECK(refused("\"abc\\\""));        // the closing quote is escaped
  CHECK(refused("\"tab\there\""));    // a raw control character
  CHECK(refused("\"\xff\xfe\""));     // not UTF-8
  CHECK(refused("\"\xc3\""));         // a truncated sequence
  CHECK(refused("\""));
  CHECK(refused("\"a\" \"b\""));
  CHECK(refused(""));
}

TEST_CASE("valid_name: control bytes refused, UTF-8 checked only past ASCII") {
  CHECK(valid_name("v", 1024));
  CHECK(valid_name("a name with spaces ~#", 1024));
  CHECK(valid_name("h\xc3\xa9llo \xe2\x82\xac", 1024));
  CHECK_FALSE(valid_name("", 1024));
  CHECK_FALSE(valid_name("abc", 2));
  CHECK_FALSE(valid_name("tab\there", 1024));
  CHECK_FALSE(valid_name("del\x7f", 1024));
  CHECK_FALSE(valid_name("latin\xe9", 1024));     // not UTF-8
  CHECK_FALSE(valid_name("cut\xc3", 1024));       // a lead byte without its continuation
  CHECK_FALSE(valid_name("\xff\xfe", 1024));
}
