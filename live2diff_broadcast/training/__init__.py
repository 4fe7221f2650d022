"""Training Live2Diff's temporal modules (paper Sec. 3.5): stage 1 uni-directional attention with
warmup, stage 2 jointly with the depth prior; one process or many through ``accelerate launch``."""
