"""Process management: the `serve` command line (cli), the supervisor of the process tree, what
every worker shares (worker), and the two kinds of child, http_host and grpc_host."""
