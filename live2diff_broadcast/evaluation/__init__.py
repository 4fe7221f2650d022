"""The paper's evaluation (Sec. 4): depth-MSE structure consistency, CLIP temporal smoothness,
warp error and latency, over DAVIS-style clips, for the method and its ablations."""
