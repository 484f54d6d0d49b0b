"""Benchmark harness: this project's runtime against AWS's serving stacks and MLServer (`make bench`)."""
