# get_session / update_session latency from the Elixir client at a paced
# 1,000 ops/s, beside the transport floor (:httpc GET /healthz through the
# same pooled profile) and Snakepit's target (R3.3: < 1 ms).
# Usage (from clients/elixir): mix run ../../bench/clients/elixir_bench.exs URL SECONDS
[url, secs] = System.argv()
secs = String.to_integer(secs)
alias SessionMesh.{Session, SessionStore}
{:ok, _} = SessionStore.start_link(name: :bench, urls: [url], timeout: 5000)
id = "bench_ex_#{System.unique_integer([:positive])}"
{:ok, _} = SessionStore.create_session(:bench, id, metadata: %{count: 0, payload: String.duplicate("x", 256)})

paced = fn name, n, f ->
  t0 = System.monotonic_time(:microsecond)
  lat =
    for i <- 0..(n - 1) do
      due = t0 + i * 1000
      now = System.monotonic_time(:microsecond)
      if due > now, do: Process.sleep(div(due - now, 1000))
      {us, :ok} = :timer.tc(fn -> f.() end)
      us
    end
  sorted = Enum.sort(lat)
  p = fn q -> Enum.at(sorted, min(n - 1, trunc(q * n))) / 1000 end
  elapsed = (System.monotonic_time(:microsecond) - t0) / 1_000_000
  f3 = fn x -> :erlang.float_to_binary(x / 1, decimals: 3) end
  IO.puts("elixir #{String.pad_trailing(name, 16)} ops #{n}  rate #{round(n / elapsed)}/s  " <>
            "p50 #{f3.(p.(0.5))} ms  p99 #{f3.(p.(0.99))} ms  (target < 1 ms)")
end

n = secs * 1000
conf = :persistent_term.get({SessionStore, :bench})
paced.("httpc_healthz", n, fn ->
  {:ok, 200, _, _} = SessionMesh.HTTP.request(conf.http, :get, "/healthz")
  :ok
end)
paced.("get_session", n, fn ->
  {:ok, _} = SessionStore.get_session(:bench, id)
  :ok
end)
paced.("update_session", n, fn ->
  {:ok, _} = SessionStore.update_session(:bench, id, fn s -> Session.put_metadata(s, :count, s.metadata.count + 1) end)
  :ok
end)
