# Over 400 lines on purpose: this module is the drop-in for Snakepit's own
# SessionStore, so its public surface is that module's, function for
# function (each with an implicit-server and an explicit-server form), and
# the GenServer callbacks Snakepit supervises. The wire codec (codec.ex),
# the HTTP client (http.ex) and the session struct (session.ex) live apart.
defmodule SessionMesh.SessionStore do
  @moduledoc """
  A drop-in for `Snakepit.Bridge.SessionStore` (Snakepit v0.7.0): the same
  functions, arities, arguments and return shapes, backed by sessionmesh
  nodes over REST instead of one node's ETS table. Switch with one alias:

      alias SessionMesh.SessionStore   # was: alias Snakepit.Bridge.SessionStore

  and put `{SessionMesh.SessionStore, urls: ["http://10.0.0.5:7070", ...]}`
  where `Snakepit.Bridge.SessionStore` sat in the supervision tree (or set
  `config :sessionmesh, urls: [...]`, or `SESSIONMESH_URLS`). The default
  store also answers before or without `start_link`, from that
  configuration, as Snakepit's did once its application had started.

  ## Options (`start_link/1`)
  Snakepit's: `:name` (default `#{inspect(__MODULE__)}`), `:table_name`,
  `:cleanup_interval` (ms; a store with one runs `cleanup_expired_sessions`
  on it, the nodes' own reaper runs regardless), `:default_ttl` (s),
  `:max_sessions`, `:max_programs_per_session`, `:max_global_programs`
  (integers or `:infinity`), `:global_program_ttl` (the nodes' setting;
  accepted and ignored here), `:strict_mode`. Added: `:urls` (node URLs,
  tried in order with failover), `:timeout` (ms per call, 5000), `:codec`
  (`:term`, the default, or `:json`: see `SessionMesh.Codec`),
  `:api_token`, `:max_connections` (pool size, 50), `:read_your_writes`
  (default true: every call carries the session token of every write this
  store made, so a read on any node sees them, whichever process wrote;
  see `SessionMesh.HTTP`).

  ## Named stores
  A store started with `:table_name` is a namespace: its session ids are
  stored as `"<table_name>::<id>"` and its global programs likewise, so it
  sees only its own. Its quotas (`:max_sessions`, `:max_programs_per_session`,
  `:max_global_programs`, when given) travel with every write in the
  `X-Sessionmesh-Limits` header and the node checks them atomically against
  the namespace's own count — they hold with any number of clients writing
  at once. A store without `:table_name` uses the nodes' own limits.

  ## Differences that cannot be helped
  Ids must be 1-256 bytes of `[A-Za-z0-9._:@-]` (`{:error, :invalid_id}`
  otherwise). `update_session/2` is optimistic (If-Match, retried up to 20
  times with jitter), so `fun` may run more than once. Times are Unix seconds.
  A session that `store_worker_session` creates gets the node's default TTL
  (`--default-ttl`), not the store's `:default_ttl`. Telemetry: `[:snakepit,
  :bridge, :session, :pruned]` is emitted after a cleanup that removed
  sessions when `:telemetry` is loaded; the 80% warning is the node's (log,
  metrics, `/health/sessions`).
  """

  use GenServer
  require Logger
  import Bitwise, only: [<<<: 2]

  alias SessionMesh.{Codec, HTTP, Session}

  @default_ttl 3600
  @max_update_attempts 20

  ## Start

  def child_spec(opts) do
    %{
      id: Keyword.get(opts, :name, __MODULE__),
      start: {__MODULE__, :start_link, [opts]},
      type: :worker
    }
  end

  @spec start_link(keyword()) :: GenServer.on_start()
  def start_link(opts \\ []) do
    name = Keyword.get(opts, :name, __MODULE__)
    GenServer.start_link(__MODULE__, Keyword.put(opts, :name, name), name: name)
  end

  ## Sessions

  @spec create_session(String.t(), keyword()) :: {:ok, Session.t()} | {:error, term()}
  def create_session(session_id, opts \\ []) when is_binary(session_id),
    do: create_session(__MODULE__, session_id, opts)

  @spec create_session(GenServer.server(), String.t(), keyword()) :: {:ok, Session.t()} | {:error, term()}
  def create_session(server, session_id, opts) when is_binary(session_id) do
    c = conf(server)
    opts = Keyword.put_new(opts, :ttl, c.default_ttl)
    session = Session.new(session_id, opts)

    with :ok <- Session.validate(session),
         {:ok, sid} <- server_id(c, session_id),
         {:ok, md} <- Codec.encode_map(session.metadata, c.codec),
         {:ok, pr} <- Codec.encode_map(session.programs, c.codec),
         {:ok, vars} <- Codec.encode_map(session.variables, c.codec) do
      body =
        %{"id" => sid, "ttl_s" => session.ttl, "metadata" => md, "programs" => pr, "variables" => vars}
        |> put_if("last_worker_id", session.last_worker_id)

      case HTTP.request(c.http, :post, "/v1/sessions", body) do
        {:ok, s, json, _} when s in [200, 201] -> {:ok, to_session(c, json)}
        other -> error(other)
      end
    end
  end

  @spec get_session(String.t()) :: {:ok, Session.t()} | {:error, :not_found}
  def get_session(session_id) when is_binary(session_id), do: get_session(__MODULE__, session_id)

  @spec get_session(GenServer.server(), String.t()) :: {:ok, Session.t()} | {:error, term()}
  def get_session(server, session_id) when is_binary(session_id) do
    c = conf(server)

    with {:ok, sid} <- server_id(c, session_id, :not_found) do
      case HTTP.request(c.http, :get, "/v1/sessions/" <> sid) do
        {:ok, 200, json, _} -> {:ok, to_session(c, json)}
        other -> error(other)
      end
    end
  end

  @spec update_session(String.t(), (Session.t() -> Session.t())) :: {:ok, Session.t()} | {:error, term()}
  def update_session(session_id, update_fn) when is_binary(session_id) and is_function(update_fn, 1),
    do: update_session(__MODULE__, session_id, update_fn)

  @spec update_session(GenServer.server(), String.t(), (Session.t() -> Session.t())) ::
          {:ok, Session.t()} | {:error, term()}
  def update_session(server, session_id, update_fn) when is_binary(session_id) and is_function(update_fn, 1) do
    c = conf(server)

    with {:ok, sid} <- server_id(c, session_id, :not_found) do
      update_loop(c, sid, update_fn, 1)
    end
  end

  defp update_loop(c, sid, update_fn, attempt) do
    with {:ok, 200, json, _} <- HTTP.request(c.http, :get, "/v1/sessions/" <> sid),
         current = to_session(c, json),
         {:ok, updated} <- apply_update(update_fn, current),
         :ok <- Session.validate(updated),
         {:ok, body} <- diff(c, current, updated) do
      result =
        if body == %{} do
          HTTP.request(c.http, :post, "/v1/sessions/" <> sid <> "/touch")
        else
          HTTP.request(c.http, :patch, "/v1/sessions/" <> sid, body, [{"if-match", ~s("#{current.version}")}])
        end

      case result do
        {:ok, 200, json, _} ->
          {:ok, to_session(c, json)}

        {:ok, 412, _, _} when attempt < @max_update_attempts ->
          backoff(attempt)
          update_loop(c, sid, update_fn, attempt + 1)

        {:ok, 412, _, _} ->
          {:error, :version_conflict}

        other ->
          error(other)
      end
    else
      {:error, _} = e -> e
      other -> error(other)
    end
  end

  defp apply_update(update_fn, session) do
    {:ok, update_fn.(session)}
  rescue
    e ->
      Logger.error("Error updating session #{session.id}: #{inspect(e)}")
      {:error, {:update_failed, e}}
  catch
    :throw, v -> {:error, {:update_failed, {:throw, v}}}
    :exit, v -> {:error, {:update_failed, {:exit, v}}}
  end

  defp backoff(attempt) do
    cap = min(50, 1 <<< min(attempt, 6))
    Process.sleep(:rand.uniform(cap))
  end


  @spec delete_session(String.t()) :: :ok
  def delete_session(session_id) when is_binary(session_id), do: delete_session(__MODULE__, session_id)

  @spec delete_session(GenServer.server(), String.t()) :: :ok | {:error, term()}
  def delete_session(server, session_id) when is_binary(session_id) do
    c = conf(server)

    case server_id(c, session_id, :ok) do
      {:ok, sid} -> idempotent_delete(c, "/v1/sessions/" <> sid)
      :ok -> :ok
    end
  end

  @spec session_exists?(String.t()) :: boolean()
  def session_exists?(session_id) when is_binary(session_id), do: session_exists?(__MODULE__, session_id)

  @spec session_exists?(GenServer.server(), String.t()) :: boolean()
  def session_exists?(server, session_id) when is_binary(session_id) do
    c = conf(server)

    case server_id(c, session_id, false) do
      {:ok, sid} -> match?({:ok, 200, _, _}, HTTP.request(c.http, :head, "/v1/sessions/" <> sid))
      false -> false
    end
  end

  @spec list_sessions() :: [String.t()]
  def list_sessions, do: list_sessions(__MODULE__)

  @spec list_sessions(GenServer.server()) :: [String.t()]
  def list_sessions(server) do
    c = conf(server)
    prefix = if c.namespace, do: c.namespace <> "::", else: ""

    list_pages(c, prefix, nil, [])
    |> Enum.flat_map(fn id ->
      cond do
        c.namespace -> [binary_part(id, byte_size(prefix), byte_size(id) - byte_size(prefix))]
        String.contains?(id, "::") -> []
        true -> [id]
      end
    end)
  end

  defp list_pages(c, prefix, cursor, acc) do
    q = "?limit=1000&prefix=" <> URI.encode_www_form(prefix) <>
          if(cursor, do: "&cursor=" <> URI.encode_www_form(cursor), else: "")

    case HTTP.request(c.http, :get, "/v1/sessions" <> q) do
      {:ok, 200, %{"sessions" => ss, "next_cursor" => next}, _} ->
        acc = Enum.reduce(ss, acc, fn s, a -> [s["id"] | a] end)
        if next, do: list_pages(c, prefix, next, acc), else: Enum.reverse(acc)

      _ ->
        Enum.reverse(acc)
    end
  end

  @spec store_worker_session(String.t(), String.t()) :: :ok | {:error, term()}
  def store_worker_session(session_id, worker_id), do: store_worker_session(__MODULE__, session_id, worker_id)

  @spec store_worker_session(GenServer.server(), String.t(), String.t()) :: :ok | {:error, term()}
  def store_worker_session(server, session_id, worker_id) do
    c = conf(server)

    cond do
      not is_binary(worker_id) -> {:error, :invalid_last_worker_id}
      not is_binary(session_id) -> {:error, :invalid_id}
      true ->
        with {:ok, sid} <- server_id(c, session_id) do
          case HTTP.request(c.http, :put, "/v1/sessions/" <> sid <> "/worker", %{"worker_id" => worker_id}) do
            {:ok, 200, _, _} -> :ok
            {:ok, 400, _, _} -> {:error, :invalid_last_worker_id}
            other -> error(other)
          end
        end
    end
  end

  @spec cleanup_expired_sessions() :: non_neg_integer()
  def cleanup_expired_sessions, do: cleanup_expired_sessions(__MODULE__)

  @spec cleanup_expired_sessions(GenServer.server()) :: non_neg_integer()
  def cleanup_expired_sessions(server) do
    c = conf(server)

    path = "/v1/admin/cleanup" <> if(c.namespace, do: "?namespace=" <> URI.encode_www_form(c.namespace), else: "")

    case HTTP.request(c.http, :post, path, %{}) do
      {:ok, 200, %{"namespace_removed" => n}, _} ->
        pruned(n)

      {:ok, 200, %{"removed" => n}, _} ->
        pruned(n)

      _ ->
        0
    end
  end

  # Snakepit's telemetry event, when the application has :telemetry loaded.
  defp pruned(n) do
    if n > 0 do
      Logger.debug("sessionmesh: cleanup removed #{n} expired sessions")

      if Code.ensure_loaded?(:telemetry),
        do: apply(:telemetry, :execute, [[:snakepit, :bridge, :session, :pruned], %{count: n}, %{store: :sessionmesh}])
    end

    n
  end

  @spec get_stats() :: map()
  def get_stats, do: get_stats(__MODULE__)

  @spec get_stats(GenServer.server()) :: map()
  def get_stats(server) do
    c = conf(server)

    case HTTP.request(c.http, :get, "/v1/stats") do
      {:ok, 200, m, _} when is_map(m) ->
        Map.new(m, fn {k, v} -> {String.to_atom(k), v} end)

      _ ->
        %{sessions_created: 0, sessions_deleted: 0, sessions_expired: 0, cleanup_runs: 0,
          current_sessions: 0, memory_usage_bytes: 0, error: :unavailable}
    end
  end

  ## Programs in a session

  @spec store_program(String.t(), String.t(), term()) :: :ok | {:error, term()}
  def store_program(session_id, program_id, program_data),
    do: store_program(__MODULE__, session_id, program_id, program_data)

  @spec store_program(GenServer.server(), String.t(), String.t(), term()) :: :ok | {:error, term()}
  def store_program(server, session_id, program_id, program_data)
      when is_binary(session_id) and is_binary(program_id) do
    c = conf(server)

    with {:ok, sid} <- server_id(c, session_id, :not_found),
         {:ok, name} <- Codec.encode_name(program_id, c.codec),
         {:ok, value} <- Codec.encode_value(program_data, c.codec) do
      case HTTP.request(c.http, :put, "/v1/sessions/" <> sid <> "/programs/" <> seg(name), value) do
        {:ok, 200, _, _} -> :ok
        {:ok, 429, _, _} -> {:error, {:program_quota_exceeded, session_id}}
        other -> error(other)
      end
    end
  end

  @spec update_program(String.t(), String.t(), term()) :: :ok | {:error, term()}
  def update_program(session_id, program_id, program_data),
    do: store_program(session_id, program_id, program_data)

  @spec update_program(GenServer.server(), String.t(), String.t(), term()) :: :ok | {:error, term()}
  def update_program(server, session_id, program_id, program_data),
    do: store_program(server, session_id, program_id, program_data)

  @spec get_program(String.t(), String.t()) :: {:ok, term()} | {:error, :not_found}
  def get_program(session_id, program_id), do: get_program(__MODULE__, session_id, program_id)

  @spec get_program(GenServer.server(), String.t(), String.t()) :: {:ok, term()} | {:error, term()}
  def get_program(server, session_id, program_id) do
    c = conf(server)

    with {:ok, sid} <- server_id(c, session_id, :not_found),
         {:ok, name} <- Codec.encode_name(program_id, c.codec) do
      case HTTP.request(c.http, :get, "/v1/sessions/" <> sid <> "/programs/" <> seg(name)) do
        {:ok, 200, v, _} -> {:ok, Codec.decode_value(v)}
        other -> error(other)
      end
    else
      {:error, {:invalid_key, _}} -> {:error, :not_found}
      e -> e
    end
  end

  ## Global programs

  @spec store_global_program(String.t(), term()) :: :ok | {:error, term()}
  def store_global_program(program_id, program_data) when is_binary(program_id),
    do: store_global_program(__MODULE__, program_id, program_data)

  @spec store_global_program(GenServer.server(), String.t(), term()) :: :ok | {:error, term()}
  def store_global_program(server, program_id, program_data) when is_binary(program_id) do
    c = conf(server)

    with {:ok, pid} <- program_id(c, program_id),
         {:ok, value} <- Codec.encode_value(program_data, c.codec) do
      case HTTP.request(c.http, :put, "/v1/programs/" <> pid, value) do
        {:ok, 200, _, _} -> :ok
        {:ok, 429, _, _} -> {:error, :global_program_quota_exceeded}
        other -> error(other)
      end
    end
  end

  @spec get_global_program(String.t()) :: {:ok, term()} | {:error, :not_found}
  def get_global_program(program_id) when is_binary(program_id), do: get_global_program(__MODULE__, program_id)

  @spec get_global_program(GenServer.server(), String.t()) :: {:ok, term()} | {:error, term()}
  def get_global_program(server, program_id) when is_binary(program_id) do
    c = conf(server)

    with {:ok, pid} <- program_id(c, program_id, :not_found) do
      case HTTP.request(c.http, :get, "/v1/programs/" <> pid) do
        {:ok, 200, v, _} -> {:ok, Codec.decode_value(v)}
        other -> error(other)
      end
    end
  end

  @spec delete_global_program(String.t()) :: :ok
  def delete_global_program(program_id) when is_binary(program_id), do: delete_global_program(__MODULE__, program_id)

  @spec delete_global_program(GenServer.server(), String.t()) :: :ok | {:error, term()}
  def delete_global_program(server, program_id) when is_binary(program_id) do
    c = conf(server)

    case program_id(c, program_id, :ok) do
      {:ok, pid} -> idempotent_delete(c, "/v1/programs/" <> pid)
      :ok -> :ok
    end
  end

  ## GenServer: holds the configuration (read by callers without a message)

  @impl true
  def init(opts) do
    name = Keyword.fetch!(opts, :name)
    profile = :"sessionmesh_httpc_#{:erlang.phash2(name)}_#{System.unique_integer([:positive])}"
    :ok = HTTP.start_profile(profile, Keyword.get(opts, :max_connections, 50))
    conf = build_conf(opts, profile)
    :persistent_term.put({__MODULE__, name}, conf)
    if conf.cleanup_interval, do: Process.send_after(self(), :cleanup, conf.cleanup_interval)
    Process.flag(:trap_exit, true)
    {:ok, %{name: name, conf: conf}}
  end

  @impl true
  def handle_call(:conf, _from, state), do: {:reply, state.conf, state}

  @impl true
  def handle_info(:cleanup, state) do
    spawn(fn -> cleanup_expired_sessions(state.conf) end)
    Process.send_after(self(), :cleanup, state.conf.cleanup_interval)
    {:noreply, state}
  end

  def handle_info(_msg, state), do: {:noreply, state}

  @impl true
  def terminate(_reason, state) do
    :persistent_term.erase({__MODULE__, state.name})
    HTTP.stop_profile(state.conf.http.profile)
    :ok
  end

  defp build_conf(opts, profile) do
    urls =
      Keyword.get(opts, :urls) || Application.get_env(:sessionmesh, :urls) ||
        case System.get_env("SESSIONMESH_URLS") do
          nil -> ["http://127.0.0.1:7070"]
          s -> String.split(s, ",", trim: true)
        end

    namespace =
      case Keyword.get(opts, :table_name) do
        nil -> nil
        t -> to_string(t)
      end

    limits =
      [max_sessions: :max_sessions, max_programs: :max_programs_per_session,
       max_global_programs: :max_global_programs]
      |> Enum.flat_map(fn {wire, opt} ->
        case Keyword.get(opts, opt) do
          n when is_integer(n) and n > 0 -> ["#{wire}=#{n}"]
          _ -> []
        end
      end)

    %{
      namespace: namespace,
      default_ttl: Keyword.get(opts, :default_ttl, @default_ttl),
      codec: Keyword.get(opts, :codec, :term),
      cleanup_interval: Keyword.get(opts, :cleanup_interval),
      strict_mode: Keyword.get(opts, :strict_mode, false),
      http: %{
        urls: Enum.map(urls, fn u -> String.to_charlist(String.trim_trailing(u, "/")) end),
        profile: profile,
        timeout: Keyword.get(opts, :timeout, 5000),
        token: Keyword.get(opts, :api_token),
        limits: if(limits == [], do: nil, else: Enum.join(limits, ",")),
        cursor: :atomics.new(1, []),
        tokens: if(Keyword.get(opts, :read_your_writes, true), do: token_table(opts), else: nil)
      }
    }
  end

  # The store's session-token table: owned by the store's process, or, for
  # the implicit default store, by a process of its own that lives as long
  # as the VM (the table must outlive whichever caller created it).
  defp token_table(opts) do
    if Keyword.get(opts, :implicit, false) do
      parent = self()
      ref = make_ref()

      spawn(fn ->
        send(parent, {ref, HTTP.new_token_table()})
        Process.sleep(:infinity)
      end)

      receive do
        {^ref, tab} -> tab
      end
    else
      HTTP.new_token_table()
    end
  end

  defp conf(%{http: _} = conf), do: conf

  defp conf(server) when is_atom(server) do
    case :persistent_term.get({__MODULE__, server}, nil) do
      nil when server == __MODULE__ -> if Process.whereis(server), do: GenServer.call(server, :conf), else: implicit_conf()
      nil -> GenServer.call(server, :conf)
      c -> c
    end
  end

  defp conf(server), do: GenServer.call(server, :conf)

  # The default store works before (or without) start_link, as Snakepit's
  # did once its application started: the nodes from the application
  # environment or SESSIONMESH_URLS, the nodes' own limits.
  defp implicit_conf do
    case :persistent_term.get({__MODULE__, :__implicit__}, nil) do
      nil ->
        {:ok, _} = Application.ensure_all_started(:inets)
        :ok = HTTP.start_profile(:sessionmesh_default, 50)
        c = build_conf([name: __MODULE__, implicit: true], :sessionmesh_default)
        :persistent_term.put({__MODULE__, :__implicit__}, c)
        c

      c ->
        c
    end
  end


  ## Mapping

  @id_re ~r/^[A-Za-z0-9._:@-]{1,256}$/

  defp server_id(c, id, on_bad \\ :invalid) do
    full = if c.namespace, do: c.namespace <> "::" <> id, else: id

    cond do
      Regex.match?(@id_re, full) -> {:ok, full}
      on_bad == :invalid -> {:error, :invalid_id}
      on_bad == :not_found -> {:error, :not_found}
      true -> on_bad
    end
  end

  defp program_id(c, id, on_bad \\ :invalid) do
    case server_id(c, id, on_bad) do
      {:ok, full} when byte_size(full) <= 240 -> {:ok, full}
      {:ok, _} when on_bad == :invalid -> {:error, :invalid_program_id}
      {:ok, _} when on_bad == :not_found -> {:error, :not_found}
      {:ok, _} -> on_bad
      {:error, :invalid_id} -> {:error, :invalid_program_id}
      other -> other
    end
  end

  # DELETE is idempotent: a missing one is :ok too.
  defp idempotent_delete(c, path) do
    case HTTP.request(c.http, :delete, path) do
      {:ok, s, _, _} when s in [200, 204, 404] -> :ok
      other -> error(other)
    end
  end

  defp seg(name), do: URI.encode(name, &URI.char_unreserved?/1)

  defp put_if(m, _k, nil), do: m
  defp put_if(m, k, v), do: Map.put(m, k, v)

  defp to_session(c, j) do
    id = j["id"]
    id = if c.namespace, do: String.replace_prefix(id, c.namespace <> "::", ""), else: id
    programs = Codec.decode_map(j["programs"])

    %Session{
      id: id,
      created_at: div(j["created_at_ms"], 1000),
      last_accessed: div(j["last_accessed_at_ms"], 1000),
      last_worker_id: j["last_worker_id"],
      ttl: j["ttl_s"],
      version: j["version"],
      expires_at: div(j["expires_at_ms"], 1000),
      programs: programs,
      metadata: Codec.decode_map(j["metadata"]),
      variables: Codec.decode_map(j["variables"]),
      stats: %{program_count: map_size(programs)}
    }
  end

  # The PATCH body that turns `old` into `new` (nil removes an entry).
  defp diff(c, old, new) do
    with {:ok, md} <- map_diff(c, old.metadata, new.metadata),
         {:ok, pr} <- map_diff(c, old.programs, new.programs),
         {:ok, vs} <- map_diff(c, old.variables, new.variables) do
      body =
        %{}
        |> put_nonempty("metadata", md)
        |> put_nonempty("programs", pr)
        |> put_nonempty("variables", vs)
        |> then(fn b -> if new.ttl != old.ttl, do: Map.put(b, "ttl_s", new.ttl), else: b end)
        |> then(fn b ->
          if new.last_worker_id != old.last_worker_id and new.last_worker_id != nil,
            do: Map.put(b, "last_worker_id", new.last_worker_id),
            else: b
        end)

      {:ok, body}
    end
  end

  defp map_diff(c, old, new) do
    removed =
      for {k, _} <- old, not Map.has_key?(new, k), reduce: {:ok, %{}} do
        {:ok, acc} ->
          case Codec.encode_name(k, c.codec) do
            {:ok, n} -> {:ok, Map.put(acc, n, nil)}
            e -> e
          end

        e ->
          e
      end

    for {k, v} <- new, Map.get(old, k, :__sessionmesh_absent__) !== v, reduce: removed do
      {:ok, acc} ->
        with {:ok, n} <- Codec.encode_name(k, c.codec),
             {:ok, val} <- Codec.encode_value(v, c.codec) do
          {:ok, Map.put(acc, n, val)}
        end

      e ->
        e
    end
  end

  defp put_nonempty(b, _k, m) when m == %{}, do: b
  defp put_nonempty(b, k, m), do: Map.put(b, k, m)

  defp error({:error, :unavailable}), do: {:error, :unavailable}
  defp error({:error, _} = e), do: e
  defp error({:ok, 404, _, _}), do: {:error, :not_found}
  defp error({:ok, 429, %{"error" => %{"code" => "session_quota_exceeded"}}, _}), do: {:error, :session_quota_exceeded}
  defp error({:ok, 429, %{"error" => %{"code" => "global_program_quota_exceeded"}}, _}),
    do: {:error, :global_program_quota_exceeded}
  defp error({:ok, 429, %{"error" => %{"code" => "too_many_programs"}}, _}), do: {:error, :program_quota_exceeded}
  defp error({:ok, 413, _, _}), do: {:error, :too_large}
  defp error({:ok, 412, _, _}), do: {:error, :version_conflict}
  defp error({:ok, 400, %{"error" => %{"message" => m}}, _}), do: {:error, {:invalid_argument, m}}
  defp error({:ok, 503, %{"error" => %{"code" => code}}, _}), do: {:error, String.to_atom(code)}
  defp error({:ok, status, body, _}), do: {:error, {:http_error, status, body}}
end
