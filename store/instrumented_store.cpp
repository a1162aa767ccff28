#include "store/instrumented_store.hpp"

#include <chrono>

namespace sessionmesh::store {
namespace {

template <class T>
std::string_view result_name(const result<T>& r) {
  if (r.has_value()) return "ok";
  if (r.error().category() == error_category()) return errc_name(static_cast<errc>(r.error().value()));
  return "internal";
}

}  // namespace

template <class F>
auto instrumented_store::timed(std::string_view op, F&& f) {
  if (!hub_->active()) return f();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = f();
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  hub_->emit(op_event{op, static_cast<uint64_t>(us.count()), result_name(r), inner_->adapter_name()});
  return r;
}

result<create_result> instrumented_store::create(create_request req, write_ctx& ctx) {
  return timed("create", [&] { return inner_->create(std::move(req), ctx); });
}
result<session> instrumented_store::get(std::string_view id) {
  return timed("get", [&] { return inner_->get(id); });
}

result<void> instrumented_store::read(std::string_view id, session_reader fn) {
  return timed("get", [&] { return inner_->read(id, fn); });
}
result<bool> instrumented_store::exists(std::string_view id) {
  return timed("exists", [&] { return inner_->exists(id); });
}
result<session> instrumented_store::patch(std::string_view id, patch_request req, write_ctx& ctx) {
  return timed("patch", [&] { return inner_->patch(id, std::move(req), ctx); });
}
result<void> instrumented_store::remove(std::string_view id, write_ctx& ctx) {
  return timed("delete", [&] { return inner_->remove(id, ctx); });
}
result<void> instrumented_store::remove_if_match(std::string_view id, std::string_view if_match, write_ctx& ctx) {
  return timed("delete", [&] { return inner_->remove_if_match(id, if_match, ctx); });
}
result<session> instrumented_store::touch(std::string_view id, write_ctx& ctx) {
  return timed("touch", [&] { return inner_->touch(id, ctx); });
}
result<session> instrumented_store::set_worker(std::string_view id, std::string_view worker_id,
                                               const write_limits& lim, write_ctx& ctx) {
  return timed("set_worker", [&] { return inner_->set_worker(id, worker_id, lim, ctx); });
}
result<global_program> instrumented_store::put_global_program(std::string_view id, std::string json,
                                                              const write_limits& lim, write_ctx& ctx) {
  return timed("put_global_program", [&] { return inner_->put_global_program(id, std::move(json), lim, ctx); });
}
result<global_program> instrumented_store::get_global_program(std::string_view id) {
  return timed("get_global_program", [&] { return inner_->get_global_program(id); });
}
result<void> instrumented_store::delete_global_program(std::string_view id, write_ctx& ctx) {
  return timed("delete_global_program", [&] { return inner_->delete_global_program(id, ctx); });
}
result<std::vector<global_program>> instrumented_store::list_global_programs(std::string_view prefix, size_t limit,
                                                                             std::string_view cursor) {
  return timed("list_global_programs", [&] { return inner_->list_global_programs(prefix, limit, cursor); });
}
result<list_page> instrumented_store::list(std::string_view prefix, size_t limit, std::string_view cursor) {
  return timed("list", [&] { return inner_->list(prefix, limit, cursor); });
}
uint64_t instrumented_store::cleanup_expired() {
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t n = inner_->cleanup_expired();
  if (hub_->active()) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
    hub_->emit(op_event{"cleanup", static_cast<uint64_t>(us.count()), "ok", inner_->adapter_name()});
  }
  return n;
}

}  // namespace sessionmesh::store
