#include "store/migrating_store.hpp"

namespace sessionmesh::store {

migrating_store::migrating_store(std::unique_ptr<local_store> source) : source_(std::move(source)) {}

migrating_store::~migrating_store() {
  std::lock_guard lk(subs_mu_);
  subs_.clear();
}

void migrating_store::attach_target(session_store* target, local_store* target_local) {
  SM_ASSERT(current_phase() == phase::source);
  target_local_.store(target_local);
  target_.store(target, std::memory_order_release);
  std::lock_guard lk(subs_mu_);
  for (auto& [_, e] : subs_) e->on_target = target->subscribe(on_target_fn(e->fn));
}

void migrating_store::detach_target() {
  SM_ASSERT(current_phase() == phase::source);
  {
    std::lock_guard lk(subs_mu_);
    for (auto& [_, e] : subs_) e->on_target.reset();
  }
  target_.store(nullptr);
  target_local_.store(nullptr);
}

result<bool> migrating_store::copy(std::string_view id) {
  local_store* t = target_local_.load();
  SM_ASSERT(t != nullptr);
  bool changed = false;
  for (const auto& raw : source_->raw_records({std::string(id)})) {
    auto r = t->apply_remote(raw, source_->node_id());
    if (!r) return r.error();
    changed |= *r;
  }
  return changed;
}

std::function<void(const change&)> migrating_store::on_target_fn(std::function<void(const change&)> f) {
  return [this, f = std::move(f)](const change& c) {
    if (current_phase() == phase::target) f(c);
  };
}

template <typename R>
R migrating_store::forward(R r, std::string_view id, bool dual) {
  // The source acknowledged the write; the target must hold it before the
  // caller hears so. A failure there is reported as the write's failure
  // (it stands on the source, and the validation will see the difference).
  if (dual && r.has_value())
    if (auto c = copy(id); !c) return c.error();
  return r;
}

result<create_result> migrating_store::create(create_request req, write_ctx& ctx) {
  const auto g = gate_.enter();
  const phase p = current_phase();
  if (p == phase::target) return target_.load()->create(std::move(req), ctx);
  auto r = source_->create(std::move(req), ctx);
  if (!r) return r;
  const std::string id(r->value.id());
  return forward(std::move(r), id, p == phase::dual);
}

result<session> migrating_store::get(std::string_view id) {
  const auto g = gate_.enter();
  const phase p = current_phase();
  if (p == phase::target) return target_.load()->get(id);
  auto r = source_->get(id);
  if (p == phase::dual && r) (void)copy(id);  // a read never fails because of the target
  return r;
}

result<session> migrating_store::patch(std::string_view id, patch_request req, write_ctx& ctx) {
  const auto g = gate_.enter();
  const phase p = current_phase();
  if (p == phase::target) return target_.load()->patch(id, std::move(req), ctx);
  return forward(source_->patch(id, std::move(req), ctx), id, p == phase::dual);
}

result<void> migrating_store::remove(std::string_view id, write_ctx& ctx) {
  const auto g = gate_.enter();
  const phase p = current_phase();
  if (p == phase::target) return target_.load()->remove(id, ctx);
  return forward(source_->remove(id, ctx), id, p == phase::dual);
}

result<void> migrating_store::remove_if_match(std::string_view id, std::string_view if_match, write_ctx& ctx) {
  const auto g = gate_.enter();
  const phase p = current_phase();
  if (p == phase::target) return target_.load()->remove_if_match(id, if_match, ctx);
  return forward(source_->remove_if_match(id, if_match, ctx), id, p == phase::dual);
}

result<session> migrating_store::touch(std::string_view id, write_ctx& ctx) {
  const auto g = gate_.enter();
  const phase p = current_phase();
  if (p == phase::target) return target_.load()->touch(id, ctx);
  return forward(source_->touch(id, ctx), id, p == phase::dual);
}

result<session> migrating_store::set_worker(std::string_view id, std::string_view worker_id,
                                            const write_limits& lim, write_ctx& ctx) {
  const auto g = gate_.enter();
  const phase p = current_phase();
  if (p == phase::target) return target_.load()->set_worker(id, worker_id, lim, ctx);
  return forward(source_->set_worker(id, worker_id, lim, ctx), id, p == phase::dual);
}

result<global_program> migrating_store::put_global_program(std::string_view id, std::string json,
                                                            const write_limits& lim, write_ctx& ctx) {
  const auto g = gate_.enter();
  const phase p = current_phase();
  if (p == phase::target) return target_.load()->put_global_program(id, std::move(json), lim, ctx);
  return forward(source_->put_global_program(id, std::move(json), lim, ctx), local_store::global_record_id(id),
                 p == phase::dual);
}

result<global_program> migrating_store::get_global_program(std::string_view id) {
  const auto g = gate_.enter();
  return reader().get_global_program(id);
}

result<void> migrating_store::delete_global_program(std::string_view id, write_ctx& ctx) {
  const auto g = gate_.enter();
  const phase p = current_phase();
  if (p == phase::target) return target_.load()->delete_global_program(id, ctx);
  return forward(source_->delete_global_program(id, ctx), local_store::global_record_id(id), p == phase::dual);
}

result<std::vector<global_program>> migrating_store::list_global_programs(std::string_view prefix, size_t limit,
                                                                          std::string_view cursor) {
  const auto g = gate_.enter();
  return reader().list_global_programs(prefix, limit, cursor);
}

uint64_t migrating_store::cleanup_expired() {
  const auto g = gate_.enter();
  const phase p = current_phase();
  if (p == phase::target) return target_.load()->cleanup_expired();
  const uint64_t n = source_->cleanup_expired();
  if (p == phase::dual) (void)target_.load()->cleanup_expired();
  return n;
}

subscription migrating_store::subscribe(std::function<void(const change&)> fn) {
  auto e = std::make_shared<sub_entry>();
  e->fn = std::move(fn);
  e->on_source = source_->subscribe([this, f = e->fn](const change& c) {
    if (current_phase() != phase::target) f(c);
  });
  uint64_t key;
  {
    std::lock_guard lk(subs_mu_);
    if (auto* t = target_.load()) e->on_target = t->subscribe(on_target_fn(e->fn));
    key = ++next_sub_;
    subs_.emplace(key, e);
  }
  return subscription([this, key] {
    std::shared_ptr<sub_entry> gone;
    std::lock_guard lk(subs_mu_);
    if (auto it = subs_.find(key); it != subs_.end()) {
      gone = std::move(it->second);
      subs_.erase(it);
    }
  });
}

void migrating_store::reconfigure(const runtime_settings& s) {
  source_->reconfigure(s);
  if (auto* t = target_.load()) t->reconfigure(s);
}

std::string_view migrating_store::adapter_name() const {
  return current_phase() == phase::target ? target_.load()->adapter_name() : source_->adapter_name();
}

void migrating_store::close() {
  source_->close();
  if (auto* t = target_.load()) t->close();
}

}  // namespace sessionmesh::store
