"""Acceleration backends for the streaming UNet, the depth model and TAESD.

Every backend runs the same stream call as eager PyTorch: ``engine.stream_graph.StreamUNetGraph``,
a pure function (KV cache in, new K/V rows out) on the stream's own attention state and cache,
built on its ``engine.causal_unet.CausalUNet`` and attached with ``Live2DiffStream.accelerate``.

* ``onnx_export`` / ``ort_*``: ONNX graphs and onnxruntime sessions.
* ``compiled``: torch.compile + CUDA-graph capture of the stream call.
* ``onnx_targets``: the ONNX graphs of a stream and the TensorRT plans built from them.
* ``trt_*`` / ``tensorrt_key`` / ``tensorrt_cache``: TensorRT plans (optional extra, lazy import).
* ``geometry``: KV-cache shapes from the UNet's layout.
* ``backend``: picks a backend from the profile, falls back loudly to PyTorch.

Heavy or optional dependencies (onnx, onnxruntime, tensorrt) are imported only inside the
functions that need them.
"""
