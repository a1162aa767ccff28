defmodule SessionMesh.DropInTest do
  # The drop-in's promises beyond Snakepit's own tests: atomic update_session
  # under 50 writers, exact term round trips, the JSON codec, bad input.
  use ExUnit.Case, async: false
  alias SessionMesh.{Session, SessionStore}

  defp uid(p), do: "#{p}_#{System.unique_integer([:positive])}"

  test "50 processes incrementing one counter through update_session end at 50" do
    id = uid("counter")
    {:ok, _} = SessionStore.create_session(id, metadata: %{count: 0})

    1..50
    |> Enum.map(fn _ ->
      Task.async(fn ->
        SessionStore.update_session(id, fn s -> Session.put_metadata(s, :count, s.metadata.count + 1) end)
      end)
    end)
    |> Enum.each(fn t -> assert {:ok, _} = Task.await(t, 30_000) end)

    {:ok, s} = SessionStore.get_session(id)
    assert s.metadata.count == 50
  end

  test "a raise, throw or exit inside update_session's fun changes nothing" do
    id = uid("fail")
    {:ok, before} = SessionStore.create_session(id, metadata: %{"k" => 1})
    assert {:error, {:update_failed, %RuntimeError{}}} = SessionStore.update_session(id, fn _ -> raise "boom" end)
    assert {:error, {:update_failed, {:throw, :nope}}} = SessionStore.update_session(id, fn _ -> throw(:nope) end)
    assert {:error, {:update_failed, {:exit, :bye}}} = SessionStore.update_session(id, fn _ -> exit(:bye) end)
    assert {:error, :invalid_ttl} = SessionStore.update_session(id, fn s -> %{s | ttl: -1} end)
    assert {:error, :not_a_session} = SessionStore.update_session(id, fn _ -> :not_a_session end)
    {:ok, now} = SessionStore.get_session(id)
    assert now.version == before.version
    assert now.metadata == %{"k" => 1}
    assert {:error, :not_found} = SessionStore.update_session(uid("missing"), fn s -> s end)
  end

  test "terms round-trip exactly with the default codec; plain JSON stays plain" do
    id = uid("terms")
    value = %{foo: "bar", t: {1, :two, "three"}, bin: <<255, 0, 1>>, list: [1, 2.5, nil, true], big: 2 ** 80}
    {:ok, _} = SessionStore.create_session(id, metadata: %{:atom_key => value, {:tuple, :key} => [:a], "plain" => "3.12"})
    {:ok, s} = SessionStore.get_session(id)
    assert s.metadata == %{:atom_key => value, {:tuple, :key} => [:a], "plain" => "3.12"}
    # What a Python worker reads: the plain value as plain JSON.
    {:ok, {{_, 200, _}, _, body}} =
      :httpc.request(String.to_charlist(Application.get_env(:sessionmesh, :test_node).url <> "/v1/sessions/" <> id))
    assert :jiffy.decode(body, [:return_maps])["metadata"]["plain"] == "3.12"
  end

  test "the JSON codec stores plain JSON and refuses what JSON cannot carry" do
    {:ok, _} = SessionStore.start_link(name: :json_store, codec: :json, table_name: :json_ns)
    id = uid("json")
    {:ok, s} = SessionStore.create_session(:json_store, id, metadata: %{user: %{name: "ann"}})
    assert s.metadata == %{"user" => %{"name" => "ann"}}
    assert {:error, {:invalid_value, _}} = SessionStore.create_session(:json_store, uid("j"), metadata: %{"t" => {1, 2}})
    assert {:error, {:invalid_value, _}} = SessionStore.store_program(:json_store, id, "p", <<255>>)
    assert SessionStore.list_sessions(:json_store) == [id]
    refute id in SessionStore.list_sessions()
  end

  test "bad input gets a clear error and creates nothing" do
    id = uid("bad")
    assert {:error, :invalid_last_worker_id} = SessionStore.store_worker_session(id, 42)
    refute SessionStore.session_exists?(id)
    assert {:error, :invalid_id} = SessionStore.create_session("has space")
    assert {:error, :invalid_ttl} = SessionStore.create_session(id, ttl: -5)
    assert {:error, :invalid_metadata} = SessionStore.create_session(id, metadata: [:not, :a, :map])
    assert {:error, :not_found} = SessionStore.get_session("has space")
    refute SessionStore.session_exists?("has space")
    assert :ok = SessionStore.store_worker_session(id, "w1")
    {:ok, s} = SessionStore.get_session(id)
    assert s.last_worker_id == "w1"
  end

  test "an unreachable cluster answers {:error, :unavailable} after the timeout" do
    dead = SessionMesh.TestNode.free_port()
    {:ok, _} = SessionStore.start_link(name: :dead_store, urls: ["http://127.0.0.1:#{dead}"], timeout: 300)
    t0 = System.monotonic_time(:millisecond)
    assert {:error, :unavailable} = SessionStore.create_session(:dead_store, "x", [])
    assert {:error, :unavailable} = SessionStore.get_session(:dead_store, "x")
    assert System.monotonic_time(:millisecond) - t0 < 5_000
  end

  test "the default store answers without start_link, from the configuration" do
    # Another VM-wide name would be needed to test it beside the started one:
    # call the implicit configuration through a fresh process of the module.
    :persistent_term.erase({SessionStore, :__implicit__})
    pid = Process.whereis(SessionStore)
    Process.unregister(SessionStore)
    conf = :persistent_term.get({SessionStore, SessionStore})
    :persistent_term.erase({SessionStore, SessionStore})

    try do
      id = uid("implicit")
      assert {:ok, %Session{id: ^id}} = SessionStore.create_session(id)
      assert SessionStore.session_exists?(id)
    after
      Process.register(pid, SessionStore)
      :persistent_term.put({SessionStore, SessionStore}, conf)
    end
  end
end
