# One real node for the ported Snakepit tests; the default store points at
# it, as Snakepit's application started its SessionStore before the tests.
Application.ensure_all_started(:inets)
node = SessionMesh.TestNode.start()
Application.put_env(:sessionmesh, :urls, [node.url])
Application.put_env(:sessionmesh, :test_node, node)
{:ok, _} = SessionMesh.SessionStore.start_link(name: SessionMesh.SessionStore)

ExUnit.after_suite(fn _ -> SessionMesh.TestNode.stop(node) end)
ExUnit.start(exclude: [])
