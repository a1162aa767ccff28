defmodule SessionMesh.Codec do
  @moduledoc """
  Value codecs: how Elixir terms become the JSON a session holds.

  * `:term` (the default): values round-trip as Elixir terms exactly. A value
    that plain JSON already carries exactly (strings, integers up to 2^53,
    floats, booleans, nil, lists and string-keyed maps of those) is stored as
    plain JSON, so Python workers and the change feed read it as is; anything
    else (atoms, atom keys, tuples, binaries that are not UTF-8, ...) is
    stored as `{"$erl": "<base64 of :erlang.term_to_binary>"}`. Map keys that
    are not plain strings are stored as entry names `"~" <> base64url(term)`.
    It is the default because the drop-in promise is that `%{foo: "bar"}`
    comes back as `%{foo: "bar"}`, as it did from Snakepit's ETS table.
  * `:json`: plain JSON only (atoms become strings, keys become strings);
    a value JSON cannot carry (a tuple, a pid, a non-UTF-8 binary) is
    `{:error, {:invalid_value, value}}`. For sessions shared with workers in
    other languages.

  Decoding takes both forms whatever the codec, so a store may switch.
  """

  @max_safe 9_007_199_254_740_992

  @type codec :: :term | :json

  @doc "Encodes one value to a term jiffy encodes as its JSON."
  @spec encode_value(term(), codec()) :: {:ok, term()} | {:error, term()}
  def encode_value(value, :term) do
    if plain?(value) and not erl_wrapper?(value) do
      {:ok, value}
    else
      {:ok, %{"$erl" => Base.encode64(:erlang.term_to_binary(value))}}
    end
  end

  def encode_value(value, :json) do
    case (try do
            to_json(value)
          rescue
            _ -> :error
          end) do
      {:ok, v} -> {:ok, v}
      :error -> {:error, {:invalid_value, value}}
    end
  end

  @doc "Decodes one JSON value (already parsed by jiffy with maps)."
  @spec decode_value(term()) :: term()
  def decode_value(%{"$erl" => b64} = m) when map_size(m) == 1 and is_binary(b64) do
    case Base.decode64(b64) do
      {:ok, bin} ->
        try do
          :erlang.binary_to_term(bin, [:safe])
        rescue
          ArgumentError -> m
        end

      :error ->
        m
    end
  end

  def decode_value(v), do: v

  @doc "An entry name for a map key."
  @spec encode_name(term(), codec()) :: {:ok, binary()} | {:error, term()}
  def encode_name(key, codec) do
    cond do
      is_binary(key) and plain_name?(key) -> {:ok, key}
      codec == :json and is_atom(key) and key not in [nil, true, false] -> encode_name(Atom.to_string(key), :json)
      codec == :json -> {:error, {:invalid_key, key}}
      true -> {:ok, "~" <> Base.url_encode64(:erlang.term_to_binary(key), padding: false)}
    end
  end

  @doc "The map key of an entry name."
  @spec decode_name(binary()) :: term()
  def decode_name("~" <> rest = name) do
    with {:ok, bin} <- Base.url_decode64(rest, padding: false),
         {:ok, t} <- safe_term(bin) do
      t
    else
      _ -> name
    end
  end

  def decode_name(name), do: name

  @doc "Encodes a whole map (metadata, programs, variables) as a JSON object's members."
  @spec encode_map(map(), codec()) :: {:ok, map()} | {:error, term()}
  def encode_map(map, codec) when is_map(map) do
    Enum.reduce_while(map, {:ok, %{}}, fn {k, v}, {:ok, acc} ->
      with {:ok, name} <- encode_name(k, codec),
           {:ok, val} <- encode_value(v, codec) do
        {:cont, {:ok, Map.put(acc, name, val)}}
      else
        e -> {:halt, e}
      end
    end)
  end

  @doc "Decodes a JSON object of entries into a map of terms."
  def decode_map(nil), do: %{}

  def decode_map(m) when is_map(m) do
    Map.new(m, fn {k, v} -> {decode_name(k), decode_value(v)} end)
  end

  # -- helpers

  defp safe_term(bin) do
    {:ok, :erlang.binary_to_term(bin, [:safe])}
  rescue
    ArgumentError -> :error
  end

  defp plain_name?(k), do: byte_size(k) in 1..256 and String.valid?(k) and not String.starts_with?(k, "~") and
                             not String.match?(k, ~r/[\x00-\x1f\x7f]/)

  defp erl_wrapper?(%{"$erl" => _} = m) when map_size(m) == 1, do: true
  defp erl_wrapper?(_), do: false

  defp plain?(v) when is_binary(v), do: String.valid?(v)
  defp plain?(v) when is_integer(v), do: abs(v) <= @max_safe
  defp plain?(v) when is_float(v), do: true
  defp plain?(v) when v in [nil, true, false], do: true
  defp plain?(v) when is_list(v), do: plain_list?(v)
  defp plain?(v) when is_map(v) and not is_struct(v),
    do: Enum.all?(v, fn {k, x} -> is_binary(k) and String.valid?(k) and plain?(x) end)
  defp plain?(_), do: false

  defp plain_list?([]), do: true
  defp plain_list?([h | t]), do: plain?(h) and plain_list?(t)
  defp plain_list?(_), do: false

  defp to_json(v) when is_binary(v), do: if(String.valid?(v), do: {:ok, v}, else: :error)
  defp to_json(v) when is_number(v) or v in [nil, true, false], do: {:ok, v}
  defp to_json(v) when is_atom(v), do: {:ok, Atom.to_string(v)}
  defp to_json(v) when is_list(v) do
    Enum.reduce_while(v, {:ok, []}, fn x, {:ok, acc} ->
      case to_json(x) do
        {:ok, j} -> {:cont, {:ok, [j | acc]}}
        :error -> {:halt, :error}
      end
    end)
    |> case do
      {:ok, l} -> {:ok, Enum.reverse(l)}
      e -> e
    end
  end

  defp to_json(v) when is_map(v) and not is_struct(v) do
    Enum.reduce_while(v, {:ok, %{}}, fn {k, x}, {:ok, acc} ->
      key =
        cond do
          is_binary(k) and String.valid?(k) -> k
          is_atom(k) -> Atom.to_string(k)
          is_integer(k) -> Integer.to_string(k)
          true -> nil
        end

      with true <- key != nil, {:ok, j} <- to_json(x) do
        {:cont, {:ok, Map.put(acc, key, j)}}
      else
        _ -> {:halt, :error}
      end
    end)
  end

  defp to_json(_), do: :error
end
