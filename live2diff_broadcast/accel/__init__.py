"""Acceleration backends for the streaming UNet, the depth model and TAESD.

* ``stream_graph``: the stream-mode UNet call as a pure function of its inputs (KV cache in,
  new K/V rows out), the one graph every backend runs (ONNX, TensorRT, torch.compile).
* ``onnx_export`` / ``ort_*``: ONNX graphs and onnxruntime sessions.
* ``compiled``: torch.compile + CUDA-graph capture of the stream call.
* ``trt_*`` / ``engine_key`` / ``engine_cache``: TensorRT engines (optional extra, lazy import).
* ``backend``: picks a backend from the profile, falls back loudly to PyTorch.

Heavy or optional dependencies (onnx, onnxruntime, tensorrt) are imported only inside the
functions that need them.
"""
