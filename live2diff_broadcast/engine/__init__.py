"""The Live2Diff engine: model building, causal KV-cached attention, stream-batch denoising."""
