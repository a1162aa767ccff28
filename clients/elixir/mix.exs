defmodule SessionMesh.MixProject do
  use Mix.Project

  # No Hex dependencies: JSON is Debian's erlang-jiffy (on the default code
  # path), HTTP is OTP's :httpc.
  def project do
    [
      app: :sessionmesh,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: false,
      deps: [],
      elixirc_paths: elixirc_paths(Mix.env())
    ]
  end

  def application do
    [extra_applications: [:logger, :inets, :ssl, :jiffy]]
  end

  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]
end
