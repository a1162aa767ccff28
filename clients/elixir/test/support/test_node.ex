defmodule SessionMesh.TestNode do
  @moduledoc """
  Real `sessionmesh serve` processes for the tests: the binary from
  SESSIONMESH_BIN (default: build/sessionmesh at the repository root), free
  loopback ports, a fresh data dir each. Output goes to the data dir's
  node.log. Every node is started with --node-id ex-<tag>-..., so the test
  runner can kill leftovers.
  """

  defstruct [:id, :url, :http_port, :gossip_port, :os_pid, :dir, :port]

  def bin do
    System.get_env("SESSIONMESH_BIN") || Path.expand("../../build/sessionmesh", File.cwd!())
  end

  def free_port do
    {:ok, s} = :gen_tcp.listen(0, [ip: {127, 0, 0, 1}, reuseaddr: true])
    {:ok, p} = :inet.port(s)
    :gen_tcp.close(s)
    p
  end

  @doc "Starts a node; opts: :seed (a node to join), :extra (flags), :gossip (true for a cluster)."
  def start(opts \\ []) do
    tag = System.get_env("SESSIONMESH_TEST_TAG", "t")
    id = Keyword.get(opts, :id) || "ex-#{tag}-#{System.unique_integer([:positive])}"
    dir = Path.join(System.tmp_dir!(), id)
    unless opts[:keep_dir], do: File.rm_rf!(dir)
    File.mkdir_p!(dir)
    http_port = Keyword.get(opts, :http_port) || free_port()
    gossip_port = if opts[:gossip] || opts[:seed], do: Keyword.get(opts, :gossip_port) || free_port()

    args =
      ["serve", "--node-id", id, "--http", "127.0.0.1:#{http_port}", "--data-dir", Path.join(dir, "data"),
       "--fsync", "batch", "--max-sessions", "0"] ++
        if(gossip_port,
          do: ["--gossip", "127.0.0.1:#{gossip_port}",
               "--seeds", "127.0.0.1:#{(opts[:seed] && opts[:seed].gossip_port) || gossip_port}"],
          else: []
        ) ++ Keyword.get(opts, :extra, [])

    cmd = "exec " <> Enum.map_join([bin() | args], " ", &shell_quote/1) <> " >>" <> shell_quote(Path.join(dir, "node.log")) <> " 2>&1"
    port = Port.open({:spawn, "sh -c " <> shell_quote(cmd)}, [:binary, :exit_status])
    {:os_pid, os_pid} = Port.info(port, :os_pid)
    node = %__MODULE__{id: id, url: "http://127.0.0.1:#{http_port}", http_port: http_port,
                       gossip_port: gossip_port, os_pid: os_pid, dir: dir, port: port}
    wait_ready(node, 15_000)
    node
  end

  @doc "Starts a stopped or killed node again: same id, ports and data dir."
  def restart(%__MODULE__{} = n, seed) do
    start(id: n.id, keep_dir: true, http_port: n.http_port, gossip_port: n.gossip_port, seed: seed)
  end

  def kill9(%__MODULE__{os_pid: pid}), do: System.cmd("kill", ["-9", Integer.to_string(pid)])

  def stop(%__MODULE__{os_pid: pid}) do
    System.cmd("kill", ["-TERM", Integer.to_string(pid)])
    :ok
  end

  def wait_ready(node, timeout) do
    deadline = System.monotonic_time(:millisecond) + timeout
    do_wait(node, deadline)
  end

  defp do_wait(node, deadline) do
    ok =
      case :httpc.request(:get, {String.to_charlist(node.url <> "/readyz"), []}, [timeout: 1000], []) do
        {:ok, {{_, 200, _}, _, _}} -> true
        _ -> false
      end

    cond do
      ok -> :ok
      System.monotonic_time(:millisecond) > deadline ->
        raise "node #{node.id} not ready: " <> (File.read(Path.join(node.dir, "node.log")) |> elem(1))
      true ->
        Process.sleep(50)
        do_wait(node, deadline)
    end
  end

  defp shell_quote(s), do: "'" <> String.replace(s, "'", "'\\''") <> "'"
end

defmodule SessionMesh.TestHelpers do
  @moduledoc "Snakepit's polling helper (test/test_helper.exs at v0.7.0), unchanged."
  def assert_eventually(condition_fn, opts \\ []) do
    timeout = Keyword.get(opts, :timeout, 5_000)
    interval = Keyword.get(opts, :interval, 50)
    deadline = System.monotonic_time(:millisecond) + timeout
    poll_until(condition_fn, deadline, interval)
  end

  defp poll_until(condition_fn, deadline, interval) do
    current = System.monotonic_time(:millisecond)
    if current >= deadline, do: raise("Timeout waiting for condition to become true")

    if condition_fn.() do
      :ok
    else
      receive do
      after
        interval -> :ok
      end

      poll_until(condition_fn, deadline, interval)
    end
  end
end
