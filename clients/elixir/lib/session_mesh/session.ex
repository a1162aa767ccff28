defmodule SessionMesh.Session do
  @moduledoc """
  A session as Snakepit's `Snakepit.Bridge.Session` (v0.7.0): the same
  fields and helpers, plus what the registry adds — `variables`, `version`
  (the value `update_session` sends as `If-Match`) and `expires_at`.

  Times are seconds. Snakepit used `System.monotonic_time(:second)`; here
  they are Unix seconds from the registry's replicated clock, so every node
  and every client agrees on them.
  """

  @type t :: %__MODULE__{
          id: String.t(),
          programs: map(),
          metadata: map(),
          variables: map(),
          created_at: integer(),
          last_accessed: integer(),
          last_worker_id: String.t() | nil,
          ttl: integer(),
          stats: map(),
          version: String.t() | nil,
          expires_at: integer() | nil
        }

  @enforce_keys [:id, :created_at, :ttl]
  defstruct [
    :id,
    :created_at,
    :last_accessed,
    :last_worker_id,
    :ttl,
    :version,
    :expires_at,
    programs: %{},
    metadata: %{},
    variables: %{},
    stats: %{program_count: 0}
  ]

  @doc "A new session (not stored): opts `:ttl` (3600), `:metadata`, `:programs`, `:last_worker_id`."
  @spec new(String.t(), keyword()) :: t()
  def new(id, opts \\ []) when is_binary(id) do
    now = System.os_time(:second)
    programs = Keyword.get(opts, :programs, %{})

    %__MODULE__{
      id: id,
      created_at: now,
      last_accessed: now,
      ttl: Keyword.get(opts, :ttl, 3600),
      metadata: Keyword.get(opts, :metadata, %{}),
      programs: programs,
      variables: Keyword.get(opts, :variables, %{}),
      last_worker_id: Keyword.get(opts, :last_worker_id, nil),
      stats: %{program_count: if(is_map(programs), do: map_size(programs), else: 0)}
    }
  end

  @spec touch(t()) :: t()
  def touch(%__MODULE__{} = session), do: %{session | last_accessed: System.os_time(:second)}

  @spec expired?(t(), integer() | nil) :: boolean()
  def expired?(%__MODULE__{} = session, current_time \\ nil) do
    current_time = current_time || System.os_time(:second)
    session.last_accessed + session.ttl < current_time
  end

  @spec validate(t()) :: :ok | {:error, term()}
  def validate(%__MODULE__{} = session) do
    cond do
      not is_binary(session.id) or session.id == "" -> {:error, :invalid_id}
      not is_map(session.programs) -> {:error, :invalid_programs}
      not is_map(session.metadata) -> {:error, :invalid_metadata}
      not is_map(session.variables) -> {:error, :invalid_variables}
      not is_integer(session.created_at) -> {:error, :invalid_created_at}
      not is_integer(session.last_accessed) -> {:error, :invalid_last_accessed}
      not (is_binary(session.last_worker_id) or is_nil(session.last_worker_id)) -> {:error, :invalid_last_worker_id}
      not is_integer(session.ttl) or session.ttl < 0 -> {:error, :invalid_ttl}
      session.last_accessed < session.created_at -> {:error, :invalid_timestamps}
      true -> :ok
    end
  end

  def validate(_), do: {:error, :not_a_session}

  @spec put_program(t(), String.t(), term()) :: t()
  def put_program(%__MODULE__{} = session, program_id, program_data) when is_binary(program_id) do
    is_update = Map.has_key?(session.programs, program_id)
    programs = Map.put(session.programs, program_id, program_data)

    stats =
      if is_update,
        do: session.stats,
        else: Map.update(session.stats, :program_count, 1, &(&1 + 1))

    %{session | programs: programs, stats: stats}
  end

  @spec get_program(t(), String.t()) :: {:ok, term()} | {:error, :not_found}
  def get_program(%__MODULE__{} = session, program_id) when is_binary(program_id) do
    case Map.get(session.programs, program_id) do
      nil -> {:error, :not_found}
      program_data -> {:ok, program_data}
    end
  end

  @spec delete_program(t(), String.t()) :: t()
  def delete_program(%__MODULE__{} = session, program_id) when is_binary(program_id) do
    %{session | programs: Map.delete(session.programs, program_id)}
  end

  @spec put_metadata(t(), term(), term()) :: t()
  def put_metadata(%__MODULE__{} = session, key, value) do
    %{session | metadata: Map.put(session.metadata, key, value)}
  end

  @spec get_metadata(t(), term(), term()) :: term()
  def get_metadata(%__MODULE__{} = session, key, default \\ nil) do
    Map.get(session.metadata, key, default)
  end

  @doc "Variables (the registry's third map): put and get like metadata."
  @spec put_variable(t(), term(), term()) :: t()
  def put_variable(%__MODULE__{} = session, key, value) do
    %{session | variables: Map.put(session.variables, key, value)}
  end

  @spec get_variable(t(), term(), term()) :: term()
  def get_variable(%__MODULE__{} = session, key, default \\ nil) do
    Map.get(session.variables, key, default)
  end

  @spec get_stats(t()) :: map()
  def get_stats(%__MODULE__{} = session) do
    now = System.os_time(:second)

    Map.merge(session.stats, %{
      age: now - session.created_at,
      time_since_access: now - session.last_accessed,
      total_items: Map.get(session.stats, :program_count, map_size(session.programs))
    })
  end
end
