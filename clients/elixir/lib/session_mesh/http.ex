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

  Read-your-writes: every successful write answers a session token
  (`x-sessionmesh-session-token`); the store keeps the entries of every
  token it was answered in an ETS table (`tokens`, one entry per node and
  node life, the highest write number kept) and sends them on every
  request, so a read on any node sees every write the store made before
  it, whichever process made it. `tokens: nil` turns this off.
  """

  @token_header ~c"x-sessionmesh-session-token"
  @token_max_entries 16

  @type conf :: %{
          urls: [charlist()],
          profile: atom(),
          timeout: pos_integer(),
          token: binary() | nil,
          limits: binary() | nil,
          cursor: :atomics.atomics_ref(),
          tokens: :ets.tid() | nil
        }

  @doc "A table for the store's session token (public: every caller writes to it)."
  def new_token_table do
    :ets.new(:sessionmesh_tokens, [:set, :public, read_concurrency: true, write_concurrency: true])
  end

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
      {:ok, status, _, hdrs} = ok when status < 300 ->
        remember_token(conf, hdrs)
        ok

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
        token_header(conf) ++
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

  defp token_header(%{tokens: tab}) when tab != nil do
    case :ets.tab2list(tab) do
      [] ->
        []

      entries ->
        text =
          entries
          |> Enum.sort_by(fn {{_node, life}, _} -> -life end)
          |> Enum.take(@token_max_entries)
          |> Enum.map_join(",", fn {{node, life}, seq} ->
            node <> "." <> Integer.to_string(life, 16) <> "." <> Integer.to_string(seq, 16)
          end)

        [{@token_header, String.to_charlist(String.downcase(text))}]
    end
  end

  defp token_header(_), do: []

  # Keeps the highest write number per (node, life), atomically per entry.
  defp remember_token(%{tokens: tab}, hdrs) when tab != nil do
    case List.keyfind(hdrs, @token_header, 0) do
      {_, value} ->
        for e <- String.split(to_string(value), ",", trim: true),
            [node, life, seq] <- [String.split(String.trim(e), ".")],
            {l, ""} <- [Integer.parse(life, 16)],
            {s, ""} <- [Integer.parse(seq, 16)] do
          key = {node, l}

          unless :ets.insert_new(tab, {key, s}) do
            :ets.select_replace(tab, [{{key, :"$1"}, [{:<, :"$1", s}], [{{{:const, key}, s}}]}])
          end
        end

        :ok

      nil ->
        :ok
    end
  end

  defp remember_token(_, _), do: :ok

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
