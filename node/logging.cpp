#include "node/logging.hpp"

#include "http/json_render.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>

namespace sessionmesh::node {
namespace {

class json_formatter final : public spdlog::formatter {
 public:
  explicit json_formatter(std::string node_id) : node_id_(std::move(node_id)) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
    std::string line = "{\"ts_ms\":" + std::to_string(ms) + ",\"level\":\"";
    const auto lv = spdlog::level::to_string_view(msg.level);
    line.append(lv.data(), lv.size());
    line += "\",\"node_id\":";
    http::append_json_string(line, node_id_);
    std::string_view text(msg.payload.data(), msg.payload.size());
    if (text.size() > 1 && text.front() == fields_mark) {
      const auto end = text.find(fields_mark, 1);
      if (end != std::string_view::npos) {
        line += ',';
        line.append(text.substr(1, end - 1));
        text.remove_prefix(end + 1);
      }
    }
    line += ",\"msg\":";
    http::append_json_string(line, text);
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<json_formatter>(node_id_); }

 private:
  std::string node_id_;
};

}  // namespace

void set_log_level(const std::string& level) { spdlog::set_level(spdlog::level::from_str(level)); }

std::pair<std::string, std::string_view> route_of(std::string_view path) {
  // /v1/sessions/{id}[/sub[/{name}]] and /v1/programs/{id}: ids left out.
  for (std::string_view base : {"/v1/sessions/", "/v1/programs/"}) {
    if (path.substr(0, base.size()) != base || path.size() == base.size()) continue;
    std::string_view rest = path.substr(base.size());
    const auto slash = rest.find('/');
    const std::string_view id = rest.substr(0, slash);
    std::string route = std::string(base) + "{id}";
    if (slash != std::string_view::npos) {
      std::string_view sub = rest.substr(slash + 1);
      const auto s2 = sub.find('/');
      route += "/" + std::string(sub.substr(0, s2));
      if (s2 != std::string_view::npos) route += "/{name}";
    }
    return {route, base == "/v1/sessions/" ? id : std::string_view{}};
  }
  return {std::string(path), {}};
}

void setup_logging(const std::string& format, const std::string& level, const std::string& node_id) {
  auto logger = std::make_shared<spdlog::logger>("sessionmesh", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (format == "json") logger->set_formatter(std::make_unique<json_formatter>(node_id));
  else logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  set_log_level(level);
  spdlog::flush_on(spdlog::level::info);
}

}  // namespace sessionmesh::node
