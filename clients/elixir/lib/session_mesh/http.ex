defmodule SessionMesh.HTTP do
  @moduledoc """
  The REST transport of a store: OTP's `:httpc` in a profile of its own
  (pooled keep-alive connections), JSON by jiffy, failover across node URLs.

  A call goes to the node that answered last; on a refused or reset
  connection, a timeout, or a `503` (`draining`, `unavailable`,
  `overloaded`), the next URL is tried, each at most once per call. When
  every URL failed the answer is `{:error, :unavailable}`. Every request has
  the store's timeout (`:timeout`, ms). A `503 clock_skew` or `503` from a
  write refused for any other reason is passed through as it is.
  """

  @type conf :: %{
          urls: [charlist()],
          profile: atom(),
          timeout: pos_integer(),
          token: binary() | nil,
          limits: binary() | nil,
          cursor: :atomics.atomics_ref()
        }

  @doc "Starts the :httpc profile of a store."
  def start_profile(profile, max_connections) do
    case :inets.start(:httpc, profile: profile) do
      {:ok, _} -> :ok
      {:error, {:already_started, _}} -> :ok
    end

    :httpc.set_options(
      [max_sessions: max_connections, max_keep_alive_length: 1000, keep_alive_timeout: 60_000],
      profile
    )
  end

  def stop_profile(profile), do: :inets.stop(:httpc, profile)

  @doc """
  Sends one request. `body` is a term jiffy encodes (or nil). Returns
  `{:ok, status, decoded_body_or_raw, headers}` or `{:error, :unavailable}`.
  """
  def request(conf, method, path, body \\ nil, extra_headers \\ []) do
    n = length(conf.urls)
    start = current(conf, n)
    try_urls(conf, method, path, encode(body), extra_headers, start, n, n)
  end

  defp try_urls(_conf, _m, _p, _b, _h, _i, _n, 0), do: {:error, :unavailable}

  defp try_urls(conf, method, path, body, extra, i, n, left) do
    url = Enum.at(conf.urls, rem(i, n)) ++ String.to_charlist(path)

    case send_one(conf, method, url, body, extra) do
      {:ok, 503, resp, hdrs} ->
        if retry_503?(resp) do
          next(conf, i, n)
          try_urls(conf, method, path, body, extra, i + 1, n, left - 1)
        else
          {:ok, 503, resp, hdrs}
        end

      {:ok, _, _, _} = ok ->
        ok

      {:error, _} ->
        next(conf, i, n)
        try_urls(conf, method, path, body, extra, i + 1, n, left - 1)
    end
  end

  defp retry_503?(%{"error" => %{"code" => code}}), do: code in ["draining", "unavailable", "overloaded"]
  defp retry_503?(_), do: true

  defp send_one(conf, method, url, body, extra) do
    headers =
      [{~c"accept", ~c"application/json"}] ++
        if(conf.token, do: [{~c"authorization", String.to_charlist("Bearer " <> conf.token)}], else: []) ++
        if(conf.limits, do: [{~c"x-sessionmesh-limits", String.to_charlist(conf.limits)}], else: []) ++
        Enum.map(extra, fn {k, v} -> {String.to_charlist(k), String.to_charlist(v)} end)

    req =
      if body == nil and method in [:get, :head, :delete] do
        {url, headers}
      else
        {url, headers, ~c"application/json", body || ""}
      end

    http_opts = [timeout: conf.timeout, connect_timeout: min(conf.timeout, 2000), autoredirect: false]

    case :httpc.request(method, req, http_opts, [body_format: :binary], conf.profile) do
      {:ok, {{_, status, _}, resp_headers, resp_body}} ->
        {:ok, status, decode(resp_body), resp_headers}

      {:error, reason} ->
        {:error, reason}
    end
  end

  defp encode(nil), do: nil

  defp encode(term) do
    :jiffy.encode(term, [:use_nil])
  end

  defp decode(""), do: nil

  defp decode(bin) do
    :jiffy.decode(bin, [:return_maps, :use_nil])
  catch
    _, _ -> bin
  end

  defp current(conf, n) do
    case :atomics.get(conf.cursor, 1) do
      i when i < n -> i
      _ -> 0
    end
  end

  defp next(conf, i, n), do: :atomics.put(conf.cursor, 1, rem(i + 1, n))
end
